/**
 * The stores on SQLite. bun:sqlite transactions are synchronous, so every
 * atomic operation is one synchronous `transaction(…, { behavior: "immediate" })`
 * (the write lock is taken at BEGIN, which serialises writers across processes)
 * with no await inside.
 */
import {
  and,
  asc,
  desc,
  eq,
  gt,
  inArray,
  isNull,
  lt,
  ne,
  or,
  type SQL,
  sql,
} from "drizzle-orm";
import { AuthError } from "../core/errors.ts";
import type { RotateResult } from "../core/ports.ts";
import type { SqliteDb } from "./connect.ts";
import {
  containsPattern,
  isUniqueViolation,
  toAudit,
  toKey,
  toSession,
  toUser,
} from "./mappers.ts";
import { decideRotation } from "./rotation.ts";
import {
  auditEvents,
  refreshTokens,
  sessions,
  signingKeys,
  users,
} from "./schema/sqlite.ts";
import type { Store } from "./store.ts";

const IMMEDIATE = { behavior: "immediate" } as const;

export function createSqliteStore(db: SqliteDb): Store {
  const liveToken = (now: Date) =>
    and(
      isNull(refreshTokens.usedAt),
      isNull(refreshTokens.revokedAt),
      gt(refreshTokens.expiresAt, now),
    );

  // The authentication fast path, prepared once, on first use (after migrations).
  const prepareLiveSession = () =>
    db
      .select({ s: sessions, u: users })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(
        and(
          eq(sessions.id, sql.placeholder("sid")),
          eq(sessions.userId, sql.placeholder("uid")),
          isNull(sessions.revokedAt),
          gt(sessions.expiresAt, sql.placeholder("now")),
          eq(users.disabled, false),
        ),
      )
      .prepare();
  let liveSessionQuery: ReturnType<typeof prepareLiveSession> | undefined;

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

  return {
    async ping() {
      db.get(sql`select 1`);
    },

    async insertUser(user) {
      try {
        db.insert(users).values(user).run();
      } catch (e) {
        if (isUniqueViolation(e))
          throw new AuthError("email_taken", "an account with this email exists");
        throw e;
      }
    },
    async findUserByEmail(email) {
      const row = db.select().from(users).where(eq(users.email, email)).get();
      return row ? toUser(row) : null;
    },
    async findUserById(id) {
      const row = db.select().from(users).where(eq(users.id, id)).get();
      return row ? toUser(row) : null;
    },
    async updateUser(id, patch, now) {
      const row = db
        .update(users)
        .set({ ...patch, updatedAt: now })
        .where(eq(users.id, id))
        .returning()
        .get();
      return row ? toUser(row) : null;
    },
    async deleteUser(id) {
      return (
        db.delete(users).where(eq(users.id, id)).returning({ id: users.id }).all()
          .length > 0
      );
    },
    async insertUsersIfAbsent(records) {
      return db.transaction(
        (tx) =>
          records.flatMap((r) =>
            tx
              .insert(users)
              .values(r)
              .onConflictDoNothing({ target: users.email })
              .returning({ email: users.email })
              .all()
              .map((x) => x.email),
          ),
        IMMEDIATE,
      );
    },
    async listUsers(f) {
      const rows = db
        .select()
        .from(users)
        .where(
          and(
            f.email !== undefined ? eq(users.email, f.email) : undefined,
            f.q !== undefined
              ? or(
                  sql`${users.email} like ${containsPattern(f.q)} escape '\\'`,
                  sql`${users.name} like ${containsPattern(f.q)} escape '\\'`,
                )
              : undefined,
            f.role !== undefined
              ? sql`exists (select 1 from json_each(${users.roles}) where value = ${f.role})`
              : undefined,
            f.disabled !== undefined ? eq(users.disabled, f.disabled) : undefined,
            f.afterId !== undefined ? gt(users.id, f.afterId) : undefined,
          ),
        )
        .orderBy(asc(users.id))
        .limit(f.limit)
        .all();
      return rows.map(toUser);
    },

    async createSession(session, token) {
      db.transaction((tx) => {
        tx.insert(sessions).values(session).run();
        tx.insert(refreshTokens)
          .values({ ...token, sessionId: session.id, createdAt: session.createdAt })
          .run();
      }, IMMEDIATE);
    },

    async rotateRefreshToken(input): Promise<RotateResult> {
      const { now } = input;
      return db.transaction((tx): RotateResult => {
        const found = tx
          .select({ token: refreshTokens, session: sessions, user: users })
          .from(refreshTokens)
          .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
          .innerJoin(users, eq(users.id, sessions.userId))
          .where(eq(refreshTokens.tokenHash, input.tokenHash))
          .get();
        const decision = decideRotation(found, now, input.reuseIntervalMs);
        if (!found || decision === "invalid") return { kind: "invalid" };
        const session = toSession(found.session);
        const user = toUser(found.user);
        if (decision === "revoke") {
          tx.update(sessions)
            .set({ revokedAt: now, revokeReason: "refresh_token_reuse" })
            .where(eq(sessions.id, session.id))
            .run();
          tx.update(refreshTokens)
            .set({ revokedAt: now })
            .where(
              and(
                eq(refreshTokens.sessionId, session.id),
                isNull(refreshTokens.revokedAt),
              ),
            )
            .run();
          return { kind: "reuse_detected", sessionId: session.id, userId: user.id };
        }
        if (decision === "reuse") {
          const successor = tx
            .select({ expiresAt: refreshTokens.expiresAt })
            .from(refreshTokens)
            .where(eq(refreshTokens.id, found.token.successorId ?? ""))
            .get();
          return {
            kind: "reused",
            session,
            user,
            successorSealed: found.token.successorSealed ?? "",
            expiresAt: successor?.expiresAt ?? now,
          };
        }
        const expiresAt = new Date(
          Math.min(now.getTime() + input.idleTtlMs, session.expiresAt.getTime()),
        );
        tx.update(refreshTokens)
          .set({
            usedAt: now,
            successorId: input.successor.id,
            successorSealed: input.successorSealed,
          })
          .where(eq(refreshTokens.id, found.token.id))
          .run();
        tx.insert(refreshTokens)
          .values({
            ...input.successor,
            sessionId: session.id,
            createdAt: now,
            expiresAt,
          })
          .run();
        tx.update(sessions)
          .set({ lastUsedAt: now })
          .where(eq(sessions.id, session.id))
          .run();
        return {
          kind: "rotated",
          session: { ...session, lastUsedAt: now },
          user,
          expiresAt,
        };
      }, IMMEDIATE);
    },

    async findLiveSession(sessionId, userId, now) {
      liveSessionQuery ??= prepareLiveSession();
      const row = liveSessionQuery.get({
        sid: sessionId,
        uid: userId,
        now: now.getTime(),
      });
      return row ? { session: toSession(row.s), user: toUser(row.u) } : null;
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

    async revokeSessionByToken(hash, reason, now) {
      const row = db
        .select({ sessionId: refreshTokens.sessionId, userId: sessions.userId })
        .from(refreshTokens)
        .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
        .where(eq(refreshTokens.tokenHash, hash))
        .get();
      if (!row) return null;
      return revokeWhere(eq(sessions.id, row.sessionId), reason, now).length > 0
        ? row
        : null;
    },

    async revokeUserSessions(userId, reason, now, exceptSessionId) {
      const where = and(
        eq(sessions.userId, userId),
        exceptSessionId ? ne(sessions.id, exceptSessionId) : undefined,
      );
      return revokeWhere(where, reason, now).length;
    },

    async listKeys() {
      return db
        .select()
        .from(signingKeys)
        .orderBy(asc(signingKeys.createdAt))
        .all()
        .map(toKey);
    },
    async insertInitialKeys(current, next) {
      return db.transaction((tx) => {
        const existing = tx
          .select()
          .from(signingKeys)
          .where(eq(signingKeys.state, "current"))
          .get();
        if (existing) return false;
        tx.insert(signingKeys).values([current, next]).run();
        return true;
      }, IMMEDIATE);
    },
    async rotateKeys(expectedNext, newNext, now) {
      return db.transaction((tx) => {
        const next = tx
          .select({ kid: signingKeys.kid })
          .from(signingKeys)
          .where(eq(signingKeys.state, "next"))
          .get();
        if (next?.kid !== expectedNext) return false;
        tx.update(signingKeys)
          .set({ state: "retired", retiredAt: now })
          .where(eq(signingKeys.state, "current"))
          .run();
        tx.update(signingKeys)
          .set({ state: "current", activatedAt: now })
          .where(eq(signingKeys.state, "next"))
          .run();
        tx.insert(signingKeys).values(newNext).run();
        return true;
      }, IMMEDIATE);
    },
    async deleteKeys(kids) {
      if (kids.length === 0) return 0;
      const where = and(
        inArray(signingKeys.kid, kids),
        eq(signingKeys.state, "retired"),
      );
      return db
        .delete(signingKeys)
        .where(where)
        .returning({ kid: signingKeys.kid })
        .all().length;
    },

    async appendAudit(event) {
      db.insert(auditEvents).values(event).run();
    },
    async listAudit(f) {
      return db
        .select()
        .from(auditEvents)
        .where(
          and(
            f.userId !== undefined ? eq(auditEvents.userId, f.userId) : undefined,
            f.action !== undefined ? eq(auditEvents.action, f.action) : undefined,
            f.beforeId !== undefined ? lt(auditEvents.id, f.beforeId) : undefined,
          ),
        )
        .orderBy(desc(auditEvents.id))
        .limit(f.limit)
        .all()
        .map(toAudit);
    },
  };
}
