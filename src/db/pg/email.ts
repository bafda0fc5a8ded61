/**
 * Mailed tokens on PostgreSQL. Spending a token is one conditional UPDATE
 * inside the transaction that acts on it: the row lock it takes makes a
 * second request with the same token wait, then find it spent.
 */
import { and, eq, gt, isNull } from "drizzle-orm";
import type { EmailTokenKind, EmailTokenStore } from "../../core/ports.ts";
import type { PgDb } from "../connect.ts";
import { toUser } from "../mappers.ts";
import { emailTokens, outbox, users } from "../schema/pg.ts";

type Tx = Parameters<Parameters<PgDb["transaction"]>[0]>[0];

/** Spends a live token of `kind` inside `tx`; the user id, or null. */
async function spend(tx: Tx, kind: EmailTokenKind, tokenHash: string, now: Date) {
  const [row] = await tx
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
    .returning({ userId: emailTokens.userId });
  return row?.userId ?? null;
}

export function createPgEmailTokenStore(db: PgDb): EmailTokenStore {
  return {
    async issueEmailToken({ token, mail }) {
      await db.transaction(async (tx) => {
        await tx
          .insert(emailTokens)
          .values({ ...token, usedAt: null })
          .onConflictDoUpdate({
            target: [emailTokens.userId, emailTokens.kind],
            set: {
              tokenHash: token.tokenHash,
              createdAt: token.createdAt,
              expiresAt: token.expiresAt,
              usedAt: null,
            },
          });
        await tx.insert(outbox).values(mail);
      });
    },

    async findEmailTokenUser(kind, tokenHash, now) {
      const [row] = await db
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
        );
      return row ? toUser(row.user) : null;
    },

    async resetPasswordWithToken(tokenHash, passwordHash, now) {
      return db.transaction(async (tx) => {
        const userId = await spend(tx, "reset", tokenHash, now);
        if (!userId) return null;
        const [row] = await tx
          .update(users)
          .set({ passwordHash, emailVerified: true, updatedAt: now })
          .where(eq(users.id, userId))
          .returning();
        return row ? toUser(row) : null;
      });
    },

    async verifyEmailWithToken(tokenHash, now) {
      return db.transaction(async (tx) => {
        const userId = await spend(tx, "verify", tokenHash, now);
        if (!userId) return null;
        const [row] = await tx
          .update(users)
          .set({ emailVerified: true, updatedAt: now })
          .where(eq(users.id, userId))
          .returning();
        return row ? toUser(row) : null;
      });
    },
  };
}
