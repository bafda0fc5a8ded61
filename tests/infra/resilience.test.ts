/**
 * The storage policy's per-call timeout: PostgreSQL calls carry one
 * (DB_TIMEOUT_MS), bun:sqlite calls none (they are synchronous and finish
 * before any timer could fire; src/container.ts passes no timeout for them).
 * And `withPolicy`: a store's failures, thrown or one call's of a batch,
 * reach the core as AuthErrors.
 */
import { describe, expect, test } from "bun:test";
import { TaskCancelledError } from "cockatiel";
import { AuthError } from "../../src/core/errors.ts";
import type { Settled } from "../../src/core/ports.ts";
import { createStoragePolicy, withPolicy } from "../../src/infra/resilience.ts";

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

describe("withPolicy", () => {
  const refused = () =>
    Object.assign(new Error("connect failed"), { code: "ECONNREFUSED" });
  const policy = () => createStoragePolicy({ threshold: 5, halfOpenAfterMs: 1000 });

  test("a thrown storage error becomes the AuthError it is classified as", async () => {
    const store = withPolicy(
      {
        async read(): Promise<string> {
          throw refused();
        },
      },
      policy(),
    );
    const e = await store.read().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AuthError);
    expect((e as AuthError).code).toBe("unavailable");
  });

  test("in a settled batch, each failed call's error is mapped alone", async () => {
    const raw = {
      async batch(): Promise<Settled<string>[]> {
        return [
          { ok: true, value: "a" },
          { ok: false, error: refused() },
          { ok: false, error: new AuthError("invalid_grant", "kept as it is") },
        ];
      },
    };
    const errorOf = (o: Settled<string> | undefined) => (o && !o.ok ? o.error : null);
    const [fine, failed, kept] = await withPolicy(
      raw,
      policy(),
      new Set(["batch"]),
    ).batch();
    expect(fine).toEqual({ ok: true, value: "a" });
    expect(errorOf(failed)).toBeInstanceOf(AuthError);
    expect((errorOf(failed) as AuthError).code).toBe("unavailable");
    expect((errorOf(kept) as AuthError).code).toBe("invalid_grant");
    // Not named as settled: the outcomes pass through untouched.
    const [, untouched] = await withPolicy(raw, policy()).batch();
    expect(errorOf(untouched)).toBeInstanceOf(Error);
    expect(errorOf(untouched)).not.toBeInstanceOf(AuthError);
  });
});
