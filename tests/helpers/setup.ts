/**
 * Preloaded before every test file (bunfig.toml `[test] preload`), for
 * `npm test` and a bare `bun test` alike.
 *
 * 1. Says in one line which dialects run, so a run without TEST_DATABASE_URL
 *    cannot pass for a run on both (`.ci/run` also counts the `[pg]` tests).
 * 2. Gives every test file a 30 s default timeout. Suites that start real
 *    daemons, CLIs and PostgreSQL databases need more than bun's 5 s on a busy
 *    2-core machine. `setDefaultTimeout` only reaches the file that calls it
 *    (called here, it covered the first file alone, and bunfig.toml has no
 *    timeout key), so a loader plugin puts the call at the top of each test
 *    file, on its first line so that line numbers in failures stay true.
 *    A file that starts processes (daemons, authctl, a build, npm) gets
 *    PROCESS_TIMEOUT_MS instead: each process start costs seconds on a busy
 *    2-core machine, and a new file cannot forget to ask for it.
 *    Files may raise it; none may lower it. tests/foundation/suite.test.ts
 *    proves it applies.
 */
import { plugin } from "bun";
import { PG_URL } from "./databases.ts";

export const SUITE_TIMEOUT_MS = 30_000;
/** The default of a test file that starts processes. */
export const PROCESS_TIMEOUT_MS = 120_000;

/** What a test file calls when it starts a process, directly or through a helper. */
const STARTS_PROCESSES =
  /\b(Bun\.spawn|startDaemon|runDaemonToExit|runAuthctl|useCliDatabase|createCliDatabase)\b/;

/** The default timeout a test file gets, from its source. */
export const defaultTimeoutFor = (source: string): number =>
  STARTS_PROCESSES.test(source) ? PROCESS_TIMEOUT_MS : SUITE_TIMEOUT_MS;

function describeDialects(): string {
  if (!PG_URL) {
    return "authd tests: dialects sqlite only (PostgreSQL skipped: TEST_DATABASE_URL is not set)";
  }
  const url = new URL(PG_URL);
  return `authd tests: dialects sqlite and pg (PostgreSQL at ${url.host}${url.pathname})`;
}

console.log(describeDialects());

plugin({
  name: "suite-default-timeout",
  setup(build) {
    build.onLoad({ filter: /\.test\.ts$/ }, async ({ path }) => {
      const source = await Bun.file(path).text();
      return {
        loader: "ts",
        contents: `import { setDefaultTimeout as __suiteTimeout } from "bun:test"; __suiteTimeout(${defaultTimeoutFor(source)}); ${source}`,
      };
    });
  },
});
