/**
 * Mailed tokens on SQLite. Each decision is one synchronous IMMEDIATE
 * transaction (./tx.ts): the conditional UPDATE that spends a token is the
 * only way to use one, so of two requests with the same token one finds it
 * live and the other finds it spent.
 */
import { and, eq, gt, isNull } from "drizzle-orm";
import type { EmailTokenKind, EmailTokenStore } from "../../core/ports.ts";
import type { SqliteDb } from "../connect.ts";
import { toUser } from "../mappers.ts";
import { emailTokens, outbox, users } from "../schema/sqlite.ts";
import { IMMEDIATE } from "./tx.ts";

type Tx = Parameters<Parameters<SqliteDb["transaction"]>[0]>[0];

/** Spends a live token of `kind` inside `tx`; the user id, or null. */
function spend(tx: Tx, kind: EmailTokenKind, tokenHash: string, now: Date) {
  return (
    tx
      .update(emailTokens)
      .set({ usedAt: now })
      .where(
        and(
          eq(emailTokens.tokenHash, tokenHash),
          eq(emailTokens.kind, kind),
          isNull(emailTokens.usedAt),
          gt(emailTokens.expiresAt, now),
        ),
      )
      .returning({ userId: emailTokens.userId })
      .get()?.userId ?? null
  );
}

export function createSqliteEmailTokenStore(db: SqliteDb): EmailTokenStore {
  return {
    async issueEmailToken({ token, mail }) {
      db.transaction((tx) => {
        tx.insert(emailTokens)
          .values({ ...token, usedAt: null })
          .onConflictDoUpdate({
            target: [emailTokens.userId, emailTokens.kind],
            set: {
              tokenHash: token.tokenHash,
              createdAt: token.createdAt,
              expiresAt: token.expiresAt,
              usedAt: null,
            },
          })
          .run();
        tx.insert(outbox).values(mail).run();
      }, IMMEDIATE);
    },

    async findEmailTokenUser(kind, tokenHash, now) {
      const row = db
        .select({ user: users })
        .from(emailTokens)
        .innerJoin(users, eq(users.id, emailTokens.userId))
        .where(
          and(
            eq(emailTokens.tokenHash, tokenHash),
            eq(emailTokens.kind, kind),
            isNull(emailTokens.usedAt),
            gt(emailTokens.expiresAt, now),
          ),
        )
        .get();
      return row ? toUser(row.user) : null;
    },

    async resetPasswordWithToken(tokenHash, passwordHash, now) {
      return db.transaction((tx) => {
        const userId = spend(tx, "reset", tokenHash, now);
        if (!userId) return null;
        const row = tx
          .update(users)
          .set({ passwordHash, emailVerified: true, updatedAt: now })
          .where(eq(users.id, userId))
          .returning()
          .get();
        return row ? toUser(row) : null;
      }, IMMEDIATE);
    },

    async verifyEmailWithToken(tokenHash, now) {
      return db.transaction((tx) => {
        const userId = spend(tx, "verify", tokenHash, now);
        if (!userId) return null;
        const row = tx
          .update(users)
          .set({ emailVerified: true, updatedAt: now })
          .where(eq(users.id, userId))
          .returning()
          .get();
        return row ? toUser(row) : null;
      }, IMMEDIATE);
    },
  };
}
