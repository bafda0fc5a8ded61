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

/** How many batches may run at once, and how long a call waits for a slot. */
export interface InFlightLimit {
  batches: number;
  /** Past this, the calls waiting are sent anyway, beside the slow batch. */
  waitMs: number;
}

/**
 * `run` gets the turn's arguments in arrival order and returns one result
 * per argument, in the same order; if it fails, every caller of the turn
 * gets its error.
 *
 * With a `limit`, while that many batches run the calls that arrive wait,
 * and the first batch to finish sends all of them as the next batch at once,
 * before its own callers' continuations run (so the next round trip overlaps
 * their work). A round trip then carries every call that arrived during the
 * previous one instead of one turn's worth each. A batch that is slow (a
 * storage timeout, a stalled server) holds the others back no longer than
 * `waitMs`.
 */
export function batchPerTurn<A, R>(
  run: (batch: A[]) => Promise<R[]>,
  defer: Defer = setImmediate,
  limit?: InFlightLimit,
): (arg: A) => Promise<R> {
  interface Waiting {
    arg: A;
    resolve(result: R): void;
    reject(e: unknown): void;
  }
  const maxInFlight = limit?.batches ?? Number.POSITIVE_INFINITY;
  let pending: Waiting[] = [];
  let scheduled = false;
  let inFlight = 0;
  let overdue: ReturnType<typeof setTimeout> | undefined;
  const sendWaiting = () => {
    if (overdue !== undefined) clearTimeout(overdue);
    overdue = undefined;
    if (pending.length > 0 && !scheduled) void flush();
  };
  const schedule = () => {
    if (scheduled || pending.length === 0) return;
    if (inFlight >= maxInFlight) {
      overdue ??= setTimeout(sendWaiting, limit?.waitMs);
      return;
    }
    scheduled = true;
    defer(() => {
      scheduled = false;
      void flush();
    });
  };
  const flush = async () => {
    const batch = pending;
    pending = [];
    inFlight++;
    try {
      const results = await run(batch.map((w) => w.arg));
      batch.forEach((w, i) => {
        w.resolve(results[i] as R);
      });
    } catch (e) {
      for (const w of batch) w.reject(e);
    } finally {
      inFlight--;
      sendWaiting();
    }
  };
  return (arg) =>
    new Promise<R>((resolve, reject) => {
      pending.push({ arg, resolve, reject });
      schedule();
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
