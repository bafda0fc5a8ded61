/**
 * One store object per database, implementing every port the core needs.
 * Built by `createStore`, which picks the dialect's implementation.
 */
import type { AuditStore, KeyStore, SessionStore, UserStore } from "../core/ports.ts";
import type { Database } from "./connect.ts";
import { createPgStore } from "./store-pg.ts";
import { createSqliteStore } from "./store-sqlite.ts";

export interface Store extends UserStore, SessionStore, KeyStore, AuditStore {
  /** A trivial round-trip: does storage answer? */
  ping(): Promise<void>;
}

export const createStore = (database: Database): Store =>
  database.dialect === "pg"
    ? createPgStore(database.db)
    : createSqliteStore(database.db);
