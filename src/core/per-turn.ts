/**
 * Group commit, generically: the calls that arrive in the same turn of the
 * event loop are handed to `run` together once that turn is done, and each
 * caller gets its own result. Under load dozens of requests then share one
 * statement or one round trip instead of paying one each; at rest a call
 * waits one turn. Used for the per-IP budget hits (core/limits.ts), the
 * session lookup of every authenticated request, the refresh rotations and
 * the logouts (core/sessions.ts), and the audit events (core/audit.ts).
 */
import type { Settled } from "./ports.ts";

/** Runs a function once the current turn of the event loop is done. */
export type Defer = (fn: () => void) => void;

/**
 * `run` gets the turn's arguments in arrival order and returns one result
 * per argument, in the same order; if it fails, every caller of the turn
 * gets its error.
 */
export function batchPerTurn<A, R>(
  run: (batch: A[]) => Promise<R[]>,
  defer: Defer = setImmediate,
): (arg: A) => Promise<R> {
  interface Waiting {
    arg: A;
    resolve(result: R): void;
    reject(e: unknown): void;
  }
  let pending: Waiting[] = [];
  const flush = async () => {
    const batch = pending;
    pending = [];
    try {
      const results = await run(batch.map((w) => w.arg));
      batch.forEach((w, i) => {
        w.resolve(results[i] as R);
      });
    } catch (e) {
      for (const w of batch) w.reject(e);
    }
  };
  return (arg) =>
    new Promise<R>((resolve, reject) => {
      if (pending.length === 0)
        defer(() => {
          void flush();
        });
      pending.push({ arg, resolve, reject });
    });
}

/** A promise's outcome as a value: what a batch hands back for each call. */
export function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );
}

/**
 * `batchPerTurn` for a `run` that settles each call on its own: a call whose
 * outcome is an error rejects with it, the others resolve.
 */
export function settledPerTurn<A, R>(
  run: (batch: A[]) => Promise<Settled<R>[]>,
  defer?: Defer,
): (arg: A) => Promise<R> {
  const call = batchPerTurn(run, defer);
  return async (arg) => {
    const outcome = await call(arg);
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  };
}
