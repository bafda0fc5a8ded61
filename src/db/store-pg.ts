/**
 * The stores on PostgreSQL. Atomic operations run in one transaction that
 * locks the rows it decides on (`SELECT … FOR UPDATE`), so concurrent
 * refreshes of one token — from any number of daemons — serialise on that row.
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
import type { PgDb } from "./connect.ts";
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
} from "./schema/pg.ts";
import type { Store } from "./store.ts";

// Serialises key creation and rotation across daemons and the CLI.
const KEYS_LOCK = sql`select pg_advisory_xact_lock(72031142)`;

export function createPgStore(db: PgDb): Store {
  const liveToken = (now: Date) =>
    and(
      isNull(refreshTokens.usedAt),
      isNull(refreshTokens.revokedAt),
      gt(refreshTokens.expiresAt, now),
    );

  // The authentication fast path, prepared once (a named server-side statement).
  const liveSessionQuery = db
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
    .prepare("live_session");

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

  return {
    async ping() {
      await db.execute(sql`select 1`);
    },

    async insertUser(user) {
      try {
        await db.insert(users).values(user);
      } catch (e) {
        if (isUniqueViolation(e))
          throw new AuthError("email_taken", "an account with this email exists");
        throw e;
      }
    },
    async findUserByEmail(email) {
      const [row] = await db.select().from(users).where(eq(users.email, email));
      return row ? toUser(row) : null;
    },
    async findUserById(id) {
      const [row] = await db.select().from(users).where(eq(users.id, id));
      return row ? toUser(row) : null;
    },
    async updateUser(id, patch, now) {
      const [row] = await db
        .update(users)
        .set({ ...patch, updatedAt: now })
        .where(eq(users.id, id))
        .returning();
      return row ? toUser(row) : null;
    },
    async deleteUser(id) {
      return (
        (await db.delete(users).where(eq(users.id, id)).returning({ id: users.id }))
          .length > 0
      );
    },
    async insertUsersIfAbsent(records) {
      if (records.length === 0) return [];
      return db.transaction(async (tx) => {
        const rows = await tx
          .insert(users)
          .values(records)
          .onConflictDoNothing({ target: users.email })
          .returning({ email: users.email });
        return rows.map((r) => r.email);
      });
    },
    async listUsers(f) {
      const rows = await db
        .select()
        .from(users)
        .where(
          and(
            f.email !== undefined ? eq(users.email, f.email) : undefined,
            f.q !== undefined
              ? or(
                  sql`${users.email} ilike ${containsPattern(f.q)}`,
                  sql`${users.name} ilike ${containsPattern(f.q)}`,
                )
              : undefined,
            f.role !== undefined
              ? sql`${users.roles} @> ${JSON.stringify([f.role])}::jsonb`
              : undefined,
            f.disabled !== undefined ? eq(users.disabled, f.disabled) : undefined,
            f.afterId !== undefined ? gt(users.id, f.afterId) : undefined,
          ),
        )
        .orderBy(asc(users.id))
        .limit(f.limit);
      return rows.map(toUser);
    },

    async createSession(session, token) {
      await db.transaction(async (tx) => {
        await tx.insert(sessions).values(session);
        await tx
          .insert(refreshTokens)
          .values({ ...token, sessionId: session.id, createdAt: session.createdAt });
      });
    },

    async rotateRefreshToken(input): Promise<RotateResult> {
      const { now } = input;
      return db.transaction(async (tx): Promise<RotateResult> => {
        // Lock order is session, then its tokens — the order revocations use
        // (UPDATE sessions, then UPDATE refresh_tokens). Locking the token row
        // first deadlocks against a concurrent logout or reuse revocation.
        await tx
          .select({ id: sessions.id })
          .from(sessions)
          .where(
            inArray(
              sessions.id,
              tx
                .select({ id: refreshTokens.sessionId })
                .from(refreshTokens)
                .where(eq(refreshTokens.tokenHash, input.tokenHash)),
            ),
          )
          .for("update");
        const [found] = await tx
          .select({ token: refreshTokens, session: sessions, user: users })
          .from(refreshTokens)
          .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
          .innerJoin(users, eq(users.id, sessions.userId))
          .where(eq(refreshTokens.tokenHash, input.tokenHash))
          .for("update", { of: [refreshTokens, sessions] });
        const decision = decideRotation(found, now, input.reuseIntervalMs);
        if (!found || decision === "invalid") return { kind: "invalid" };
        const session = toSession(found.session);
        const user = toUser(found.user);
        if (decision === "revoke") {
          await tx
            .update(sessions)
            .set({ revokedAt: now, revokeReason: "refresh_token_reuse" })
            .where(eq(sessions.id, session.id));
          await tx
            .update(refreshTokens)
            .set({ revokedAt: now })
            .where(
              and(
                eq(refreshTokens.sessionId, session.id),
                isNull(refreshTokens.revokedAt),
              ),
            );
          return { kind: "reuse_detected", sessionId: session.id, userId: user.id };
        }
        if (decision === "reuse") {
          const [successor] = await tx
            .select({ expiresAt: refreshTokens.expiresAt })
            .from(refreshTokens)
            .where(eq(refreshTokens.id, found.token.successorId ?? ""));
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
        await tx
          .update(refreshTokens)
          .set({
            usedAt: now,
            successorId: input.successor.id,
            successorSealed: input.successorSealed,
          })
          .where(eq(refreshTokens.id, found.token.id));
        await tx.insert(refreshTokens).values({
          ...input.successor,
          sessionId: session.id,
          createdAt: now,
          expiresAt,
        });
        await tx
          .update(sessions)
          .set({ lastUsedAt: now })
          .where(eq(sessions.id, session.id));
        return {
          kind: "rotated",
          session: { ...session, lastUsedAt: now },
          user,
          expiresAt,
        };
      });
    },

    async findLiveSession(sessionId, userId, now) {
      const [row] = await liveSessionQuery.execute({
        sid: sessionId,
        uid: userId,
        now: now.toISOString(),
      });
      return row ? { session: toSession(row.s), user: toUser(row.u) } : null;
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

    async revokeSessionByToken(hash, reason, now) {
      const [row] = await db
        .select({ sessionId: refreshTokens.sessionId, userId: sessions.userId })
        .from(refreshTokens)
        .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
        .where(eq(refreshTokens.tokenHash, hash));
      if (!row) return null;
      return (await revokeWhere(eq(sessions.id, row.sessionId), reason, now)).length > 0
        ? row
        : null;
    },

    async revokeUserSessions(userId, reason, now, exceptSessionId) {
      const where = and(
        eq(sessions.userId, userId),
        exceptSessionId ? ne(sessions.id, exceptSessionId) : undefined,
      );
      return (await revokeWhere(where, reason, now)).length;
    },

    async listKeys() {
      return (
        await db.select().from(signingKeys).orderBy(asc(signingKeys.createdAt))
      ).map(toKey);
    },
    async insertInitialKeys(current, next) {
      return db.transaction(async (tx) => {
        await tx.execute(KEYS_LOCK);
        const [existing] = await tx
          .select()
          .from(signingKeys)
          .where(eq(signingKeys.state, "current"));
        if (existing) return false;
        await tx.insert(signingKeys).values([current, next]);
        return true;
      });
    },
    async rotateKeys(expectedNext, newNext, now) {
      return db.transaction(async (tx) => {
        await tx.execute(KEYS_LOCK);
        const [next] = await tx
          .select({ kid: signingKeys.kid })
          .from(signingKeys)
          .where(eq(signingKeys.state, "next"));
        if (next?.kid !== expectedNext) return false;
        await tx
          .update(signingKeys)
          .set({ state: "retired", retiredAt: now })
          .where(eq(signingKeys.state, "current"));
        await tx
          .update(signingKeys)
          .set({ state: "current", activatedAt: now })
          .where(eq(signingKeys.state, "next"));
        await tx.insert(signingKeys).values(newNext);
        return true;
      });
    },
    async deleteKeys(kids) {
      if (kids.length === 0) return 0;
      const where = and(
        inArray(signingKeys.kid, kids),
        eq(signingKeys.state, "retired"),
      );
      return (
        await db.delete(signingKeys).where(where).returning({ kid: signingKeys.kid })
      ).length;
    },

    async appendAudit(event) {
      await db.insert(auditEvents).values(event);
    },
    async listAudit(f) {
      const rows = await db
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
        .limit(f.limit);
      return rows.map(toAudit);
    },
  };
}
