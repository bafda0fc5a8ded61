/**
 * The per-IP budget's group commit (core/limits.ts `createHitBatcher`): hits
 * of one turn of the event loop are one store statement, each hit keeps its
 * own place in the count, and a storage failure reaches every waiting hit.
 * Against the real store of each dialect.
 */
import { describe, expect, test } from "bun:test";
import { createHitBatcher, createLimits } from "../../src/core/limits.ts";
import type { LimitStore } from "../../src/core/ports.ts";
import { createFakeClock } from "../helpers/clock.ts";
import { DIALECTS } from "../helpers/databases.ts";
import { useMigratedStore } from "../helpers/store.ts";

const T0 = new Date("2026-03-01T10:00:00.000Z");
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

let seq = 0;
const unique = (prefix: string) => `${prefix}-${++seq}`;

for (const dialect of DIALECTS) {
  describe(`per-IP hits, counted together [${dialect}]`, () => {
    const { store } = useMigratedStore(dialect);

    /** The real store, with each hitLimits call's weight written down. */
    function counting() {
      const weights: number[] = [];
      const limits: LimitStore = {
        ...store,
        hitLimits: (keys, start, end, weight = 1) => {
          weights.push(weight);
          return store.hitLimits(keys, start, end, weight);
        },
      };
      return { limits, weights };
    }

    test("the hits of one turn are one statement; each gets its own place, in arrival order", async () => {
      const { limits, weights } = counting();
      const hit = createHitBatcher(limits, setImmediate);
      const key = unique("ip");
      const places = await Promise.all(
        Array.from({ length: 6 }, () => hit(key, at(0), at(60))),
      );
      expect(places).toEqual([1, 2, 3, 4, 5, 6]);
      expect(weights).toEqual([6]);
      // The next turn continues the count, in the database.
      expect(
        await Promise.all([hit(key, at(0), at(60)), hit(key, at(0), at(60))]),
      ).toEqual([7, 8]);
      expect(weights).toEqual([6, 2]);
      expect(await store.hitLimits([key], at(0), at(60))).toEqual([9]);
    });

    test("different keys and windows of one turn are counted apart", async () => {
      const { limits, weights } = counting();
      const hit = createHitBatcher(limits, setImmediate);
      const [a, b] = [unique("ip"), unique("ip")];
      const places = await Promise.all([
        hit(a, at(0), at(60)),
        hit(b, at(0), at(60)),
        hit(a, at(0), at(60)),
        hit(a, at(60), at(120)),
      ]);
      expect(places).toEqual([1, 1, 2, 1]);
      expect(weights.sort()).toEqual([1, 1, 2]);
    });

    test("hitIp refuses exactly the hits past the budget, however many arrive at once", async () => {
      const clock = createFakeClock(at(5));
      const refused: string[] = [];
      const limits = createLimits({
        limits: store,
        clock,
        settings: {
          window: 60,
          perIp: 4,
          failuresPerAccountIp: 0,
          failuresPerAccount: 0,
          failureWindow: 900,
        },
        onRefused: (b) => refused.push(b),
      });
      const ip = `192.0.2.${++seq % 250}`;
      const outcomes = await Promise.allSettled(
        Array.from({ length: 10 }, () => limits.hitIp(ip)),
      );
      expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(4);
      const rejected = outcomes.filter((o) => o.status === "rejected");
      expect(rejected).toHaveLength(6);
      for (const r of rejected)
        expect((r as PromiseRejectedResult).reason).toMatchObject({
          code: "rate_limited",
          retryAfter: 55,
        });
      expect(refused).toEqual(Array(6).fill("ip"));
    });

    test("a storage failure reaches every hit of the batch", async () => {
      const failure = new Error("storage down");
      const hit = createHitBatcher(
        { ...store, hitLimits: async () => Promise.reject(failure) },
        setImmediate,
      );
      const outcomes = await Promise.allSettled([
        hit(unique("ip"), at(0), at(60)),
        hit(unique("ip"), at(0), at(60)),
      ]);
      expect(outcomes).toEqual([
        { status: "rejected", reason: failure },
        { status: "rejected", reason: failure },
      ]);
    });
  });
}
