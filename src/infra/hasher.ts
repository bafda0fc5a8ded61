/**
 * Password hashing with Bun.password (argon2id). Only the async API is used,
 * so hashing runs on Bun's thread pool, never on the event loop; a semaphore
 * bounds how many run at once, so a login flood queues instead of exhausting
 * memory (each argon2id hash holds ARGON2_MEMORY_KIB while it runs), and the
 * queue itself is bounded: past HASH_QUEUE_MAX waiting, a request is refused
 * at once with 503 rather than left to wait ever longer. A waiting check
 * whose client has gone (its request's signal aborted) leaves the queue
 * without hashing: a flood that disconnects leaves no work behind.
 */
import { AuthError } from "../core/errors.ts";
import type { Hasher } from "../core/ports.ts";

export interface HasherOptions {
  memoryKib: number;
  timeCost: number;
  concurrency: number;
  /** Most hashes waiting for a slot; more are refused (default: no bound). */
  queueMax?: number;
}

/** What actually hashes: Bun.password, or a stand-in a test can hold open. */
export interface PasswordEngine {
  hash(
    password: string,
    options: { algorithm: "argon2id"; memoryCost: number; timeCost: number },
  ): Promise<string>;
  verify(password: string, hash: string): Promise<boolean>;
}

const queueFull = () =>
  new AuthError(
    "unavailable",
    "too many password checks are waiting; try again in a few seconds",
  );

const clientGone = () =>
  new AuthError(
    "unavailable",
    "the client closed the connection before its password could be checked",
  );

export function createSemaphore(limit: number, queueMax = Number.POSITIVE_INFINITY) {
  let active = 0;
  const waiting: (() => void)[] = [];
  /** Waits for a slot; an abort before it comes leaves the queue and throws. */
  const acquire = (signal?: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(clientGone());
      const onAbort = () => {
        const i = waiting.indexOf(granted);
        if (i >= 0) waiting.splice(i, 1);
        reject(clientGone());
      };
      const granted = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      waiting.push(granted);
    });
  const run = async function run<T>(
    task: () => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    if (active >= limit) {
      if (waiting.length >= queueMax) throw queueFull();
      await acquire(signal);
    } else active++;
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next waiter: releasing it first would let
      // a newcomer take it before the waiter resumes, and exceed the limit.
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
  return Object.assign(run, {
    /** Tasks running and tasks waiting for a slot (for tests and metrics). */
    stats: () => ({ active, waiting: waiting.length }),
  });
}

const ARGON2 = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/;
const BCRYPT = /^\$2[aby]\$\d\d\$/;

export function createHasher(
  options: HasherOptions,
  engine: PasswordEngine = Bun.password,
): Hasher & { stats(): { active: number; waiting: number } } {
  const run = createSemaphore(options.concurrency, options.queueMax);
  return {
    stats: run.stats,
    hash: (password, signal) =>
      run(
        () =>
          engine.hash(password, {
            algorithm: "argon2id",
            memoryCost: options.memoryKib,
            timeCost: options.timeCost,
          }),
        signal,
      ),
    async verify(password, hash, signal) {
      if (!ARGON2.test(hash) && !/^\$argon2(i|d)\$/.test(hash) && !BCRYPT.test(hash)) {
        return false;
      }
      try {
        return await run(() => engine.verify(password, hash), signal);
      } catch (e) {
        if (e instanceof AuthError) throw e;
        // A malformed imported hash is a failed login, not a server error.
        return false;
      }
    },
    needsRehash(hash) {
      const m = ARGON2.exec(hash);
      // Bun.password always hashes with p=1, so any other parallelism is foreign.
      return (
        !m ||
        Number(m[1]) !== options.memoryKib ||
        Number(m[2]) !== options.timeCost ||
        Number(m[3]) !== 1
      );
    },
  };
}
