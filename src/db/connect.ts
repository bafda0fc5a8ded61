/**
 * Opens the configured database: bun:sqlite (WAL, foreign keys, busy timeout)
 * or PostgreSQL through postgres.js. The only place that knows drivers.
 */
import { Database as SqliteClient } from "bun:sqlite";
import { existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import {
  type BunSQLiteDatabase,
  drizzle as drizzleSqlite,
} from "drizzle-orm/bun-sqlite";
import type { PostgresJsDatabase } from "drizzle-orm/postgres-js";
import type postgres from "postgres";
import { StartupError } from "../infra/startup-error.ts";
import * as pgSchema from "./schema/pg.ts";
import * as sqliteSchema from "./schema/sqlite.ts";

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

export function openDatabase({
  url,
  poolMax = 10,
  busyTimeoutMs = 5000,
  create = true,
}: ConnectOptions): Database {
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length);
    if (path !== ":memory:") {
      if (create) mkdirSync(dirname(path), { recursive: true });
      else if (!existsSync(path))
        throw new StartupError(
          `the database ${url} does not exist: run \`authctl migrate up\` or start the daemon to create it`,
        );
    }
    const client = new SqliteClient(path, { create, readwrite: true, strict: true });
    client.exec(`PRAGMA busy_timeout = ${Math.floor(busyTimeoutMs)}`);
    client.exec("PRAGMA journal_mode = WAL");
    client.exec("PRAGMA synchronous = NORMAL");
    client.exec("PRAGMA foreign_keys = ON");
    const db = drizzleSqlite({ client, schema: sqliteSchema });
    return { dialect: "sqlite", db, client, close: async () => client.close() };
  }
  // Loaded only for PostgreSQL: a SQLite daemon never holds the pg driver in
  // memory (about 8 MB of resident memory, docs/performance.md).
  const driver = require("postgres") as { default?: typeof postgres } & typeof postgres;
  const connect = driver.default ?? driver;
  const { drizzle: drizzlePg } =
    require("drizzle-orm/postgres-js") as typeof import("drizzle-orm/postgres-js");
  const client = connect(url, {
    max: poolMax,
    onnotice: () => {},
    connect_timeout: 10,
  });
  const db = drizzlePg({ client, schema: pgSchema });
  return { dialect: "pg", db, client, close: () => client.end({ timeout: 5 }) };
}
