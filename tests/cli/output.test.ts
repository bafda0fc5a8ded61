/**
 * What authctl promises about its output, checked on every command that has
 * any: `--json` timestamps are ISO 8601 instants everywhere; usage errors
 * start with `authctl:` like every other error; and commands that only read
 * never create a database, a directory or a key file.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { DIALECTS, PG_URL } from "../helpers/databases.ts";
import { GOOD_PASSWORD } from "../helpers/harness.ts";
import {
  type CliResult,
  cliEnv,
  expectFailure,
  runAuthctl,
  useCliDatabase,
} from "./authctl-process.ts";

// Every test runs authctl processes, on a busy 2-core machine: generous.
setDefaultTimeout(180_000);

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const TIME_KEY = /(^|_)(at|before|since|time)$/;

/**
 * Every timestamp-named field in a --json document, with its path. A number
 * in the range of epoch seconds or milliseconds anywhere is a timestamp in
 * disguise and is returned too, so the caller's ISO check fails on it.
 */
function timestamps(value: unknown, path = "$"): [string, unknown][] {
  if (Array.isArray(value))
    return value.flatMap((v, i) => timestamps(v, `${path}[${i}]`));
  if (value && typeof value === "object")
    return Object.entries(value).flatMap(([k, v]) => [
      ...(TIME_KEY.test(k) && (v === null || typeof v !== "object")
        ? [[`${path}.${k}`, v] as [string, unknown]]
        : []),
      ...timestamps(v, `${path}.${k}`),
    ]);
  if (typeof value === "number" && value >= 1e9 && value < 1e14) return [[path, value]];
  return [];
}

for (const dialect of DIALECTS) {
  describe(`authctl --json timestamps [${dialect}]`, () => {
    const { db } = useCliDatabase(dialect);

    test("every timestamp of every command is an ISO 8601 instant (or null)", async () => {
      const admin = await db.run(
        ["admin", "create", "--email", "root@example.com", "--password-stdin"],
        { stdin: GOOD_PASSWORD },
      );
      expect({ code: admin.code, stderr: admin.stderr }).toEqual({
        code: 0,
        stderr: "",
      });
      expect((await db.run(["keys", "rotate"])).code).toBe(0);
      // A session, so sessions list has rows with times in them.
      const login = await db.http("POST", "/auth/login", {
        json: { email: "root@example.com", password: GOOD_PASSWORD },
      });
      expect(login.status).toBe(200);

      const commands = [
        ["migrate", "status"],
        ["users", "list"],
        ["users", "show", "root@example.com"],
        ["users", "create", "--email", "second@example.com"],
        ["users", "disable", "second@example.com"],
        ["sessions", "list", "--user", "root@example.com"],
        ["keys", "list"],
        ["audit", "list"],
        ["audit", "prune"],
      ];
      for (const args of commands) {
        const json = await db.json(args);
        const found = timestamps(json);
        // Each of these has at least one timestamp, so the check is not empty.
        expect({ args, count: found.length > 0 }).toEqual({ args, count: true });
        for (const [path, v] of found) {
          if (v === null) continue;
          expect({ args, path, v }).toEqual({
            args,
            path,
            v: expect.stringMatching(ISO),
          });
        }
      }
    });
  });
}

