/**
 * The migrations the code carries (src/db/embedded-migrations.ts, what the
 * daemon, authctl and the standalone binaries apply) are exactly the ones in
 * drizzle/: a migration generated without `npm run db:generate`'s embedding
 * step fails here, not in production.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { openDatabase } from "../../src/db/connect.ts";
import {
  EMBEDDED_FILE,
  renderEmbeddedMigrations,
} from "../../src/db/embed-migrations.ts";
import { EMBEDDED_MIGRATIONS } from "../../src/db/embedded-migrations.ts";
import { migrationStatus } from "../../src/db/migrate.ts";

test("src/db/embedded-migrations.ts is what drizzle/ holds now", () => {
  expect(readFileSync(EMBEDDED_FILE, "utf8")).toBe(renderEmbeddedMigrations());
});

test("each dialect's embedded migrations are its journal's, in order; status reads them", async () => {
  for (const dialect of ["sqlite", "pg"] as const) {
    const journal = JSON.parse(
      readFileSync(
        new URL(`../../drizzle/${dialect}/meta/_journal.json`, import.meta.url),
        "utf8",
      ),
    ) as { entries: { tag: string; when: number }[] };
    expect(journal.entries.length).toBeGreaterThan(0);
    expect(EMBEDDED_MIGRATIONS[dialect].map((m) => [m.name, m.folderMillis])).toEqual(
      journal.entries.map((e) => [e.tag, e.when]),
    );
    for (const m of EMBEDDED_MIGRATIONS[dialect])
      expect(m.sql.join("").trim()).not.toBe("");
  }
  const database = await openDatabase({ url: "sqlite::memory:" });
  const status = await migrationStatus(database);
  await database.close();
  expect(status.map((m) => m.name)).toEqual(
    EMBEDDED_MIGRATIONS.sqlite.map((m) => m.name),
  );
});
