/**
 * `authctl migrate status|up` on a fresh database: what is pending, what got
 * applied, idempotence, two processes migrating at once, and every other
 * command refusing to run on an unmigrated database.
 */
import {
  afterAll,
  beforeAll,
  describe,
  expect,
  setDefaultTimeout,
  test,
} from "bun:test";
import { migrationStatus } from "../../src/db/migrate.ts";
import { DIALECTS } from "../helpers/databases.ts";
import {
  type CliDatabase,
  createCliDatabase,
  expectFailure,
} from "./authctl-process.ts";

// Every test runs authctl processes, on a busy 2-core machine: generous.
setDefaultTimeout(120_000);

interface StatusJson {
  migrations: { name: string; created_at: string; applied: boolean }[];
}

for (const dialect of DIALECTS) {
  describe(`authctl migrate [${dialect}]`, () => {
    let db: CliDatabase;
    /** Every migration of this dialect, oldest first (the journal's names). */
    let all: string[];
    beforeAll(async () => {
      db = await createCliDatabase(dialect);
      all = (await migrationStatus((await db.container()).database)).map((m) => m.name);
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
        // An ISO 8601 instant, like every timestamp in authctl's --json.
        created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
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
      expect(doctor.stdout).toMatch(
        new RegExp(`^FAIL\\s+migrations\\s+pending: ${all.join(", ")}$`, "m"),
      );
      expect(doctor.stdout).toMatch(/^ok\s+database\s/m);
    });

    test("up applies every migration once, prints each, then is a no-op", async () => {
      const first = await db.run(["migrate", "up"]);
      expect(first).toEqual({
        code: 0,
        stdout: all.map((name) => `applied ${name}\n`).join(""),
        stderr: "",
      });
      const again = await db.run(["migrate", "up"]);
      expect(again).toEqual({ code: 0, stdout: "already up to date\n", stderr: "" });
      expect(await db.json(["migrate", "up"])).toEqual({ applied: [] });

      const status = await db.run(["migrate", "status"]);
      expect(status.stdout).toMatch(/^0000_initial\s+applied$/m);
      const stored = await migrationStatus((await db.container()).database);
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
        // Each migration was applied by exactly one process; the other found it done.
        expect(applied.flat().sort()).toEqual([...all].sort());
        const stored = await migrationStatus((await fresh.container()).database);
        expect(stored.map((m) => m.applied)).toEqual(stored.map(() => true));
      } finally {
        await fresh.drop();
      }
    });
  });
}
