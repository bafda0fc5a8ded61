/**
 * The store on PostgreSQL, assembled from one part per aggregate. Atomic
 * operations run in one transaction that locks the rows it decides on
 * (`SELECT … FOR UPDATE`), so concurrent refreshes of one token — from any
 * number of daemons — serialise on that row.
 */
import { sql } from "drizzle-orm";
import type { PgDb } from "../connect.ts";
import type { Store } from "../store.ts";
import { createPgAuditStore } from "./audit.ts";
import { createPgEmailTokenStore } from "./email.ts";
import { createPgKeyStore } from "./keys.ts";
import { createPgLimitStore } from "./limits.ts";
import { createPgOutboxStore } from "./outbox.ts";
import { createPgSessionStore } from "./sessions.ts";
import { createPgUserAdminStore } from "./user-admin.ts";
import { createPgUserStore } from "./users.ts";

export function createPgStore(db: PgDb): Store {
  return {
    async ping() {
      await db.execute(sql`select 1`);
    },
    ...createPgUserStore(db),
    ...createPgUserAdminStore(db),
    ...createPgSessionStore(db),
    ...createPgKeyStore(db),
    ...createPgAuditStore(db),
    ...createPgLimitStore(db),
    ...createPgEmailTokenStore(db),
    ...createPgOutboxStore(db),
  };
}
