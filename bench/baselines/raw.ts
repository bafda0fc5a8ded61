/**
 * Baselines measured in the bench process itself, with no HTTP around them:
 * the raw Bun.password.verify rate at the configured argon2id parameters and
 * concurrency, and the raw refresh-rotation transaction (the store method
 * alone, no signing, sealing or audit) on the same database.
 */
import { tokenHash } from "../../src/core/crypto.ts";
import type { Database } from "../../src/db/connect.ts";
import { createStore } from "../../src/db/store.ts";
import { seedSessions } from "../lib/seed.ts";

/** What a baseline loop did in one stretch: steps completed, seconds taken. */
export interface RawStretch {
  requests: number;
  seconds: number;
}

/** Runs `workers` loops of `step` for `seconds`. */
async function loop(
  seconds: number,
  workers: number,
  step: (worker: number) => Promise<void>,
): Promise<RawStretch> {
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  let requests = 0;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (performance.now() < end) {
        await step(w);
        requests++;
      }
    }),
  );
  return { requests, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Raw Bun.password.verify at the given parameters, `concurrency` at a time:
 * set up once, then run for as many stretches as its block has turns.
 */
export async function rawVerify(o: {
  memoryKib: number;
  timeCost: number;
  concurrency: number;
}): Promise<(seconds: number) => Promise<RawStretch>> {
  const password = "correct horse battery staple";
  const hash = await Bun.password.hash(password, {
    algorithm: "argon2id",
    memoryCost: o.memoryKib,
    timeCost: o.timeCost,
  });
  return (seconds) =>
    loop(seconds, o.concurrency, async () => {
      if (!(await Bun.password.verify(password, hash)))
        throw new Error("verify failed");
    });
}

/**
 * The store's rotation in `chains` loops, one rotation per transaction: set
 * up once (the chains seeded), then run for as many stretches as its block
 * has turns, each chain going on from its last token.
 */
export async function rawRotation(o: {
  database: Database;
  userId: string;
  chains: number;
}): Promise<(seconds: number) => Promise<RawStretch>> {
  const store = await createStore(o.database);
  const chains = await seedSessions(o.database, o.userId, o.chains);
  let n = 0;
  return (seconds) =>
    loop(seconds, o.chains, async (w) => {
      const successor = `bench-successor-${w}-${++n}-${Math.random()}`;
      // One rotation per transaction: the transaction alone, which the daemon
      // commits several at a time on SQLite (group commit, docs/decisions.md).
      const [outcome] = await store.rotateRefreshTokens([
        {
          tokenHash: tokenHash(chains[w] as string),
          now: new Date(),
          reuseIntervalMs: 10_000,
          idleTtlMs: 2_592_000_000,
          successor: { id: Bun.randomUUIDv7(), tokenHash: tokenHash(successor) },
          successorSealed: "sealed-successor-placeholder",
        },
      ]);
      if (!outcome?.ok) throw outcome?.error;
      if (outcome.value.kind !== "rotated")
        throw new Error(`rotation: ${outcome.value.kind}`);
      chains[w] = successor;
    });
}
