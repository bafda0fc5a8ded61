/**
 * Opens the configured database: bun:sqlite (WAL, foreign keys, busy timeout)
 * or PostgreSQL through postgres.js. The only place that knows drivers.
 */
import { Database as SqliteClient } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import {
  type BunSQLiteDatabase,
  drizzle as drizzleSqlite,
} from "drizzle-orm/bun-sqlite";
import { drizzle as drizzlePg, type PostgresJsDatabase } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import * as pgSchema from "./schema/pg.ts";
import * as sqliteSchema from "./schema/sqlite.ts";

export type SqliteDb = BunSQLiteDatabase<typeof sqliteSchema>;
export type PgDb = PostgresJsDatabase<typeof pgSchema>;

export type Database =
  | { dialect: "sqlite"; db: SqliteDb; client: SqliteClient; close(): Promise<void> }
  | { dialect: "pg"; db: PgDb; client: postgres.Sql; close(): Promise<void> };

export interface ConnectOptions {
  url: string;
  poolMax?: number;
  /** How long a SQLite writer waits for another process's lock. */
  busyTimeoutMs?: number;
}

export function openDatabase({
  url,
  poolMax = 10,
  busyTimeoutMs = 5000,
}: ConnectOptions): Database {
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length);
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    const client = new SqliteClient(path, { create: true, strict: true });
    client.exec(`PRAGMA busy_timeout = ${Math.floor(busyTimeoutMs)}`);
    client.exec("PRAGMA journal_mode = WAL");
    client.exec("PRAGMA synchronous = NORMAL");
    client.exec("PRAGMA foreign_keys = ON");
    const db = drizzleSqlite({ client, schema: sqliteSchema });
    return { dialect: "sqlite", db, client, close: async () => client.close() };
  }
  const client = postgres(url, {
    max: poolMax,
    onnotice: () => {},
    connect_timeout: 10,
  });
  const db = drizzlePg({ client, schema: pgSchema });
  return { dialect: "pg", db, client, close: () => client.end({ timeout: 5 }) };
}
