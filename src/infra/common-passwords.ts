/**
 * The 10,000 most common passwords, in rank order, from the `passwords-common`
 * dictionary of @zxcvbn-ts/language-common (MIT licence; compiled by the
 * zxcvbn-ts project from public breach corpora). See README, "Passwords".
 *
 * The package decompresses all of its dictionaries when it is loaded, which
 * cost start-up time and resident memory in every process, including the many
 * that never check a password. So the list is loaded on the first check.
 */
export const COMMON_PASSWORD_COUNT = 10_000;

export function loadCommonPasswords(): ReadonlySet<string> {
  // A plain require (Bun allows it in ES modules): synchronous, and the
  // bundler still sees the package for `bun build --compile`.
  const { dictionary } = require("@zxcvbn-ts/language-common") as {
    dictionary: Record<string, string[]>;
  };
  return new Set(
    (dictionary["passwords-common"] ?? [])
      .slice(0, COMMON_PASSWORD_COUNT)
      .map((p) => p.toLowerCase()),
  );
}

/** The same list, loaded (once per process) when it is first asked. */
export function lazyCommonPasswords(): { has(password: string): boolean } {
  let list: ReadonlySet<string> | undefined;
  return {
    has(password) {
      list ??= loadCommonPasswords();
      return list.has(password);
    },
  };
}