describe("usage errors carry the authctl: prefix", () => {
  const dir = mkdtempSync(join(tmpdir(), "authctl-output-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const env = cliEnv(`sqlite:${join(dir, "auth.db")}`);

  test("unknown command, unknown option, missing argument, bad value: same shape as other errors", async () => {
    const results = await Promise.all([
      runAuthctl(["frobnicate"], env),
      runAuthctl(["users", "list", "--colour"], env),
      runAuthctl(["users", "show"], env),
      runAuthctl(["users", "list", "--limit", "0"], env),
      runAuthctl(["keys", "rotate", "extra"], env),
    ]);
    const first = (r: CliResult) => r.stderr.split("\n")[0];
    expect(
      results.map((r) => ({ code: r.code, stdout: r.stdout, first: first(r) })),
    ).toEqual([
      { code: 2, stdout: "", first: "authctl: unknown command 'frobnicate'" },
      { code: 2, stdout: "", first: "authctl: unknown option '--colour'" },
      { code: 2, stdout: "", first: "authctl: missing required argument 'user'" },
      { code: 2, stdout: "", first: "authctl: --limit must be 1 to 10000" },
      {
        code: 2,
        stdout: "",
        first:
          "authctl: too many arguments for 'rotate'. Expected 0 arguments but got 1: extra.",
      },
    ]);
    for (const r of results) expect(r.stderr).not.toContain("error:");
    // Nothing was created by commands that never got to run.
    expect(readdirSync(dir)).toEqual([]);
  });
});

/** The commands that only read, and a user name they can be given. */
const READ_ONLY = [
  ["users", "list"],
  ["users", "show", "root@example.com"],
  ["sessions", "list", "--user", "root@example.com"],
  ["keys", "list"],
  ["audit", "list"],
  ["migrate", "status"],
];

describe("read-only commands create nothing: a SQLite path", () => {
  const dir = mkdtempSync(join(tmpdir(), "authctl-nothing-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("a database that does not exist: exit 1, says so, and no directory, database or key file appears", async () => {
    const url = `sqlite:${join(dir, "nonexistent/dir/auth.db")}`;
    // KEY_ENCRYPTION_KEY unset: the key file beside the database is not made either.
    const env = { ...cliEnv(url), KEY_ENCRYPTION_KEY: "" };
    const results = await Promise.all(READ_ONLY.map((args) => runAuthctl(args, env)));
    for (const r of results)
      expectFailure(
        r,
        1,
        `authctl: the database ${url} does not exist: run \`authctl migrate up\` or start the daemon to create it\n`,
      );
    // doctor reports it as its failed database check.
    const doctor = await runAuthctl(["doctor"], env);
    expect(doctor).toEqual({
      code: 1,
      stdout: `ok    config         valid\nFAIL  database       the database ${url} does not exist: run \`authctl migrate up\` or start the daemon to create it\n`,
      stderr: "",
    });
    expect(readdirSync(dir)).toEqual([]);
  });

  test("an existing database without KEY_ENCRYPTION_KEY: reading makes no key file", async () => {
    const url = `sqlite:${join(dir, "auth.db")}`;
    const env = { ...cliEnv(url), KEY_ENCRYPTION_KEY: "" };
    const migrated = await runAuthctl(["migrate", "up"], env);
    expect({ code: migrated.code, stderr: migrated.stderr }).toEqual({
      code: 0,
      stderr: "",
    });
    const before = readdirSync(dir).sort();
    expect(before).toContain("auth.db");
    expect(before).not.toContain("key-encryption.key");
    for (const args of [...READ_ONLY, ["doctor"]]) await runAuthctl(args, env);
    expect(existsSync(join(dir, "key-encryption.key"))).toBe(false);

    // keys rotate seals a new key: it is the one command that makes the file.
    const rotated = await runAuthctl(["keys", "rotate"], env);
    expect({ code: rotated.code, stderr: rotated.stderr }).toEqual({
      code: 0,
      stderr: "",
    });
    expect(existsSync(join(dir, "key-encryption.key"))).toBe(true);
  });
});

describe.skipIf(!PG_URL)("read-only commands create nothing [pg]", () => {
  test("a database that does not exist: exit 1, says so, and it still does not exist", async () => {
    const url = new URL(PG_URL as string);
    const name = `authd_missing_${Date.now().toString(36)}`;
    url.pathname = `/${name}`;
    const r = await runAuthctl(["users", "list"], cliEnv(url.toString()));
    expectFailure(r, 1, `database "${name}" does not exist`);
    const admin = postgres(PG_URL as string, { max: 1, onnotice: () => {} });
    try {
      const rows = await admin`select 1 from pg_database where datname = ${name}`;
      expect(rows).toHaveLength(0);
    } finally {
      await admin.end();
    }
  });
});
