/**
 * Password hashing with Bun.password (argon2id). Only the async API is used,
 * so hashing runs on Bun's thread pool, never on the event loop; a semaphore
 * bounds how many run at once, so a login flood queues instead of exhausting
 * memory (each argon2id hash holds ARGON2_MEMORY_KIB while it runs).
 */
import type { Hasher } from "../core/ports.ts";

export interface HasherOptions {
  memoryKib: number;
  timeCost: number;
  concurrency: number;
}

export function createSemaphore(limit: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async function run<T>(task: () => Promise<T>): Promise<T> {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else active++;
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
}

const ARGON2 = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/;
const BCRYPT = /^\$2[aby]\$\d\d\$/;

export function createHasher(options: HasherOptions): Hasher {
  const run = createSemaphore(options.concurrency);
  return {
    hash: (password) =>
      run(() =>
        Bun.password.hash(password, {
          algorithm: "argon2id",
          memoryCost: options.memoryKib,
          timeCost: options.timeCost,
        }),
      ),
    async verify(password, hash) {
      if (!ARGON2.test(hash) && !/^\$argon2(i|d)\$/.test(hash) && !BCRYPT.test(hash)) {
        return false;
      }
      try {
        return await run(() => Bun.password.verify(password, hash));
      } catch {
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
