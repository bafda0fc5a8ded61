/**
 * `authctl migrate status|up` on a fresh database: what is pending, what got
 * applied, idempotence, two processes migrating at once, and every other
 * command refusing to run on an unmigrated database.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { migrationStatus } from "../../src/db/migrate.ts";
import { DIALECTS } from "../helpers/databases.ts";
import {
  type CliDatabase,
  createCliDatabase,
  expectFailure,
} from "./authctl-process.ts";

interface StatusJson {
  migrations: { name: string; created_at: number; applied: boolean }[];
}

for (const dialect of DIALECTS) {
  describe(`authctl migrate [${dialect}]`, () => {
    let db: CliDatabase;
    beforeAll(async () => {
      db = await createCliDatabase(dialect);
    });
    afterAll(() => db?.drop());

    test("status lists every migration as pending on a fresh database", async () => {
      const r = await db.run(["migrate", "status"]);
      expect(r).toMatchObject({ code: 0, stderr: "" });
      const lines = r.stdout.trimEnd().split("\n");
      expect(lines[0]).toMatch(/^NAME\s+STATE$/);
      expect(lines[1]).toMatch(/^0000_initial\s+pending$/);

      const json = await db.json<StatusJson>(["migrate", "status"]);
      expect(json.migrations[0]).toEqual({
        name: "0000_initial",
        created_at: expect.any(Number),
        applied: false,
      });
      expect(json.migrations.every((m) => !m.applied)).toBe(true);
    });

    test("other commands refuse an unmigrated database, and doctor says why", async () => {
      expectFailure(
        await db.run(["users", "list"]),
        1,
        "pending migration(s): run `authctl migrate up` first",
      );
      const doctor = await db.run(["doctor"]);
      expect(doctor.code).toBe(1);
      expect(doctor.stdout).toMatch(/^FAIL\s+migrations\s+pending: 0000_initial$/m);
      expect(doctor.stdout).toMatch(/^ok\s+database\s/m);
    });

    test("up applies every migration once, prints each, then is a no-op", async () => {
      const first = await db.run(["migrate", "up"]);
      expect(first).toEqual({ code: 0, stdout: "applied 0000_initial\n", stderr: "" });
      const again = await db.run(["migrate", "up"]);
      expect(again).toEqual({ code: 0, stdout: "already up to date\n", stderr: "" });
      expect(await db.json(["migrate", "up"])).toEqual({ applied: [] });

      const status = await db.run(["migrate", "status"]);
      expect(status.stdout).toMatch(/^0000_initial\s+applied$/m);
      const stored = await migrationStatus(db.container().database);
      expect(stored.length).toBeGreaterThan(0);
      expect(stored.every((m) => m.applied)).toBe(true);
      expect(await db.run(["users", "list"])).toMatchObject({
        code: 0,
        stdout: "no users\n",
      });
    });

    test("two `migrate up` at once on a fresh database: both succeed, one applies", async () => {
      const fresh = await createCliDatabase(dialect);
      try {
        const results = await Promise.all([
          fresh.run(["migrate", "up", "--json"]),
          fresh.run(["migrate", "up", "--json"]),
        ]);
        for (const r of results)
          expect({ code: r.code, stderr: r.stderr }).toEqual({
            code: 0,
            stderr: "",
          });
        const applied = results.map(
          (r) => (JSON.parse(r.stdout) as { applied: string[] }).applied,
        );
        // Exactly one process applied the migration; the other found it done.
        expect(applied.flat()).toEqual(["0000_initial"]);
        const stored = await migrationStatus(fresh.container().database);
        expect(stored.map((m) => m.applied)).toEqual(stored.map(() => true));
      } finally {
        await fresh.drop();
      }
    });
  });
}
