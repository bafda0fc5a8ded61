/**
 * The store on SQLite, assembled from one part per aggregate. Every atomic
 * operation is one synchronous IMMEDIATE transaction (see ./tx.ts).
 */
import { sql } from "drizzle-orm";
import type { SqliteDb } from "../connect.ts";
import type { Store } from "../store.ts";
import { createSqliteAuditStore } from "./audit.ts";
import { createSqliteEmailTokenStore } from "./email.ts";
import { createSqliteKeyStore } from "./keys.ts";
import { createSqliteLimitStore } from "./limits.ts";
import { createSqliteOutboxStore } from "./outbox.ts";
import { createSqliteSessionStore } from "./sessions.ts";
import { createSqliteUserAdminStore } from "./user-admin.ts";
import { createSqliteUserStore } from "./users.ts";

export function createSqliteStore(db: SqliteDb): Store {
  return {
    async ping() {
      db.get(sql`select 1`);
    },
    ...createSqliteUserStore(db),
    ...createSqliteUserAdminStore(db),
    ...createSqliteSessionStore(db),
    ...createSqliteKeyStore(db),
    ...createSqliteAuditStore(db),
    ...createSqliteLimitStore(db),
    ...createSqliteEmailTokenStore(db),
    ...createSqliteOutboxStore(db),
  };
}
