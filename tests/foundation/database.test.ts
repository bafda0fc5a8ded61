import {
  afterAll,
  afterEach,
  describe,
  expect,
  setDefaultTimeout,
  test,
} from "bun:test";
import { cpSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { is, sql } from "drizzle-orm";
import { PgTable, getTableConfig as pgTableConfig } from "drizzle-orm/pg-core";
import {
  SQLiteTable,
  getTableConfig as sqliteTableConfig,
} from "drizzle-orm/sqlite-core";
import { loadConfig } from "../../src/config.ts";
import { type Container, createContainer } from "../../src/container.ts";
import { type Database, openDatabase } from "../../src/db/connect.ts";
import {
  migrateUp,
  migrationStatus,
  migrationsCurrent,
  PG_MIGRATION_LOCK_KEY,
} from "../../src/db/migrate.ts";
import * as pgSchema from "../../src/db/schema/pg.ts";
import * as sqliteSchema from "../../src/db/schema/sqlite.ts";
import { createLogger } from "../../src/infra/logger.ts";
import { createPgDatabase, DIALECTS, type TestDatabase } from "../helpers/databases.ts";
import { TEST_ENV } from "../helpers/harness.ts";

// Some tests run drizzle-kit and migrators as processes, on a busy machine: generous.
setDefaultTimeout(120_000);

const REPO = resolve(import.meta.dir, "../..");

/** A dialect-neutral description of a table: what both schema files must agree on. */
interface TableShape {
  name: string;
  columns: {
    name: string;
    dataType: string;
    notNull: boolean;
    primary: boolean;
    unique: boolean;
    hasDefault: boolean;
  }[];
  indexes: { name: string; unique: boolean; columns: string[]; partial: boolean }[];
  /** Composite primary keys (a one-column key is `primary` on its column). */
  primaryKeys: string[][];
  foreignKeys: {
    columns: string[];
    table: string;
    foreignColumns: string[];
    onDelete: string;
  }[];
}

type AnyConfig =
  | ReturnType<typeof pgTableConfig>
  | ReturnType<typeof sqliteTableConfig>;

function shape(config: AnyConfig, tableName: (t: unknown) => string): TableShape {
  return {
    name: config.name,
    columns: config.columns
      .map((c) => ({
        name: c.name,
        dataType: c.dataType,
        notNull: c.notNull,
        primary: c.primary,
        unique: c.isUnique,
        hasDefault: c.hasDefault,
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    indexes: config.indexes
      .map((i) => ({
        name: i.config.name ?? "",
        unique: Boolean(i.config.unique),
        columns: i.config.columns.map((c) => ("name" in c ? String(c.name) : "?")),
        partial: i.config.where !== undefined,
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    primaryKeys: config.primaryKeys.map((pk) => pk.columns.map((c) => c.name)),
    foreignKeys: config.foreignKeys.map((fk) => {
      const ref = fk.reference();
      return {
        columns: ref.columns.map((c) => c.name),
        table: tableName(ref.foreignTable),
        foreignColumns: ref.foreignColumns.map((c) => c.name),
        onDelete: fk.onDelete ?? "no action",
      };
    }),
  };
}

const pgTables = () =>
  Object.values(pgSchema as Record<string, unknown>)
    .filter((t): t is PgTable => is(t, PgTable))
    .map((t) => shape(pgTableConfig(t), (f) => pgTableConfig(f as PgTable).name))
    .sort((a, b) => a.name.localeCompare(b.name));

const sqliteTables = () =>
  Object.values(sqliteSchema as Record<string, unknown>)
    .filter((t): t is SQLiteTable => is(t, SQLiteTable))
    .map((t) =>
      shape(sqliteTableConfig(t), (f) => sqliteTableConfig(f as SQLiteTable).name),
    )
    .sort((a, b) => a.name.localeCompare(b.name));

describe("the two schema files", () => {
  test("declare the same tables, columns, keys and indexes", () => {
    const pg = pgTables();
    expect(pg.map((t) => t.name)).toEqual([
      "audit_events",
      "email_tokens",
      "known_ips",
      "outbox",
      "rate_limits",
      "refresh_tokens",
      "sessions",
      "signing_keys",
      "users",
    ]);
    // Indexes with no counterpart in the other dialect, each for a reason.
    const pgOnly = new Set([
      "users_roles_idx", // GIN over jsonb: SQLite has no inverted index
      // Every budget hit sets expires_at; on SQLite keeping this index was a
      // third of a hit's cost, and one daemon's sweep can scan instead.
      "rate_limits_expires_idx",
    ]);
    const mirrored = pg.map((t) => ({
      ...t,
      indexes: t.indexes.filter((i) => !pgOnly.has(i.name)),
    }));
    expect(sqliteTables()).toEqual(mirrored);
  });

  test("every table has columns and a primary key", () => {
    for (const t of pgTables()) {
      expect(t.columns.length).toBeGreaterThan(1);
      const keys = t.columns.filter((c) => c.primary).length + t.primaryKeys.length;
      expect({ table: t.name, keys }).toEqual({ table: t.name, keys: 1 });
    }
  });
});

describe("generated migrations", () => {
  const tmp = mkdtempSync(join(tmpdir(), "authd-drizzle-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  for (const [dialect, kitDialect] of [
    ["sqlite", "sqlite"],
    ["pg", "postgresql"],
  ] as const) {
    test(`drizzle-kit generate finds nothing new for ${dialect}`, async () => {
      // On a copy, so a drifted schema shows up here instead of in drizzle/.
      const out = join(tmp, dialect);
      cpSync(join(REPO, "drizzle", dialect), out, { recursive: true });
      const before = readdirSync(out).sort();
      const proc = Bun.spawn(
        [
          join(REPO, "node_modules/.bin/drizzle-kit"),
          "generate",
          `--dialect=${kitDialect}`,
          `--schema=./src/db/schema/${dialect}.ts`,
          // drizzle-kit prefixes "./", so the folder must be relative.
          `--out=${relative(REPO, out)}`,
        ],
        { cwd: REPO, stdout: "pipe", stderr: "pipe", stdin: "ignore" },
      );
      const [code, stdout, stderr] = await Promise.all([
        proc.exited,
        new Response(proc.stdout).text(),
        new Response(proc.stderr).text(),
      ]);
      expect({ code, stderr: code === 0 ? "" : stderr }).toEqual({
        code: 0,
        stderr: "",
      });
      expect(stdout).toContain("No schema changes");
      expect(readdirSync(out).sort()).toEqual(before);
    });
  }
});

/** A fresh database for the dialect: a pg database, or a new SQLite file. */
async function freshDatabase(dialect: "sqlite" | "pg"): Promise<TestDatabase> {
  if (dialect === "pg") return createPgDatabase();
  const dir = mkdtempSync(join(tmpdir(), "authd-db-"));
  return {
    url: `sqlite:${join(dir, "auth.db")}`,
    drop: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

async function appliedRows(database: Database): Promise<number> {
  if (database.dialect === "pg") {
    const rows = await database.db.execute<{ n: string }>(
      sql`select count(*) as n from "drizzle"."__drizzle_migrations"`,
    );
    return Number(rows[0]?.n);
  }
  const row = database.client
    .query<{ n: number }, []>('select count(*) as n from "__drizzle_migrations"')
    .get();
  return Number(row?.n);
}

for (const dialect of DIALECTS) {
  describe(`migrations [${dialect}]`, () => {
    let fresh: TestDatabase;
    const open: Database[] = [];
    const connect = async () => {
      const d = await openDatabase({ url: fresh.url });
      open.push(d);
      return d;
    };
    afterEach(async () => {
      for (const d of open.splice(0)) await d.close();
      await fresh.drop();
    });

    test("apply in order, report status, and are idempotent", async () => {
      fresh = await freshDatabase(dialect);
      const db = await connect();
      const before = await migrationStatus(db);
      expect(before.length).toBeGreaterThan(0);
      expect(before.every((m) => !m.applied)).toBe(true);
      expect(await migrationsCurrent(db)).toBe(false);

      const applied = await migrateUp(db);
      expect(applied).toEqual(before.map((m) => m.name));
      const after = await migrationStatus(db);
      expect(after.map((m) => [m.name, m.applied])).toEqual(
        before.map((m) => [m.name, true]),
      );
      expect(await migrationsCurrent(db)).toBe(true);

      expect(await migrateUp(db)).toEqual([]);
      expect(await appliedRows(db)).toBe(before.length);
    });

    test("two migrators at once: both succeed, each step applied once", async () => {
      fresh = await freshDatabase(dialect);
      const all = (await migrationStatus(await connect())).map((m) => m.name);
      let results: string[][];
      if (dialect === "pg") {
        const [one, two] = [await connect(), await connect()];
        results = await Promise.all([migrateUp(one), migrateUp(two)]);
      } else {
        // bun:sqlite is synchronous: true concurrency needs two processes.
        const children = [migratorChild(fresh.url), migratorChild(fresh.url)];
        // Both have connected before either may start: a barrier, not a clock.
        await Promise.all(children.map((c) => c.ready));
        results = await Promise.all(children.map((c) => c.go()));
      }
      expect(results.flat().sort()).toEqual([...all].sort());
      const db = await connect();
      expect(await migrationsCurrent(db)).toBe(true);
      expect(await appliedRows(db)).toBe(all.length);
    });

    test("a start on a current database does not wait for the migration lock", async () => {
      fresh = await freshDatabase(dialect);
      const config = loadConfig({ ...TEST_ENV, DATABASE_URL: fresh.url });
      const logger = createLogger("silent");
      // The first start migrates and makes the signing keys.
      const first = await createContainer(config, {
        logger,
        database: await connect(),
      });
      expect((await first.prepare({ migrate: true })).length).toBeGreaterThan(0);
      await first.close();

      // Another process holds the lock a migration takes (`authctl migrate up`
      // of a newer release, say), and keeps it.
      const holder = await openDatabase({ url: fresh.url, poolMax: 1 });
      open.push(holder);
      if (holder.dialect === "pg")
        await holder.db.execute(sql`select pg_advisory_lock(${PG_MIGRATION_LOCK_KEY})`);
      else holder.client.exec("BEGIN IMMEDIATE");

      // A second start: every migration it knows is applied, so it reads and
      // serves. (Taking the lock, it would wait on PostgreSQL for as long as
      // the holder keeps it, and on SQLite give up after the busy timeout.)
      const second = await createContainer(config, {
        logger,
        database: await openDatabase({ url: fresh.url, busyTimeoutMs: 100 }),
      });
      open.push(second.database);
      const waited = Bun.sleep(20_000).then(() => "still waiting for the lock");
      expect(await Promise.race([second.prepare({ migrate: true }), waited])).toEqual(
        [],
      );
      expect(second.keyring.state().signing).not.toBeNull();
      expect(await appliedRows(second.database)).toBe(
        (await migrationStatus(second.database)).length,
      );
      await second.close();
      if (holder.dialect === "pg")
        await holder.db.execute(
          sql`select pg_advisory_unlock(${PG_MIGRATION_LOCK_KEY})`,
        );
      else holder.client.exec("ROLLBACK");
    });
  });
}

/**
 * A process that connects, says "ready", waits for a line on stdin, then runs
 * migrateUp; `go()` sends that line and resolves with the names it applied.
 */
function migratorChild(url: string) {
  const script = `
    import { openDatabase } from ${JSON.stringify(join(REPO, "src/db/connect.ts"))};
    import { migrateUp } from ${JSON.stringify(join(REPO, "src/db/migrate.ts"))};
    const db = await openDatabase({ url: ${JSON.stringify(url)} });
    console.log("ready");
    for await (const _ of console) break;
    const applied = await migrateUp(db);
    await db.close();
    console.log(JSON.stringify(applied));`;
  const proc = Bun.spawn([process.execPath, "-e", script], {
    cwd: REPO,
    stdout: "pipe",
    stderr: "pipe",
    stdin: "pipe",
  });
  let out = "";
  const ready = Promise.withResolvers<void>();
  const stdoutDone = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stdout) {
      out += decoder.decode(chunk, { stream: true });
      if (out.includes("ready\n")) ready.resolve();
    }
  })();
  const stderr = new Response(proc.stderr).text();
  void proc.exited.then(async (code) => {
    await stdoutDone;
    ready.reject(
      new Error(`migrator exited ${code} before it was ready: ${await stderr}`),
    );
  });
  return {
    ready: ready.promise,
    async go(): Promise<string[]> {
      proc.stdin.write("go\n");
      await proc.stdin.end();
      const code = await proc.exited;
      await stdoutDone;
      if (code !== 0) throw new Error(`migrator exited ${code}: ${await stderr}`);
      return JSON.parse(out.trim().split("\n").at(-1) ?? "[]");
    },
  };
}

describe("SQLite connection settings", () => {
  let dir: string;
  let container: Container;
  afterEach(async () => {
    await container.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a file database runs in WAL mode with foreign keys on and a busy timeout", async () => {
    dir = mkdtempSync(join(tmpdir(), "authd-pragma-"));
    const config = loadConfig({
      ...TEST_ENV,
      DATABASE_URL: `sqlite:${join(dir, "nested", "auth.db")}`,
    });
    container = await createContainer(config, { logger: createLogger("silent") });
    await container.prepare({ migrate: true });
    const database = container.database;
    if (database.dialect !== "sqlite") throw new Error("expected SQLite");
    const pragma = (name: string) =>
      Object.values(database.client.query(`PRAGMA ${name}`).get() as object)[0];

    expect(pragma("journal_mode")).toBe("wal");
    expect(pragma("foreign_keys")).toBe(1);
    expect(Number(pragma("busy_timeout"))).toBeGreaterThanOrEqual(1000);
    expect(pragma("synchronous")).toBe(1); // NORMAL: safe with WAL

    // Foreign keys are enforced, not just declared.
    const now = Date.now();
    expect(() =>
      database.client
        .query(
          "insert into sessions (id, user_id, created_at, last_used_at, expires_at) values (?, ?, ?, ?, ?)",
        )
        .run("s1", "no-such-user", now, now, now),
    ).toThrow(/FOREIGN KEY/);
  });
});
