/** The users part of the PostgreSQL store. */
import { and, asc, eq, gt, or, type SQL, sql } from "drizzle-orm";
import { AuthError } from "../../core/errors.ts";
import type { UserStore } from "../../core/ports.ts";
import type { PgDb } from "../connect.ts";
import { isEmailTaken, prefixPattern, toUser } from "../mappers.ts";
import {
  auditEvents,
  emailTokens,
  outbox,
  refreshTokens,
  sessions,
  users,
} from "../schema/pg.ts";

const emailTaken = () =>
  new AuthError("email_taken", "an account with this email exists");

/** Users holding `role` (served by the GIN index on roles). */
export const hasRole = (role: string): SQL =>
  sql`${users.roles} @> ${JSON.stringify([role])}::jsonb`;

export function createPgUserStore(db: PgDb): UserStore {
  const p = sql.placeholder;
  // The statements of register and login, prepared once, by name.
  const byEmail = db
    .select()
    .from(users)
    .where(eq(users.email, p("email")))
    .prepare("user_by_email");
  const insert = db
    .insert(users)
    .values({
      id: p("id"),
      email: p("email"),
      emailVerified: p("emailVerified"),
      name: p("name"),
      passwordHash: p("passwordHash"),
      roles: p("roles"),
      disabled: p("disabled"),
      createdAt: p("createdAt"),
      updatedAt: p("updatedAt"),
    })
    .prepare("insert_user");
  return {
    async insertUser(user) {
      try {
        await insert.execute({ ...user });
      } catch (e) {
        if (isEmailTaken(e)) throw emailTaken();
        throw e;
      }
    },
    async createUserWithSession(user, session, token, event, mail) {
      try {
        await db.transaction(async (tx) => {
          await tx.insert(users).values(user);
          await tx.insert(sessions).values(session);
          await tx
            .insert(refreshTokens)
            .values({ ...token, sessionId: session.id, createdAt: session.createdAt });
          await tx.insert(auditEvents).values(event);
          if (mail) {
            await tx.insert(emailTokens).values({ ...mail.token, usedAt: null });
            await tx.insert(outbox).values(mail.mail);
          }
        });
      } catch (e) {
        if (isEmailTaken(e)) throw emailTaken();
        throw e;
      }
    },
    async renameUserEmail(id, from, to, now) {
      try {
        const rows = await db
          .update(users)
          .set({ email: to, updatedAt: now })
          .where(and(eq(users.id, id), eq(users.email, from)))
          .returning({ id: users.id });
        return rows.length > 0 ? "renamed" : "changed";
      } catch (e) {
        if (isEmailTaken(e)) return "taken";
        throw e;
      }
    },
    async findUserByEmail(email) {
      const [row] = await byEmail.execute({ email });
      return row ? toUser(row) : null;
    },
    async findUserById(id) {
      const [row] = await db.select().from(users).where(eq(users.id, id));
      return row ? toUser(row) : null;
    },
    async updateUser(id, patch, now) {
      if (patch.passwordHash === undefined) {
        const [row] = await db
          .update(users)
          .set({ ...patch, updatedAt: now })
          .where(eq(users.id, id))
          .returning();
        return row ? toUser(row) : null;
      }
      // A reset token goes with the password it was issued for.
      const [row] = await db.transaction(async (tx) => {
        await tx
          .delete(emailTokens)
          .where(and(eq(emailTokens.userId, id), eq(emailTokens.kind, "reset")));
        return tx
          .update(users)
          .set({ ...patch, updatedAt: now })
          .where(eq(users.id, id))
          .returning();
      });
      return row ? toUser(row) : null;
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
            // Emails are stored lower-cased; names are compared lower-cased.
            // Both prefixes are served by text_pattern_ops indexes.
            f.q !== undefined
              ? or(
                  sql`${users.email} like ${prefixPattern(f.q.toLowerCase())}`,
                  sql`lower(${users.name}) like ${prefixPattern(f.q.toLowerCase())}`,
                )
              : undefined,
            f.role !== undefined ? hasRole(f.role) : undefined,
            f.disabled !== undefined ? eq(users.disabled, f.disabled) : undefined,
            f.afterId !== undefined ? gt(users.id, f.afterId) : undefined,
          ),
        )
        .orderBy(asc(users.id))
        .limit(f.limit);
      return rows.map(toUser);
    },
  };
}
