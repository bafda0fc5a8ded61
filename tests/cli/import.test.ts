/**
 * `authctl users import FILE`: JSON Lines in, all or nothing. Imported bcrypt
 * and argon2 hashes are kept and upgraded to argon2id at the next login.
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { DIALECTS } from "../helpers/databases.ts";
import {
  auditEvents,
  expectAuditedByCli,
  expectFailure,
  useCliDatabase,
} from "./authctl-process.ts";

// Every test runs authctl processes, on a busy 2-core machine: generous.
setDefaultTimeout(120_000);

const LEGACY_PASSWORD = "legacy bcrypt passphrase 1";
const ARGON_PASSWORD = "legacy argon2 passphrase 2";

interface ImportJson {
  summary: { created: number; skipped: number; rejected: number };
  created: string[];
  skipped: string[];
  rejected: { line: number; reason: string }[];
}

const jsonl = (...lines: (object | string)[]) =>
  `${lines.map((l) => (typeof l === "string" ? l : JSON.stringify(l))).join("\n")}\n`;

for (const dialect of DIALECTS) {
  describe(`authctl users import [${dialect}]`, () => {
    const { db, c } = useCliDatabase(dialect);
    let bcryptHash: string;
    let argonHash: string;

    beforeAll(async () => {
      // Hashes as another system would have written them: bcrypt, and argon2id
      // with other parameters than ours.
      bcryptHash = await Bun.password.hash(LEGACY_PASSWORD, {
        algorithm: "bcrypt",
        cost: 4,
      });
      argonHash = await Bun.password.hash(ARGON_PASSWORD, {
        algorithm: "argon2id",
        memoryCost: 2048,
        timeCost: 2,
      });
      // Already here before the import: skipped, left as is.
      expect(
        (
          await db.run([
            "users",
            "create",
            "--email",
            "existing@example.com",
            "--role",
            "service",
          ])
        ).code,
      ).toBe(0);
    });

    const file = (name: string, text: string) => {
      const path = join(db.dir, name);
      writeFileSync(path, text);
      return path;
    };

    test("one bad line: exit 1, every rejected line with its reason, nothing written", async () => {
      const path = file(
        "bad.jsonl",
        jsonl(
          { email: "fine@example.com", password_hash: bcryptHash },
          { email: "not-an-email" },
          "{this is not json",
          "",
          { email: "plain@example.com", password_hash: "hunter2" },
          { email: "extra@example.com", admin: true },
          { email: "FINE@example.com" },
          { email: "roles@example.com", roles: "admin" },
          { email: "role-name@example.com", roles: ["Admin"] },
          "[1, 2]",
        ),
      );
      const r = await db.run(["users", "import", path]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        "authctl: nothing was imported: 8 line(s) rejected; fix them and run again\n",
      );
      expect(r.stdout).toBe(
        [
          "created 0, skipped 0 (already present), rejected 8",
          "  line 2: email must be an email address",
          "  line 3: not valid JSON",
          "  line 5: password_hash must be a bcrypt ($2a$/$2b$/$2y$) or argon2 hash",
          "  line 6: unknown field(s): admin",
          "  line 7: duplicate of an earlier line (fine@example.com)",
          "  line 8: roles must be an array of strings",
          '  line 9: roles "Admin" is not a known role (known: user, admin, service)',
          "  line 10: not a JSON object",
          "",
        ].join("\n"),
      );
      const json = await db.run(["users", "import", path, "--json"]);
      expect(json.code).toBe(1);
      const body = JSON.parse(json.stdout) as ImportJson;
      expect(body.summary).toEqual({ created: 0, skipped: 0, rejected: 8 });
      expect(body.created).toEqual([]);
      expect(body.rejected.map((x) => x.line)).toEqual([2, 3, 5, 6, 7, 8, 9, 10]);

      // The good first line was not written either.
      expect(await c.store.findUserByEmail("fine@example.com")).toBeNull();
      const users = await c.userAdmin.list({ limit: 100 });
      expect(users.items.map((u) => u.email)).toEqual(["existing@example.com"]);
      expect(await auditEvents(c, "user.import")).toEqual([]);
    });

    test("a good file: created and skipped are reported, hashes are kept as given", async () => {
      const path = file(
        "users.jsonl",
        jsonl(
          { email: "Legacy@Example.com", name: "Legacy", password_hash: bcryptHash },
          {
            email: "argon@example.com",
            password_hash: argonHash,
            roles: ["user", "service"],
          },
          { email: "no-password@example.com", name: null },
          { email: "existing@example.com", roles: ["admin"] },
        ),
      );
      const r = await db.run(["users", "import", path]);
      expect(r).toEqual({
        code: 0,
        stdout: "created 3, skipped 1 (already present), rejected 0\n",
        stderr: "",
      });

      const legacy = await c.store.findUserByEmail("legacy@example.com");
      expect(legacy).toMatchObject({
        name: "Legacy",
        roles: ["user"],
        passwordHash: bcryptHash,
      });
      const argon = await c.store.findUserByEmail("argon@example.com");
      expect(argon).toMatchObject({
        roles: ["user", "service"],
        passwordHash: argonHash,
      });
      const none = await c.store.findUserByEmail("no-password@example.com");
      expect(none).toMatchObject({ name: null, roles: ["user"], passwordHash: null });
      // Skipped means untouched: still "service", not the file's "admin".
      expect((await c.userAdmin.get("existing@example.com")).roles).toEqual([
        "service",
      ]);

      const [event] = await expectAuditedByCli(c, "user.import");
      expect(event?.detail).toEqual({ created: 3, skipped: 1 });
    });

    test("an imported bcrypt hash logs in over HTTP and is rehashed to argon2id", async () => {
      const wrong = await db.http("POST", "/auth/login", {
        json: { email: "legacy@example.com", password: "not the password at all" },
      });
      expect(wrong.status).toBe(401);
      expect((await c.store.findUserByEmail("legacy@example.com"))?.passwordHash).toBe(
        bcryptHash,
      );

      const res = await db.http("POST", "/auth/login", {
        json: { email: "legacy@example.com", password: LEGACY_PASSWORD },
      });
      expect(res.status).toBe(200);
      const stored = (await c.store.findUserByEmail("legacy@example.com"))
        ?.passwordHash;
      expect(stored).toStartWith("$argon2id$v=19$m=1024,t=1,p=1$");
      const token = ((await res.json()) as { access_token: string }).access_token;
      expect((await db.http("GET", "/users/me", { token })).status).toBe(200);

      // Argon2 with foreign parameters is upgraded the same way.
      const argon = await db.http("POST", "/auth/login", {
        json: { email: "argon@example.com", password: ARGON_PASSWORD },
      });
      expect(argon.status).toBe(200);
      const argonStored = (await c.store.findUserByEmail("argon@example.com"))
        ?.passwordHash;
      expect(argonStored).toStartWith("$argon2id$v=19$m=1024,t=1,p=1$");
      expect(argonStored).not.toBe(argonHash);

      // And the upgraded hash keeps working.
      const again = await db.http("POST", "/auth/login", {
        json: { email: "legacy@example.com", password: LEGACY_PASSWORD },
      });
      expect(again.status).toBe(200);
    });

    test("running the same file again skips every line and changes nothing", async () => {
      const before = await c.store.findUserByEmail("legacy@example.com");
      const r = await db.run([
        "users",
        "import",
        join(db.dir, "users.jsonl"),
        "--json",
      ]);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
      const body = JSON.parse(r.stdout) as ImportJson;
      expect(body).toEqual({
        summary: { created: 0, skipped: 4, rejected: 0 },
        created: [],
        skipped: [
          "legacy@example.com",
          "argon@example.com",
          "no-password@example.com",
          "existing@example.com",
        ],
        rejected: [],
      });
      // The rehashed password was not put back to the file's bcrypt hash.
      expect(await c.store.findUserByEmail("legacy@example.com")).toEqual(before);
      expect((await c.userAdmin.list({ limit: 100 })).items).toHaveLength(4);
    });

    test("a missing file is exit 1 with one sentence", async () => {
      expectFailure(
        await db.run(["users", "import", "/nonexistent/users.jsonl"]),
        1,
        "authctl: no such file: /nonexistent/users.jsonl",
      );
    });
  });
}
