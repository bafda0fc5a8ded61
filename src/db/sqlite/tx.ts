/**
 * bun:sqlite transactions are synchronous, so every atomic operation is one
 * synchronous `transaction(…, IMMEDIATE)` with no await inside. IMMEDIATE takes
 * the write lock at BEGIN, which serialises writers across processes (the
 * daemon and `authctl` share the file): a DEFERRED transaction would read,
 * then fail to upgrade its lock under contention, or decide on stale rows.
 */
export const IMMEDIATE = { behavior: "immediate" } as const;
