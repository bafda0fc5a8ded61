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

/**
 * The methods that answer a batch with one outcome per call (`Settled`): the
 * storage policy maps each failed call's error as it maps a thrown one
 * (infra/resilience.ts `withPolicy`).
 */
export const SETTLED_BATCHES: ReadonlySet<keyof Store> = new Set<keyof Store>([
  "rotateRefreshTokens",
  "revokeSessionsByTokens",
  "appendAudits",
]);

/** Loads only the open dialect's store (as ./connect.ts its driver). */
export async function createStore(database: Database): Promise<Store> {
  if (database.dialect === "pg") {
    const { createPgStore } = await import("./pg/index.ts");
    return createPgStore(database.db);
  }
  const { createSqliteStore } = await import("./sqlite/index.ts");
  return createSqliteStore(database.db);
}
