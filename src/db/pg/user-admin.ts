/**
 * Changes to users that could take away the last active admin, on
 * PostgreSQL. Each runs in one transaction that first takes an advisory
 * lock shared by every such change, so they serialise across daemons and the
 * CLI: the count of the other active admins is read after the previous
 * change committed (READ COMMITTED takes a fresh snapshot per statement),
 * and two admins demoting each other at once cannot both pass the check.
 */
import { and, count, eq, ne, sql } from "drizzle-orm";
import type { GuardedChange, UserAdminStore, UserPatch } from "../../core/ports.ts";
import { ADMIN_ROLE, removesActiveAdmin } from "../../core/roles.ts";
import type { PgDb } from "../connect.ts";
import { toUser } from "../mappers.ts";
import { users } from "../schema/pg.ts";
import { hasRole } from "./users.ts";

const ADMINS_LOCK = sql`select pg_advisory_xact_lock(72031143)`;

type Tx = Parameters<Parameters<PgDb["transaction"]>[0]>[0];

export function createPgUserAdminStore(db: PgDb): UserAdminStore {
  /** Locks, reads the user, and applies `apply` only if an active admin remains. */
  function guarded(
    id: string,
    patch: UserPatch | null,
    apply: (tx: Tx) => Promise<ReturnType<typeof toUser> | null>,
  ): Promise<GuardedChange> {
    return db.transaction(async (tx): Promise<GuardedChange> => {
      await tx.execute(ADMINS_LOCK);
      const [row] = await tx.select().from(users).where(eq(users.id, id)).for("update");
      if (!row) return { kind: "not_found" };
      const before = toUser(row);
      if (removesActiveAdmin(before, patch ? { ...before, ...patch } : null)) {
        const [others] = await tx
          .select({ n: count() })
          .from(users)
          .where(and(ne(users.id, id), eq(users.disabled, false), hasRole(ADMIN_ROLE)));
        if ((others?.n ?? 0) === 0) return { kind: "last_admin", before };
      }
      return { kind: "done", before, after: await apply(tx) };
    });
  }

  return {
    updateUserKeepingAdmin: (id, patch, now) =>
      guarded(id, patch, async (tx) => {
        const [row] = await tx
          .update(users)
          .set({ ...patch, updatedAt: now })
          .where(eq(users.id, id))
          .returning();
        return row ? toUser(row) : null;
      }),

    deleteUserKeepingAdmin: (id) =>
      guarded(id, null, async (tx) => {
        await tx.delete(users).where(eq(users.id, id));
        return null;
      }),
  };
}
