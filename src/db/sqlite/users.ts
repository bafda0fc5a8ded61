/** The users part of the SQLite store. */
import { and, asc, eq, gt, or, type SQL, sql } from "drizzle-orm";
import { AuthError } from "../../core/errors.ts";
import type { UserStore } from "../../core/ports.ts";
import type { SqliteDb } from "../connect.ts";
import { isEmailTaken, prefixPattern, toUser } from "../mappers.ts";
import {
  auditEvents,
  emailTokens,
  outbox,
  refreshTokens,
  sessions,
  users,
} from "../schema/sqlite.ts";
import { lazily } from "./lazy.ts";
import { IMMEDIATE } from "./tx.ts";

const emailTaken = () =>
  new AuthError("email_taken", "an account with this email exists");

/** Users holding `role` (roles is a JSON array in a text column). */
export const hasRole = (role: string): SQL =>
  sql`exists (select 1 from json_each(${users.roles}) where value = ${role})`;

export function createSqliteUserStore(db: SqliteDb): UserStore {
  const p = sql.placeholder;
  // The statements of register and login, prepared on first use (after migrations).
  const q = lazily({
    byEmail: () =>
      db
        .select()
        .from(users)
        .where(eq(users.email, p("email")))
        .prepare(),
    insert: () =>
      db
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
        .prepare(),
  });
  return {
    async insertUser(user) {
      try {
        q.insert.run({ ...user });
      } catch (e) {
        if (isEmailTaken(e)) throw emailTaken();
        throw e;
      }
    },
    async createUserWithSession(user, session, token, event, mail) {
      try {
        db.transaction((tx) => {
          tx.insert(users).values(user).run();
          tx.insert(sessions).values(session).run();
          tx.insert(refreshTokens)
            .values({ ...token, sessionId: session.id, createdAt: session.createdAt })
            .run();
          tx.insert(auditEvents).values(event).run();
          if (mail) {
            tx.insert(emailTokens)
              .values({ ...mail.token, usedAt: null })
              .run();
            tx.insert(outbox).values(mail.mail).run();
          }
        }, IMMEDIATE);
      } catch (e) {
        if (isEmailTaken(e)) throw emailTaken();
        throw e;
      }
    },
    async renameUserEmail(id, from, to, now) {
      try {
        const rows = db
          .update(users)
          .set({ email: to, updatedAt: now })
          .where(and(eq(users.id, id), eq(users.email, from)))
          .returning({ id: users.id })
          .all();
        return rows.length > 0 ? "renamed" : "changed";
      } catch (e) {
        if (isEmailTaken(e)) return "taken";
        throw e;
      }
    },
    async findUserByEmail(email) {
      const row = q.byEmail.get({ email });
      return row ? toUser(row) : null;
    },
    async findUserById(id) {
      const row = db.select().from(users).where(eq(users.id, id)).get();
      return row ? toUser(row) : null;
    },
    async updateUser(id, patch, now) {
      const row = db.transaction((tx) => {
        if (patch.passwordHash !== undefined) {
          tx.delete(emailTokens)
            .where(and(eq(emailTokens.userId, id), eq(emailTokens.kind, "reset")))
            .run();
        }
        return tx
          .update(users)
          .set({ ...patch, updatedAt: now })
          .where(eq(users.id, id))
          .returning()
          .get();
      }, IMMEDIATE);
      return row ? toUser(row) : null;
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
            // SQLite's LIKE ignores case (ASCII only), and with the NOCASE
            // indexes on email and name a prefix pattern is an index range.
            f.q !== undefined
              ? or(
                  sql`${users.email} like ${prefixPattern(f.q)} escape '\\'`,
                  sql`${users.name} like ${prefixPattern(f.q)} escape '\\'`,
                )
              : undefined,
            f.role !== undefined ? hasRole(f.role) : undefined,
            f.disabled !== undefined ? eq(users.disabled, f.disabled) : undefined,
            f.afterId !== undefined ? gt(users.id, f.afterId) : undefined,
          ),
        )
        .orderBy(asc(users.id))
        .limit(f.limit)
        .all();
      return rows.map(toUser);
    },
  };
}
