/**
 * The rate-limit part of the PostgreSQL store. A hit is one prepared upsert:
 * `INSERT … ON CONFLICT (key) DO UPDATE` takes the row lock for just that
 * statement, so concurrent hits from any number of daemons serialise on the
 * row and none is lost, without a transaction around a read.
 */
import { eq, inArray, lt, lte, sql } from "drizzle-orm";
import type { LimitStore } from "../../core/ports.ts";
import type { PgDb } from "../connect.ts";
import { knownIps, rateLimits, users } from "../schema/pg.ts";

/** Hits per statement that get their own prepared statement. */
const MAX_KEYS = 2;

export function createPgLimitStore(db: PgDb): LimitStore {
  // One hit statement per arity (1 and 2 keys), prepared once by name.
  const prepareHit = (n: number) =>
    db
      .insert(rateLimits)
      .values(
        Array.from({ length: n }, (_, i) => ({
          key: sql.placeholder(`k${i}`),
          windowStart: sql.placeholder("ws"),
          count: sql.placeholder("w"),
          expiresAt: sql.placeholder("exp"),
        })),
      )
      .onConflictDoUpdate({
        target: rateLimits.key,
        // Every SET expression sees the old row; `excluded.count` is the
        // weight. A row from an older window starts over; a daemon whose
        // clock lags a little adds to the newer one.
        set: {
          count: sql`case when ${rateLimits.windowStart} >= excluded.window_start then ${rateLimits.count} + excluded.count else excluded.count end`,
          windowStart: sql`greatest(${rateLimits.windowStart}, excluded.window_start)`,
          expiresAt: sql`greatest(${rateLimits.expiresAt}, excluded.expires_at)`,
        },
      })
      .returning({ key: rateLimits.key, count: rateLimits.count })
      .prepare(`rate_limit_hit_${n}`);
  const hits = Array.from({ length: MAX_KEYS }, (_, i) => prepareHit(i + 1));

  const counted = (key: string) =>
    sql<number>`coalesce((select ${rateLimits.count} from ${rateLimits} where ${rateLimits.key} = ${sql.placeholder(key)} and ${rateLimits.windowStart} >= ${sql.placeholder("ws")}), 0)`;
  const readBudgets = db
    .select({
      accountIp: counted("aik").mapWith(Number),
      account: counted("ak").mapWith(Number),
      knownIp: sql<boolean>`exists (select 1 from ${knownIps} inner join ${users} on ${users.id} = ${knownIps.userId} where ${users.email} = ${sql.placeholder("email")} and ${knownIps.ip} = ${sql.placeholder("ip")} and ${knownIps.lastSuccessAt} >= ${sql.placeholder("since")})`,
    })
    .from(sql`(select 1) as one`)
    .prepare("login_budgets");

  const clear = db
    .delete(rateLimits)
    .where(eq(rateLimits.key, sql.placeholder("key")))
    .prepare("rate_limit_clear");
  const remember = db
    .insert(knownIps)
    .values({
      userId: sql.placeholder("uid"),
      ip: sql.placeholder("ip"),
      lastSuccessAt: sql.placeholder("now"),
    })
    .onConflictDoUpdate({
      target: [knownIps.userId, knownIps.ip],
      set: {
        lastSuccessAt: sql`greatest(${knownIps.lastSuccessAt}, excluded.last_success_at)`,
      },
    })
    .prepare("known_ip_record");

  return {
    async hitLimits(keys, windowStart, expiresAt, weight = 1) {
      if (keys.length === 0) return [];
      const statement = hits[keys.length - 1];
      if (!statement) throw new Error(`at most ${MAX_KEYS} keys per hit`);
      const params: Record<string, unknown> = {
        ws: windowStart,
        exp: expiresAt,
        w: weight,
      };
      keys.forEach((k, i) => {
        params[`k${i}`] = k;
      });
      const rows = await statement.execute(params);
      const byKey = new Map(rows.map((r) => [r.key, r.count]));
      return keys.map((k) => byKey.get(k) ?? 0);
    },

    async readLoginBudgets(q) {
      const [row] = await readBudgets.execute({
        aik: q.accountIpKey,
        ak: q.accountKey,
        ws: q.windowStart.toISOString(),
        email: q.email,
        ip: q.ip,
        since: q.knownSince.toISOString(),
      });
      return {
        accountIp: row?.accountIp ?? 0,
        account: row?.account ?? 0,
        knownIp: row?.knownIp === true,
      };
    },

    async recordLoginSuccess(q) {
      // Two independent statements: neither decides on the other's rows.
      await Promise.all([
        clear.execute({ key: q.clearKey }),
        remember.execute({ uid: q.userId, ip: q.ip, now: q.now }),
      ]);
    },

    async sweepLimits(now, knownBefore, batch) {
      const budgets = await db
        .delete(rateLimits)
        .where(
          inArray(
            rateLimits.key,
            db
              .select({ key: rateLimits.key })
              .from(rateLimits)
              .where(lte(rateLimits.expiresAt, now))
              .limit(batch),
          ),
        )
        .returning({ key: rateLimits.key });
      const stale = db
        .select({ userId: knownIps.userId, ip: knownIps.ip })
        .from(knownIps)
        .where(lt(knownIps.lastSuccessAt, knownBefore))
        .limit(batch);
      const known = await db
        .delete(knownIps)
        .where(sql`(${knownIps.userId}, ${knownIps.ip}) in ${stale}`)
        .returning({ ip: knownIps.ip });
      return budgets.length + known.length;
    },

    async clearLimits(keys) {
      if (keys.length > 0)
        await db.delete(rateLimits).where(inArray(rateLimits.key, keys));
    },
  };
}
