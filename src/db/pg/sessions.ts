/** The sessions part of the PostgreSQL store. */
import { and, desc, eq, gt, inArray, isNull, ne, type SQL, sql } from "drizzle-orm";
import { settle } from "../../core/per-turn.ts";
import type {
  EndedSession,
  RotateInput,
  RotateResult,
  SessionStore,
  TokenRevocation,
} from "../../core/ports.ts";
import type { PgDb } from "../connect.ts";
import { toSession, toUser } from "../mappers.ts";
import { planRotation } from "../rotation.ts";
import { refreshTokens, sessions, users } from "../schema/pg.ts";

/** The most session ids one lookup statement binds (a power of two). */
const LOOKUP_CHUNK = 64;

// Serialises key creation and rotation across daemons and the CLI.
const _KEYS_LOCK = sql`select pg_advisory_xact_lock(72031142)`;

export function createPgSessionStore(db: PgDb): SessionStore {
  const liveToken = (now: Date) =>
    and(
      isNull(refreshTokens.usedAt),
      isNull(refreshTokens.revokedAt),
      gt(refreshTokens.expiresAt, now),
    );

  // Statements outside transactions are prepared once, by name (Drizzle builds
  // the SQL once; postgres.js prepares it once per connection). Statements
  // inside a transaction cannot be: a Drizzle prepared query is bound to the
  // pool, not to the transaction's connection (docs/performance.md).
  // The session lookups of one turn of the event loop, in one query (the
  // core batches them, core/per-turn.ts): the client side of a round trip
  // costs the daemon 30–45 µs of CPU, which dozens of requests then share
  // (docs/performance.md). It reads from the earliest `now` of the batch;
  // each lookup then applies its own `now` and user id.
  //
  // The ids are bound one parameter each, in a statement per power of two
  // (the batch padded with its last id), not as one array parameter: the
  // planner cannot see an array parameter's length, so its generic plan
  // assumes ten elements and costs more than the custom plan of a batch of
  // one or two, and PostgreSQL then plans every execution anew (~90 µs of
  // the server's CPU a batch, on the same cores under load). With the count
  // in the statement both plans cost the same and it keeps the generic plan
  // after its first five (docs/performance.md, "The lookup's plan").
  const lookupStatements = new Map<number, ReturnType<typeof prepareLookup>>();
  function prepareLookup(arity: number) {
    return db
      .select({ s: sessions, u: users })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(
        and(
          inArray(
            sessions.id,
            Array.from({ length: arity }, (_, i) => sql.placeholder(`s${i}`)),
          ),
          isNull(sessions.revokedAt),
          gt(sessions.expiresAt, sql.placeholder("now")),
          eq(users.disabled, false),
        ),
      )
      .prepare(`live_sessions_${arity}`);
  }
  /** One chunk of at most LOOKUP_CHUNK distinct ids, padded to a power of two. */
  function lookupChunk(ids: string[], now: string) {
    let arity = 1;
    while (arity < ids.length) arity *= 2;
    let statement = lookupStatements.get(arity);
    if (!statement) {
      statement = prepareLookup(arity);
      lookupStatements.set(arity, statement);
    }
    const params: Record<string, string> = { now };
    for (let i = 0; i < arity; i++)
      params[`s${i}`] = ids[Math.min(i, ids.length - 1)] as string;
    return statement.execute(params);
  }

  async function revokeWhere(
    where: SQL | undefined,
    reason: string,
    now: Date,
  ): Promise<string[]> {
    return db.transaction(async (tx) => {
      const ended = (
        await tx
          .update(sessions)
          .set({ revokedAt: now, revokeReason: reason })
          .where(and(where, isNull(sessions.revokedAt)))
          .returning({ id: sessions.id })
      ).map((r) => r.id);
      if (ended.length > 0) {
        await tx
          .update(refreshTokens)
          .set({ revokedAt: now })
          .where(
            and(
              inArray(refreshTokens.sessionId, ended),
              isNull(refreshTokens.revokedAt),
            ),
          );
      }
      return ended;
    });
  }

  async function rotate(input: RotateInput): Promise<RotateResult> {
    const { now } = input;
    return db.transaction(async (tx): Promise<RotateResult> => {
      // One statement reads and locks the session, then the token: the lock
      // order of revocations (UPDATE sessions, then UPDATE refresh_tokens),
      // so the two cannot deadlock. FOR UPDATE OF locks in the order listed.
      const [found] = await tx
        .select({ token: refreshTokens, session: sessions, user: users })
        .from(sessions)
        .innerJoin(refreshTokens, eq(refreshTokens.sessionId, sessions.id))
        .innerJoin(users, eq(users.id, sessions.userId))
        .where(eq(refreshTokens.tokenHash, input.tokenHash))
        .for("update", { of: [sessions, refreshTokens] });
      // The successor of a spent token, read under the session lock taken
      // above (every rotation and revocation of this session takes it first).
      const [successor] = found?.token.successorId
        ? await tx
            .select({
              usedAt: refreshTokens.usedAt,
              revokedAt: refreshTokens.revokedAt,
              expiresAt: refreshTokens.expiresAt,
            })
            .from(refreshTokens)
            .where(eq(refreshTokens.id, found.token.successorId))
        : [];
      const plan = planRotation(found, input, successor);
      if (plan.write === "revoke") {
        await Promise.all([
          tx
            .update(sessions)
            .set({ revokedAt: now, revokeReason: "refresh_token_reuse" })
            .where(eq(sessions.id, plan.sessionId)),
          tx
            .update(refreshTokens)
            .set({ revokedAt: now })
            .where(
              and(
                eq(refreshTokens.sessionId, plan.sessionId),
                isNull(refreshTokens.revokedAt),
              ),
            ),
        ]);
      } else if (plan.write === "rotate") {
        // The three writes in one statement, one round trip. The successor is
        // inserted from the spent token's RETURNING row, so the old token has
        // left the one-live-token index before its successor enters it.
        const at = now.toISOString();
        await tx.execute(sql`
          with spent as (
            update refresh_tokens set used_at = ${at}::timestamptz,
              successor_id = ${input.successor.id},
              successor_sealed = ${input.successorSealed}
            where id = ${plan.tokenId}
            returning session_id
          ), successor as (
            insert into refresh_tokens (id, session_id, token_hash, created_at, expires_at)
            select ${input.successor.id}, session_id, ${input.successor.tokenHash},
              ${at}::timestamptz, ${plan.expiresAt.toISOString()}::timestamptz
            from spent
          )
          update sessions set last_used_at = ${at}::timestamptz where id = ${plan.sessionId}`);
      }
      return plan.result;
    });
  }

  async function revokeByToken({
    tokenHash: hash,
    reason,
    now,
  }: TokenRevocation): Promise<EndedSession | null> {
    // Two statements, no BEGIN/COMMIT: the session ends first (which alone
    // makes every token of it useless), then its tokens are marked. The
    // second statement must be separate: its fresh snapshot sees a successor
    // that a rotation holding the session lock committed meanwhile.
    const at = now.toISOString();
    const [ended] = await db.execute<{ session_id: string; user_id: string }>(sql`
      update sessions set revoked_at = ${at}::timestamptz, revoke_reason = ${reason}
      where id = (select session_id from refresh_tokens where token_hash = ${hash})
        and revoked_at is null
      returning id as session_id, user_id`);
    if (!ended) return null;
    await db.execute(sql`
      update refresh_tokens set revoked_at = ${at}::timestamptz
      where session_id = ${ended.session_id} and revoked_at is null`);
    return { sessionId: ended.session_id, userId: ended.user_id };
  }

  return {
    async createSession(session, token) {
      // One statement, so one round trip, and atomic without BEGIN/COMMIT
      // (foreign keys are checked at the end of the statement).
      const created = session.createdAt.toISOString();
      await db.execute(sql`
        with s as (
          insert into sessions (id, user_id, created_at, last_used_at, expires_at, ip, user_agent)
          values (${session.id}, ${session.userId}, ${created}::timestamptz,
            ${created}::timestamptz, ${session.expiresAt.toISOString()}::timestamptz,
            ${session.ip}, ${session.userAgent})
          returning id
        )
        insert into refresh_tokens (id, session_id, token_hash, created_at, expires_at)
        select ${token.id}, s.id, ${token.tokenHash}, ${created}::timestamptz,
          ${token.expiresAt.toISOString()}::timestamptz
        from s`);
    },

    // Each in its own transaction, side by side: the rows one rotation locks
    // are not held through another's round trips.
    async rotateRefreshTokens(inputs) {
      return Promise.all(inputs.map((input) => settle(rotate(input))));
    },

    async findLiveSessions(lookups) {
      if (lookups.length === 0) return [];
      const earliest = Math.min(...lookups.map((l) => l.now.getTime()));
      const now = new Date(earliest).toISOString();
      const ids = [...new Set(lookups.map((l) => l.sessionId))];
      const chunks: Promise<Awaited<ReturnType<typeof lookupChunk>>>[] = [];
      for (let i = 0; i < ids.length; i += LOOKUP_CHUNK)
        chunks.push(lookupChunk(ids.slice(i, i + LOOKUP_CHUNK), now));
      const rows = (await Promise.all(chunks)).flat();
      const byId = new Map(rows.map((r) => [r.s.id, r]));
      return lookups.map(({ sessionId, userId, now }) => {
        const row = byId.get(sessionId);
        return row && row.s.userId === userId && row.s.expiresAt > now
          ? { session: toSession(row.s), user: toUser(row.u) }
          : null;
      });
    },

    async listLiveSessions(userId, now) {
      const rows = await db
        .select({ s: sessions, tokenExpiresAt: refreshTokens.expiresAt })
        .from(sessions)
        .innerJoin(
          refreshTokens,
          and(eq(refreshTokens.sessionId, sessions.id), liveToken(now)),
        )
        .where(
          and(
            eq(sessions.userId, userId),
            isNull(sessions.revokedAt),
            gt(sessions.expiresAt, now),
          ),
        )
        .orderBy(desc(sessions.lastUsedAt));
      return rows.map((r) => ({ ...toSession(r.s), expiresAt: r.tokenExpiresAt }));
    },

    async revokeSession(sessionId, userId, reason, now) {
      const where = and(
        eq(sessions.id, sessionId),
        userId ? eq(sessions.userId, userId) : undefined,
      );
      return (
        (await revokeWhere(and(where, gt(sessions.expiresAt, now)), reason, now))
          .length > 0
      );
    },

    // Each on its own, side by side (see rotateRefreshTokens).
    async revokeSessionsByTokens(revocations) {
      return Promise.all(revocations.map((r) => settle(revokeByToken(r))));
    },

    async revokeUserSessions(userId, reason, now, exceptSessionId) {
      const where = and(
        eq(sessions.userId, userId),
        exceptSessionId ? ne(sessions.id, exceptSessionId) : undefined,
      );
      return (await revokeWhere(where, reason, now)).length;
    },
  };
}
