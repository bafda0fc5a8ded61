/**
 * Preloaded into an `authctl` process by tests that are about time
 * (runAuthctl's `now` option): freezes the process's clock at
 * AUTHCTL_TEST_NOW, an ISO instant. The CLI then runs exactly as shipped,
 * with its system clock saying what the test needs, the way the fake clock
 * (tests/helpers/clock.ts) does for in-process containers.
 */
import { setSystemTime } from "bun:test";

const now = process.env.AUTHCTL_TEST_NOW;
if (!now || Number.isNaN(Date.parse(now))) {
  throw new Error(
    `AUTHCTL_TEST_NOW must be an ISO instant, got ${JSON.stringify(now)}`,
  );
}
setSystemTime(new Date(now));
