/**
 * The dialects a suite runs on: in-memory SQLite always, PostgreSQL too when
 * TEST_DATABASE_URL is set. Each PostgreSQL suite gets a database of its own,
 * created fresh and dropped afterwards, so files can run in any order.
 */
import postgres from "postgres";

export type Dialect = "sqlite" | "pg";

export const PG_URL = process.env.TEST_DATABASE_URL?.trim() || undefined;

export const DIALECTS: Dialect[] = PG_URL ? ["sqlite", "pg"] : ["sqlite"];

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

function withDatabase(base: string, name: string): string {
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A fresh, empty PostgreSQL database on the TEST_DATABASE_URL server. */
export async function createPgDatabase(): Promise<TestDatabase> {
  if (!PG_URL) throw new Error("TEST_DATABASE_URL is not set");
  const name = `authd_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  return {
    url: withDatabase(PG_URL, name),
    async drop() {
      const a = postgres(PG_URL, { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await a.end();
      }
    },
  };
}

/** A database URL for the dialect: a fresh pg database, or a SQLite file/memory URL. */
export async function createTestDatabase(
  dialect: Dialect,
  sqlitePath = ":memory:",
): Promise<TestDatabase> {
  if (dialect === "pg") return createPgDatabase();
  return { url: `sqlite:${sqlitePath}`, drop: async () => {} };
}
