/**
 * The storage policy's per-call timeout: PostgreSQL calls carry one
 * (DB_TIMEOUT_MS), bun:sqlite calls none (they are synchronous and finish
 * before any timer could fire; src/container.ts passes no timeout for them).
 */
import { describe, expect, test } from "bun:test";
import { TaskCancelledError } from "cockatiel";
import { createStoragePolicy } from "../../src/infra/resilience.ts";

// The slow call waits four times the timeout: timers fire in order, so the
// timeout comes first however busy the machine is.
const slow = () => Bun.sleep(200).then(() => "answered");

describe("storage policy", () => {
  test("with timeoutMs, a call that outlives it is cancelled", async () => {
    const policy = createStoragePolicy({
      timeoutMs: 50,
      threshold: 5,
      halfOpenAfterMs: 1000,
    });
    await expect(policy.execute(slow)).rejects.toBeInstanceOf(TaskCancelledError);
  });

  test("without timeoutMs (SQLite), the same call is waited for", async () => {
    const policy = createStoragePolicy({ threshold: 5, halfOpenAfterMs: 1000 });
    expect(await policy.execute(slow)).toBe("answered");
    expect(policy.circuitOpen()).toBe(false);
  });
});
