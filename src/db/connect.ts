/**
 * Opens the configured database: bun:sqlite (WAL, foreign keys, busy timeout)
 * or PostgreSQL through postgres.js. The only place that knows drivers.
 */
import { Database as SqliteClient } from "bun:sqlite";
import { existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import type { PostgresJsDatabase } from "drizzle-orm/postgres-js";
import type postgres from "postgres";
import { StartupError } from "../infra/startup-error.ts";
import type * as pgSchema from "./schema/pg.ts";
import type * as sqliteSchema from "./schema/sqlite.ts";

export type SqliteDb = BunSQLiteDatabase<typeof sqliteSchema> & {
  $client: SqliteClient;
};
export type PgDb = PostgresJsDatabase<typeof pgSchema>;

export type Database =
  | { dialect: "sqlite"; db: SqliteDb; client: SqliteClient; close(): Promise<void> }
  | { dialect: "pg"; db: PgDb; client: postgres.Sql; close(): Promise<void> };

export interface ConnectOptions {
  url: string;
  poolMax?: number;
  /** How long a SQLite writer waits for another process's lock. */
  busyTimeoutMs?: number;
  /**
   * Whether a missing SQLite file (and its directory) may be made: yes for the
   * daemon and `authctl migrate up`; no for every other authctl command, which
   * must not leave an empty database behind a typo in DATABASE_URL.
   */
  create?: boolean;
}

/**
 * Puts the file in WAL mode, which then stays with the file. Converting takes
 * an exclusive lock, and two processes that both hold a shared lock and both
 * ask for it deadlock: SQLite answers one of them SQLITE_BUSY at once, without
 * the busy handler (daemons started together on a fresh file met exactly
 * that). So the mode is read first (a file already in WAL needs nothing), and
 * a conversion that meets another opener waits a moment and looks again,
 * within the busy timeout. A file that cannot be WAL (`:memory:`) keeps the
 * mode SQLite gives it.
 */
export function useWal(client: SqliteClient, busyTimeoutMs: number): void {
  const deadline = Date.now() + busyTimeoutMs;
  for (;;) {
    try {
      const mode = client
        .query<{ journal_mode: string }, []>("PRAGMA journal_mode")
        .get();
      if (mode?.journal_mode !== "wal") client.exec("PRAGMA journal_mode = WAL");
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== "SQLITE_BUSY" || Date.now() > deadline)
        throw e;
      Bun.sleepSync(5);
    }
  }
}

/**
 * Each dialect's driver and schema are loaded here, when that dialect is
 * opened, and through `import()`: a daemon holds one dialect's modules, not
 * both, and the module loader reads them in parallel. (`require` would load
 * them one by one, and Drizzle's CommonJS build beside its ES modules: ~95 ms
 * against ~30 ms on PostgreSQL, docs/performance.md.)
 */
export async function openDatabase({
  url,
  poolMax = 10,
  busyTimeoutMs = 5000,
  create = true,
}: ConnectOptions): Promise<Database> {
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length);
    if (path !== ":memory:") {
      if (create) mkdirSync(dirname(path), { recursive: true });
      else if (!existsSync(path))
        throw new StartupError(
          `the database ${url} does not exist: run \`authctl migrate up\` or start the daemon to create it`,
        );
    }
    const [{ drizzle: drizzleSqlite }, schema] = await Promise.all([
      import("drizzle-orm/bun-sqlite"),
      import("./schema/sqlite.ts"),
    ]);
    const client = new SqliteClient(path, { create, readwrite: true, strict: true });
    client.exec(`PRAGMA busy_timeout = ${Math.floor(busyTimeoutMs)}`);
    useWal(client, busyTimeoutMs);
    client.exec("PRAGMA synchronous = NORMAL");
    client.exec("PRAGMA foreign_keys = ON");
    const db = drizzleSqlite({ client, schema });
    return { dialect: "sqlite", db, client, close: async () => client.close() };
  }
  const [{ default: connect }, { drizzle: drizzlePg }, schema] = await Promise.all([
    import("postgres"),
    import("drizzle-orm/postgres-js"),
    import("./schema/pg.ts"),
  ]);
  const client = connect(url, {
    max: poolMax,
    onnotice: () => {},
    connect_timeout: 10,
    // postgres.js would ask every new connection for the catalog's array
    // types, to parse array columns and bind JavaScript arrays; no statement
    // here has either (Drizzle binds an `inArray` list one parameter each).
    // On a fresh backend that query is a round trip and ~8 ms of catalog
    // reading, paid by the start-up's first connection and each one the pool
    // opens under load (docs/performance.md, "Start-up on PostgreSQL, a fifth look").
    fetch_types: false,
  });
  const db = drizzlePg({ client: preparingEveryStatement(client), schema });
  return { dialect: "pg", db, client, close: () => client.end({ timeout: 5 }) };
}

/** What `preparingEveryStatement` touches of a postgres.js client. */
interface StatementSender {
  unsafe(
    query: string,
    parameters?: unknown[],
    options?: { prepare?: boolean },
  ): unknown;
  begin?(...args: unknown[]): unknown;
  savepoint?(...args: unknown[]): unknown;
}

/**
 * Makes every statement Drizzle sends through `sql` (and through the
 * transactions and savepoints it opens) a named, server-side prepared
 * statement, by changing `sql` in place (the client `openDatabase` returns is
 * the same object). Drizzle sends a statement that was not `.prepare(name)`d as
 * postgres.js's `unsafe` with `prepare: false`: an unnamed statement, which
 * PostgreSQL parses and plans on every execution. That is every statement
 * inside a transaction (a Drizzle prepared query belongs to the pool, not to
 * a transaction's connection) and every `db.execute`: the refresh rotation,
 * the logout, registration. Named, postgres.js parses each statement once per
 * connection and PostgreSQL keeps its plan when a generic one serves (after
 * five executions). POST /auth/refresh on PostgreSQL: 1,133 → 1,814 req/s in
 * full bench runs, logout 1,929 → 2,955 (docs/performance.md, "Unnamed
 * statements").
 * A statement without parameters stays on the simple protocol, as before.
 */
export function preparingEveryStatement<S extends object>(sql: S): S {
  const sender = sql as S & StatementSender;
  const unsafe = sender.unsafe.bind(sender);
  sender.unsafe = (query, parameters, options) =>
    unsafe(query, parameters, { ...options, prepare: true });
  for (const key of ["begin", "savepoint"] as const) {
    const open = sender[key]?.bind(sender);
    if (!open) continue;
    // The callback is the last argument; it gets the transaction's own client.
    sender[key] = (...args: unknown[]) => {
      const body = args.at(-1) as (tx: object) => unknown;
      return open(...args.slice(0, -1), (tx: object) =>
        body(preparingEveryStatement(tx)),
      );
    };
  }
  return sql;
}
