/** The sessions part of the SQLite store. */
import { and, desc, eq, gt, inArray, isNull, ne, type SQL, sql } from "drizzle-orm";
import type {
  EndedSession,
  LiveSession,
  LiveSessionLookup,
  RotateInput,
  RotateResult,
  SessionStore,
  Settled,
  TokenRevocation,
} from "../../core/ports.ts";
import type { SqliteDb } from "../connect.ts";
import { toSession } from "../mappers.ts";
import { planRotation } from "../rotation.ts";
import { refreshTokens, sessions, users } from "../schema/sqlite.ts";
import { lazily } from "./lazy.ts";
import { groupCommit, IMMEDIATE } from "./tx.ts";

/** Raw rows of the authentication fast path (SQLite column names and types). */
interface SessionRow {
  id: string;
  user_id: string;
  created_at: number;
  last_used_at: number;
  expires_at: number;
  ip: string | null;
  user_agent: string | null;
}
interface UserRow {
  id: string;
  email: string;
  email_verified: number;
  name: string | null;
  password_hash: string | null;
  roles: string;
  disabled: number;
  created_at: number;
  updated_at: number;
}

export function createSqliteSessionStore(db: SqliteDb): SessionStore {
  const liveToken = (now: Date) =>
    and(
      isNull(refreshTokens.usedAt),
      isNull(refreshTokens.revokedAt),
      gt(refreshTokens.expiresAt, now),
    );

  const p = sql.placeholder;
  // Drizzle's `set` takes no placeholder; wrapped in SQL it does, but then the
  // value is passed as the driver sees it (timestamps in milliseconds).
  const raw = (name: string) => sql`${p(name)}`;
  // Every statement of the request paths (authenticate, refresh, logout,
  // login), prepared once, on first use: preparing needs the tables, which
  // exist only after migrations. Building a statement with Drizzle's query
  // builder costs more than running it (docs/performance.md).
  const q = lazily({
    // The authentication fast path, on bun:sqlite directly: two primary-key
    // reads cost a sixth of the same lookup as a join (SQLite plans a join
    // with more machinery than two point reads need), and Drizzle's spread
    // of parameters costs more than either (docs/performance.md).
    liveSession: () =>
      db.$client.prepare<SessionRow, [string, string, number]>(
        `select id, user_id, created_at, last_used_at, expires_at, ip, user_agent
       from sessions
       where id = ? and user_id = ? and revoked_at is null and expires_at > ?`,
      ),
    liveUser: () =>
      db.$client.prepare<UserRow, [string]>(
        `select id, email, email_verified, name, password_hash, roles, disabled,
         created_at, updated_at
       from users where id = ? and disabled = 0`,
      ),
    insertSession: () =>
      db
        .insert(sessions)
        .values({
          id: p("id"),
          userId: p("userId"),
          createdAt: p("createdAt"),
          lastUsedAt: p("createdAt"),
          expiresAt: p("expiresAt"),
          ip: p("ip"),
          userAgent: p("userAgent"),
        })
        .prepare(),
    insertToken: () =>
      db
        .insert(refreshTokens)
        .values({
          id: p("id"),
          sessionId: p("sessionId"),
          tokenHash: p("tokenHash"),
          createdAt: p("createdAt"),
          expiresAt: p("expiresAt"),
        })
        .prepare(),
    findByToken: () =>
      db
        .select({ token: refreshTokens, session: sessions, user: users })
        .from(refreshTokens)
        .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
        .innerJoin(users, eq(users.id, sessions.userId))
        .where(eq(refreshTokens.tokenHash, p("hash")))
        .prepare(),
    successor: () =>
      db
        .select({
          usedAt: refreshTokens.usedAt,
          revokedAt: refreshTokens.revokedAt,
          expiresAt: refreshTokens.expiresAt,
        })
        .from(refreshTokens)
        .where(eq(refreshTokens.id, p("id")))
        .prepare(),
    spendToken: () =>
      db
        .update(refreshTokens)
        .set({
          usedAt: raw("now"),
          successorId: raw("successorId"),
          successorSealed: raw("successorSealed"),
        })
        .where(eq(refreshTokens.id, p("id")))
        .prepare(),
    touchSession: () =>
      db
        .update(sessions)
        .set({ lastUsedAt: raw("now") })
        .where(eq(sessions.id, p("id")))
        .prepare(),
    // Logout in one statement: the session of a token hash, if still live.
    revokeByToken: () =>
      db
        .update(sessions)
        .set({ revokedAt: raw("now"), revokeReason: raw("reason") })
        .where(
          and(
            inArray(
              sessions.id,
              db
                .select({ id: refreshTokens.sessionId })
                .from(refreshTokens)
                .where(eq(refreshTokens.tokenHash, p("hash"))),
            ),
            isNull(sessions.revokedAt),
          ),
        )
        .returning({ sessionId: sessions.id, userId: sessions.userId })
        .prepare(),
    revokeSession: () =>
      db
        .update(sessions)
        .set({ revokedAt: raw("now"), revokeReason: raw("reason") })
        .where(and(eq(sessions.id, p("id")), isNull(sessions.revokedAt)))
        .prepare(),
    revokeTokens: () =>
      db
        .update(refreshTokens)
        .set({ revokedAt: raw("now") })
        .where(
          and(
            eq(refreshTokens.sessionId, p("sessionId")),
            isNull(refreshTokens.revokedAt),
          ),
        )
        .prepare(),
  });

  function revokeWhere(where: SQL | undefined, reason: string, now: Date): string[] {
    return db.transaction((tx) => {
      const ended = tx
        .update(sessions)
        .set({ revokedAt: now, revokeReason: reason })
        .where(and(where, isNull(sessions.revokedAt)))
        .returning({ id: sessions.id })
        .all()
        .map((r) => r.id);
      if (ended.length > 0) {
        tx.update(refreshTokens)
          .set({ revokedAt: now })
          .where(
            and(
              inArray(refreshTokens.sessionId, ended),
              isNull(refreshTokens.revokedAt),
            ),
          )
          .run();
      }
      return ended;
    }, IMMEDIATE);
  }

  /**
   * One session lookup: two primary-key reads, always run inside the read
   * transaction of `findLiveSessions` below, so both see one snapshot: another
   * process deleting the user in between cannot leave a session without its
   * user (a deleted or disabled user reads as "not live", as a join would).
   */
  const readLive = (
    sessionId: string,
    userId: string,
    now: Date,
  ): LiveSession | null => {
    const { liveSession, liveUser } = q;
    const s = liveSession.get(sessionId, userId, now.getTime());
    if (!s) return null;
    const u = liveUser.get(userId);
    if (!u) return null;
    return {
      session: {
        id: s.id,
        userId: s.user_id,
        createdAt: new Date(s.created_at),
        lastUsedAt: new Date(s.last_used_at),
        expiresAt: new Date(s.expires_at),
        revokedAt: null,
        ip: s.ip,
        userAgent: s.user_agent,
      },
      user: {
        id: u.id,
        email: u.email,
        emailVerified: u.email_verified === 1,
        name: u.name,
        passwordHash: u.password_hash,
        roles: JSON.parse(u.roles) as string[],
        disabled: false,
        createdAt: new Date(u.created_at),
        updatedAt: new Date(u.updated_at),
      },
    };
  };
  /**
   * One rotation's reads, decision and writes, inside the caller's
   * transaction (IMMEDIATE: the write lock is held from the first read).
   */
  function rotateIn(input: RotateInput): RotateResult {
    const { now } = input;
    const s = q;
    const found = s.findByToken.get({ hash: input.tokenHash });
    // The successor of a spent token, in the same IMMEDIATE transaction.
    const successor = found?.token.successorId
      ? s.successor.get({ id: found.token.successorId })
      : undefined;
    const plan = planRotation(found, input, successor);
    if (plan.write === "revoke") {
      const at = now.getTime();
      s.revokeSession.run({
        id: plan.sessionId,
        now: at,
        reason: "refresh_token_reuse",
      });
      s.revokeTokens.run({ sessionId: plan.sessionId, now: at });
    } else if (plan.write === "rotate") {
      s.spendToken.run({
        id: plan.tokenId,
        now: now.getTime(),
        successorId: input.successor.id,
        successorSealed: input.successorSealed,
      });
      s.insertToken.run({
        ...input.successor,
        sessionId: plan.sessionId,
        createdAt: now,
        expiresAt: plan.expiresAt,
      });
      s.touchSession.run({ id: plan.sessionId, now: now.getTime() });
    }
    return plan.result;
  }

  // Group commits (./tx.ts), made on first use like the statements above.
  let rotateAll: ((inputs: RotateInput[]) => Settled<RotateResult>[]) | undefined;
  let revokeAll:
    | ((revocations: TokenRevocation[]) => Settled<EndedSession | null>[])
    | undefined;

  // The lookups of a batch (the core hands over those of one turn of the
  // event loop, core/per-turn.ts) run in one read transaction: each read
  // outside a transaction opens and closes its own WAL snapshot, which cost
  // five times the two reads themselves (12.5–14.6 µs against 2.3 µs a
  // lookup, docs/performance.md). A DEFERRED transaction that only reads
  // takes no write lock. Made on first use, like the statements above.
  let readAll: ((lookups: LiveSessionLookup[]) => (LiveSession | null)[]) | undefined;

  return {
    async createSession(session, token) {
      const { insertSession, insertToken } = q;
      db.transaction(() => {
        insertSession.run({
          id: session.id,
          userId: session.userId,
          createdAt: session.createdAt,
          expiresAt: session.expiresAt,
          ip: session.ip,
          userAgent: session.userAgent,
        });
        insertToken.run({
          ...token,
          sessionId: session.id,
          createdAt: session.createdAt,
        });
      }, IMMEDIATE);
    },

    async rotateRefreshTokens(inputs): Promise<Settled<RotateResult>[]> {
      rotateAll ??= groupCommit(db.$client, rotateIn);
      return rotateAll(inputs);
    },

    async findLiveSessions(lookups) {
      readAll ??= db.$client.transaction((batch: LiveSessionLookup[]) =>
        batch.map((l) => readLive(l.sessionId, l.userId, l.now)),
      );
      return readAll(lookups);
    },

    async listLiveSessions(userId, now) {
      const rows = db
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
        .orderBy(desc(sessions.lastUsedAt))
        .all();
      return rows.map((r) => ({ ...toSession(r.s), expiresAt: r.tokenExpiresAt }));
    },

    async revokeSession(sessionId, userId, reason, now) {
      const where = and(
        eq(sessions.id, sessionId),
        userId ? eq(sessions.userId, userId) : undefined,
      );
      return (
        revokeWhere(and(where, gt(sessions.expiresAt, now)), reason, now).length > 0
      );
    },

    async revokeSessionsByTokens(revocations) {
      revokeAll ??= groupCommit(
        db.$client,
        ({ tokenHash, reason, now }: TokenRevocation) => {
          const at = now.getTime();
          const ended = q.revokeByToken.get({ hash: tokenHash, now: at, reason });
          if (ended) q.revokeTokens.run({ sessionId: ended.sessionId, now: at });
          return ended ?? null;
        },
      );
      return revokeAll(revocations);
    },

    async revokeUserSessions(userId, reason, now, exceptSessionId) {
      const where = and(
        eq(sessions.userId, userId),
        exceptSessionId ? ne(sessions.id, exceptSessionId) : undefined,
      );
      return revokeWhere(where, reason, now).length;
    },
  };
}
