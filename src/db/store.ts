/**
 * One store object per database, implementing every port the core needs.
 * Built by `createStore`, which picks the dialect's implementation.
 */
import type {
  AuditStore,
  EmailTokenStore,
  KeyStore,
  LimitStore,
  OutboxStore,
  SessionStore,
  UserAdminStore,
  UserStore,
} from "../core/ports.ts";
import type { Database } from "./connect.ts";
import { createPgStore } from "./pg/index.ts";
import { createSqliteStore } from "./sqlite/index.ts";

export interface Store
  extends UserStore,
    UserAdminStore,
    SessionStore,
    KeyStore,
    AuditStore,
    LimitStore,
    EmailTokenStore,
    OutboxStore {
  /** A trivial round-trip: does storage answer? */
  ping(): Promise<void>;
}

export const createStore = (database: Database): Store =>
  database.dialect === "pg"
    ? createPgStore(database.db)
    : createSqliteStore(database.db);
