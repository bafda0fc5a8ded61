/**
 * The rate-limit part of the SQLite store. A hit is one prepared upsert
 * (`INSERT … ON CONFLICT (key) DO UPDATE … RETURNING`): a single statement is
 * atomic in SQLite, across processes too, so no transaction is needed.
 */
import { eq, inArray, lt, lte, sql } from "drizzle-orm";
import type { LimitStore } from "../../core/ports.ts";
import type { SqliteDb } from "../connect.ts";
import { knownIps, rateLimits, users } from "../schema/sqlite.ts";
import { IMMEDIATE } from "./tx.ts";

/** Hits per statement that get their own prepared statement. */
const MAX_KEYS = 2;

/**
 * The upsert of `n` keys, on bun:sqlite directly like the authentication fast
 * path (src/db/sqlite/sessions.ts): a hit runs on every POST under /auth and
 * /oauth, and Drizzle's parameter mapping cost as much as the statement.
 * Every SET expression sees the old row. A row from an older window starts
 * over; a daemon whose clock lags a little adds to the newer one.
 * Parameters: ?1 window start, ?2 window end (milliseconds), ?3 the weight,
 * then the keys.
 */
const hitSql = (n: number) =>
  `insert into rate_limits (key, window_start, count, expires_at)
   values ${Array.from({ length: n }, (_, i) => `(?${i + 4}, ?1, ?3, ?2)`).join(", ")}
   on conflict (key) do update set
     count = case when rate_limits.window_start >= excluded.window_start
                  then rate_limits.count + excluded.count else excluded.count end,
     window_start = max(rate_limits.window_start, excluded.window_start),
     expires_at = max(rate_limits.expires_at, excluded.expires_at)
   returning key, count`;

export function createSqliteLimitStore(db: SqliteDb): LimitStore {
  const prepareHit = (n: number) =>
    db.$client.prepare<{ key: string; count: number }, (string | number)[]>(hitSql(n));

  const counted = (key: string) =>
    sql<number>`coalesce((select ${rateLimits.count} from ${rateLimits} where ${rateLimits.key} = ${sql.placeholder(key)} and ${rateLimits.windowStart} >= ${sql.placeholder("ws")}), 0)`;
  const prepareRead = () =>
    db
      .select({
        accountIp: counted("aik").mapWith(Number),
        account: counted("ak").mapWith(Number),
        knownIp: sql<number>`exists (select 1 from ${knownIps} inner join ${users} on ${users.id} = ${knownIps.userId} where ${users.email} = ${sql.placeholder("email")} and ${knownIps.ip} = ${sql.placeholder("ip")} and ${knownIps.lastSuccessAt} >= ${sql.placeholder("since")})`,
      })
      .from(sql`(select 1) as one`)
      .prepare();
  const prepareClear = () =>
    db
      .delete(rateLimits)
      .where(eq(rateLimits.key, sql.placeholder("key")))
      .prepare();
  const prepareRemember = () =>
    db
      .insert(knownIps)
      .values({
        userId: sql.placeholder("uid"),
        ip: sql.placeholder("ip"),
        lastSuccessAt: sql.placeholder("now"),
      })
      .onConflictDoUpdate({
        target: [knownIps.userId, knownIps.ip],
        set: {
          lastSuccessAt: sql`max(${knownIps.lastSuccessAt}, excluded.last_success_at)`,
        },
      })
      .prepare();

  // SQLite compiles a statement against the schema, so they are prepared on
  // first use (after migrations), then kept.
  let prepared:
    | {
        hits: ReturnType<typeof prepareHit>[];
        read: ReturnType<typeof prepareRead>;
        clear: ReturnType<typeof prepareClear>;
        remember: ReturnType<typeof prepareRemember>;
      }
    | undefined;
  const statements = () => {
    prepared ??= {
      hits: Array.from({ length: MAX_KEYS }, (_, i) => prepareHit(i + 1)),
      read: prepareRead(),
      clear: prepareClear(),
      remember: prepareRemember(),
    };
    return prepared;
  };

  return {
    async hitLimits(keys, windowStart, expiresAt, weight = 1) {
      if (keys.length === 0) return [];
      const statement = statements().hits[keys.length - 1];
      if (!statement) throw new Error(`at most ${MAX_KEYS} keys per hit`);
      const rows = statement.all(
        windowStart.getTime(),
        expiresAt.getTime(),
        weight,
        ...keys,
      );
      if (rows.length === 1 && keys.length === 1) return [rows[0]?.count ?? 0];
      const byKey = new Map(rows.map((r) => [r.key, r.count]));
      return keys.map((k) => byKey.get(k) ?? 0);
    },

    async readLoginBudgets(q) {
      const row = statements().read.get({
        aik: q.accountIpKey,
        ak: q.accountKey,
        ws: q.windowStart.getTime(),
        email: q.email,
        ip: q.ip,
        since: q.knownSince.getTime(),
      });
      return {
        accountIp: row?.accountIp ?? 0,
        account: row?.account ?? 0,
        knownIp: Number(row?.knownIp ?? 0) === 1,
      };
    },

    async recordLoginSuccess(q) {
      const { clear, remember } = statements();
      db.transaction(() => {
        clear.run({ key: q.clearKey });
        remember.run({ uid: q.userId, ip: q.ip, now: q.now });
      }, IMMEDIATE);
    },

    async sweepLimits(now, knownBefore, batch) {
      const budgets = db
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
        .returning({ key: rateLimits.key })
        .all();
      const stale = db
        .select({ userId: knownIps.userId, ip: knownIps.ip })
        .from(knownIps)
        .where(lt(knownIps.lastSuccessAt, knownBefore))
        .limit(batch);
      const known = db
        .delete(knownIps)
        .where(sql`(${knownIps.userId}, ${knownIps.ip}) in ${stale}`)
        .returning({ ip: knownIps.ip })
        .all();
      return budgets.length + known.length;
    },

    async clearLimits(keys) {
      if (keys.length > 0)
        db.delete(rateLimits).where(inArray(rateLimits.key, keys)).run();
    },
  };
}
