/**
 * The LimitStore contract (rate-limit budgets and known IPs), run against
 * every dialect: what core/limits.ts relies on.
 */
import { describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import type { UserRecord } from "../../src/core/ports.ts";
import * as pgSchema from "../../src/db/schema/pg.ts";
import * as sqliteSchema from "../../src/db/schema/sqlite.ts";
import type { Store } from "../../src/db/store.ts";
import { DIALECTS } from "../helpers/databases.ts";
import { useMigratedStore } from "../helpers/store.ts";

const T0 = new Date("2026-01-01T00:00:00.000Z");
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const DAY = 86_400;

let seq = 0;
const unique = (prefix: string) => `${prefix}-${++seq}`;

function userRecord(): UserRecord {
  const id = unique("u");
  return {
    id,
    email: `${id}@example.com`,
    emailVerified: false,
    name: null,
    roles: ["user"],
    disabled: false,
    passwordHash: null,
    createdAt: T0,
    updatedAt: T0,
  };
}

for (const dialect of DIALECTS) {
  describe(`LimitStore contract [${dialect}]`, () => {
    const { database, store } = useMigratedStore(dialect);

    async function rows() {
      if (database.dialect === "pg")
        return database.db.select().from(pgSchema.rateLimits);
      return database.db.select().from(sqliteSchema.rateLimits).all();
    }
    async function knownRows() {
      if (database.dialect === "pg")
        return database.db.select().from(pgSchema.knownIps);
      return database.db.select().from(sqliteSchema.knownIps).all();
    }
    const budgets = (
      over: Partial<Parameters<Store["readLoginBudgets"]>[0]> & { email: string },
    ) =>
      store.readLoginBudgets({
        accountIpKey: unique("none"),
        accountKey: unique("none"),
        windowStart: at(0),
        ip: "198.51.100.1",
        knownSince: at(-30 * DAY),
        ...over,
      });

    test.if(dialect === "pg")(
      "on PostgreSQL the budgets table is UNLOGGED (no WAL flush per hit)",
      async () => {
        if (database.dialect !== "pg") return;
        const rows = await database.db.execute<{ persistence: string }>(
          sql`select relpersistence as persistence from pg_class where relname = 'rate_limits'`,
        );
        expect(rows.map((r) => r.persistence)).toEqual(["u"]);
      },
    );

    test("hits count up within a window, per key, and report each key's count", async () => {
      const [a, b] = [unique("a"), unique("b")];
      expect(await store.hitLimits([a], at(0), at(60))).toEqual([1]);
      expect(await store.hitLimits([a], at(0), at(60))).toEqual([2]);
      expect(await store.hitLimits([b, a], at(0), at(60))).toEqual([1, 3]);
      expect(await store.hitLimits([a, b], at(0), at(60))).toEqual([4, 2]);
      expect(await store.hitLimits([], at(0), at(60))).toEqual([]);
      const stored = (await rows()).filter((r) => r.key === a);
      expect(stored).toEqual([
        { key: a, windowStart: at(0), count: 4, expiresAt: at(60) },
      ]);
    });

    test("a weighted hit counts n at once, and a new window starts over at n", async () => {
      const [a, b] = [unique("n"), unique("n")];
      expect(await store.hitLimits([a], at(0), at(60), 25)).toEqual([25]);
      expect(await store.hitLimits([a], at(0), at(60))).toEqual([26]);
      expect(await store.hitLimits([a, b], at(0), at(60), 3)).toEqual([29, 3]);
      expect(await store.hitLimits([a], at(60), at(120), 4)).toEqual([4]);
      const [row] = (await rows()).filter((r) => r.key === a);
      expect(row).toEqual({
        key: a,
        windowStart: at(60),
        count: 4,
        expiresAt: at(120),
      });
    });

    test("clearLimits forgets exactly the given keys", async () => {
      const [a, b, c] = [unique("k"), unique("k"), unique("k")];
      await store.hitLimits([a, b], at(0), at(60));
      await store.hitLimits([c], at(0), at(60));
      await store.clearLimits([a, c]);
      await store.clearLimits([]);
      expect(await store.hitLimits([a, b], at(0), at(60))).toEqual([1, 2]);
      expect(await store.hitLimits([c], at(0), at(60))).toEqual([1]);
    });

    test("a new window starts over at 1; a lagging clock adds to the newer window", async () => {
      const key = unique("w");
      await store.hitLimits([key], at(0), at(60));
      await store.hitLimits([key], at(0), at(60));
      expect(await store.hitLimits([key], at(60), at(120))).toEqual([1]);
      // A daemon whose clock is still in the previous window.
      expect(await store.hitLimits([key], at(0), at(60))).toEqual([2]);
      const [row] = (await rows()).filter((r) => r.key === key);
      expect(row).toEqual({ key, windowStart: at(60), count: 2, expiresAt: at(120) });
    });

    test("concurrent hits on one key lose no count", async () => {
      const key = unique("race");
      const n = 40;
      const counts = await Promise.all(
        Array.from({ length: n }, () => store.hitLimits([key], at(0), at(60))),
      );
      expect(counts.map(([c]) => c).sort((x, y) => (x ?? 0) - (y ?? 0))).toEqual(
        Array.from({ length: n }, (_, i) => i + 1),
      );
    });

    test("the login read sees both counts of the current window only", async () => {
      const [ai, ac] = [unique("ai"), unique("ac")];
      expect(
        await budgets({ accountIpKey: ai, accountKey: ac, email: "x@example.com" }),
      ).toEqual({ accountIp: 0, account: 0, knownIp: false });
      await store.hitLimits([ai, ac], at(0), at(900));
      await store.hitLimits([ac], at(0), at(900));
      expect(
        await budgets({ accountIpKey: ai, accountKey: ac, email: "x@example.com" }),
      ).toEqual({ accountIp: 1, account: 2, knownIp: false });
      // Read from the next window: the old counts no longer apply.
      expect(
        await budgets({
          accountIpKey: ai,
          accountKey: ac,
          email: "x@example.com",
          windowStart: at(900),
        }),
      ).toEqual({ accountIp: 0, account: 0, knownIp: false });
    });

    test("a successful login clears its key and makes the IP known for 30 days", async () => {
      const user = userRecord();
      await store.insertUser(user);
      const [ai, ac] = [unique("ai"), unique("ac")];
      await store.hitLimits([ai, ac], at(0), at(900));
      const ip = "2001:db8:1:2::/64";
      expect((await budgets({ email: user.email, ip })).knownIp).toBe(false);

      await store.recordLoginSuccess({
        clearKey: ai,
        userId: user.id,
        ip,
        now: at(10),
      });
      expect(
        await budgets({ accountIpKey: ai, accountKey: ac, email: user.email, ip }),
      ).toEqual({ accountIp: 0, account: 1, knownIp: true });
      // Known only for that account and that IP, and only since `knownSince`.
      expect((await budgets({ email: user.email, ip: "198.51.100.7" })).knownIp).toBe(
        false,
      );
      expect((await budgets({ email: "other@example.com", ip })).knownIp).toBe(false);
      expect(
        (await budgets({ email: user.email, ip, knownSince: at(11) })).knownIp,
      ).toBe(false);

      // A later success moves last_success_at forward, an earlier one never back.
      await store.recordLoginSuccess({
        clearKey: ai,
        userId: user.id,
        ip,
        now: at(50),
      });
      await store.recordLoginSuccess({
        clearKey: ai,
        userId: user.id,
        ip,
        now: at(20),
      });
      const mine = (await knownRows()).filter((r) => r.userId === user.id);
      expect(mine).toEqual([{ userId: user.id, ip, lastSuccessAt: at(50) }]);

      await store.deleteUserKeepingAdmin(user.id);
      expect((await knownRows()).filter((r) => r.userId === user.id)).toEqual([]);
    });

    test("the sweep deletes ended windows and stale known IPs, in bounded batches", async () => {
      // Start from an empty table so the counts below are exact.
      await store.sweepLimits(at(10 * DAY), at(10 * DAY), 100_000);
      const ended = [unique("e"), unique("e"), unique("e")];
      const live = unique("live");
      for (const k of ended) await store.hitLimits([k], at(0), at(60));
      await store.hitLimits([live], at(60), at(120));
      const user = userRecord();
      await store.insertUser(user);
      await store.recordLoginSuccess({
        clearKey: unique("c"),
        userId: user.id,
        ip: "198.51.100.20",
        now: at(0),
      });
      await store.recordLoginSuccess({
        clearKey: unique("c"),
        userId: user.id,
        ip: "198.51.100.21",
        now: at(100),
      });

      // A batch of 2 takes two ended windows and the one stale known IP.
      expect(await store.sweepLimits(at(60), at(50), 2)).toBe(3);
      expect(await store.sweepLimits(at(60), at(50), 2)).toBe(1);
      expect(await store.sweepLimits(at(60), at(50), 2)).toBe(0);
      expect((await rows()).map((r) => r.key)).toEqual([live]);
      expect(
        (await knownRows()).filter((r) => r.userId === user.id).map((r) => r.ip),
      ).toEqual(["198.51.100.21"]);
    });
  });
}
