/**
 * The 10,000 most common passwords, in rank order, from the `passwords-common`
 * dictionary of @zxcvbn-ts/language-common (MIT licence; compiled by the
 * zxcvbn-ts project from public breach corpora). See README, "Passwords".
 */
import { dictionary } from "@zxcvbn-ts/language-common";

export const COMMON_PASSWORD_COUNT = 10_000;

export function loadCommonPasswords(): ReadonlySet<string> {
  return new Set(
    dictionary["passwords-common"]
      .slice(0, COMMON_PASSWORD_COUNT)
      .map((p) => p.toLowerCase()),
  );
}
