/**
 * bun:sqlite transactions are synchronous, so every atomic operation is one
 * synchronous `transaction(…, IMMEDIATE)` with no await inside. IMMEDIATE takes
 * the write lock at BEGIN, which serialises writers across processes (the
 * daemon and `authctl` share the file): a DEFERRED transaction would read,
 * then fail to upgrade its lock under contention, or decide on stale rows.
 */
import type { Database } from "bun:sqlite";
import type { Settled } from "../../core/ports.ts";

export const IMMEDIATE = { behavior: "immediate" } as const;

/**
 * Group commit: the calls of one batch (the core hands over those of one
 * turn of the event loop, core/per-turn.ts) in one IMMEDIATE transaction,
 * each in its own savepoint, so a call that throws is undone alone and only
 * its caller gets the error. On SQLite a small write's commit is most of its
 * cost (the WAL frames of every page it touched); the calls of one batch
 * touch the same few pages and write them once (docs/performance.md).
 * `fn` runs synchronously, inside the transaction.
 */
export function groupCommit<A, R>(
  client: Database,
  fn: (input: A) => R,
): (inputs: A[]) => Settled<R>[] {
  const one = client.transaction(fn);
  const all = client.transaction((inputs: A[]) =>
    inputs.map((input): Settled<R> => {
      try {
        return { ok: true, value: one(input) };
      } catch (error) {
        return { ok: false, error };
      }
    }),
  );
  return (inputs) => all.immediate(inputs);
}
