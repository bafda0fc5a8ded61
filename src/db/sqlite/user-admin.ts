/**
 * Changes to users that could take away the last active admin, on SQLite:
 * each is one synchronous IMMEDIATE transaction, which holds the database's
 * write lock from the first read, so the check and the change cannot be
 * interleaved with another writer (another request, the CLI).
 */
import { and, count, eq, ne } from "drizzle-orm";
import type { GuardedChange, UserAdminStore, UserPatch } from "../../core/ports.ts";
import { ADMIN_ROLE, removesActiveAdmin } from "../../core/roles.ts";
import type { SqliteDb } from "../connect.ts";
import { toUser } from "../mappers.ts";
import { users } from "../schema/sqlite.ts";
import { IMMEDIATE } from "./tx.ts";
import { hasRole } from "./users.ts";

type Tx = Parameters<Parameters<SqliteDb["transaction"]>[0]>[0];

export function createSqliteUserAdminStore(db: SqliteDb): UserAdminStore {
  /** Reads the user and applies `apply` only if an active admin remains. */
  function guarded(
    id: string,
    patch: UserPatch | null,
    apply: (tx: Tx) => ReturnType<typeof toUser> | null,
  ): GuardedChange {
    return db.transaction((tx): GuardedChange => {
      const row = tx.select().from(users).where(eq(users.id, id)).get();
      if (!row) return { kind: "not_found" };
      const before = toUser(row);
      if (removesActiveAdmin(before, patch ? { ...before, ...patch } : null)) {
        const others = tx
          .select({ n: count() })
          .from(users)
          .where(and(ne(users.id, id), eq(users.disabled, false), hasRole(ADMIN_ROLE)))
          .get();
        if ((others?.n ?? 0) === 0) return { kind: "last_admin", before };
      }
      return { kind: "done", before, after: apply(tx) };
    }, IMMEDIATE);
  }

  return {
    async updateUserKeepingAdmin(id, patch, now) {
      return guarded(id, patch, (tx) => {
        const row = tx
          .update(users)
          .set({ ...patch, updatedAt: now })
          .where(eq(users.id, id))
          .returning()
          .get();
        return row ? toUser(row) : null;
      });
    },

    async deleteUserKeepingAdmin(id) {
      return guarded(id, null, (tx) => {
        tx.delete(users).where(eq(users.id, id)).run();
        return null;
      });
    },
  };
}
