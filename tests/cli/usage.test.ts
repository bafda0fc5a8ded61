/**
 * What authctl does before it touches a database: help with examples for
 * every command, usage errors (exit 2), and `config check` — the effective
 * settings with secrets redacted, exit 2 on a bad setting.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TEST_KEK } from "../helpers/harness.ts";
import {
  type CliResult,
  cliEnv,
  expectFailure,
  runAuthctl,
} from "./authctl-process.ts";

// Every test runs authctl processes, on a busy 2-core machine: generous.
setDefaultTimeout(120_000);

const dir = mkdtempSync(join(tmpdir(), "authctl-usage-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const env = cliEnv(`sqlite:${join(dir, "auth.db")}`);
const run = (args: string[], extra?: Record<string, string>) =>
  runAuthctl(args, env, extra ? { env: extra } : {});

const COMMANDS = [
  [],
  ["migrate"],
  ["migrate", "up"],
  ["migrate", "status"],
  ["admin", "create"],
  ["users"],
  ["users", "list"],
  ["users", "show"],
  ["users", "create"],
  ["users", "disable"],
  ["users", "enable"],
  ["users", "delete"],
  ["users", "set-password"],
  ["users", "set-roles"],
  ["users", "import"],
  ["sessions"],
  ["sessions", "list"],
  ["sessions", "revoke"],
  ["keys"],
  ["keys", "list"],
  ["keys", "rotate"],
  ["keys", "prune"],
  ["audit"],
  ["audit", "list"],
  ["audit", "prune"],
  ["config", "check"],
  ["doctor"],
];

/** Runs a few at a time: each is a whole bun process. */
async function inBatches<T, R>(items: T[], size: number, fn: (t: T) => Promise<R>) {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size)
    out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

describe("authctl --help", () => {
  test("every command explains itself with examples, on stdout, exit 0", async () => {
    const results = await inBatches(COMMANDS, 6, (c) => run([...c, "--help"]));
    for (const [i, r] of results.entries()) {
      const name = ["authctl", ...(COMMANDS[i] ?? [])].join(" ");
      expect({ name, code: r.code, stderr: r.stderr }).toEqual({
        name,
        code: 0,
        stderr: "",
      });
      expect(r.stdout).toStartWith(`Usage: ${name} `);
      // An example line that runs this very command.
      expect({ name, help: r.stdout }).toMatchObject({
        name,
        help: expect.stringMatching(
          new RegExp(`Examples:\\n(  .*\\n)*  ${name.replace(/ /g, "\\s+")}`),
        ),
      });
    }
  });
});

describe("usage errors exit 2 and point at --help", () => {
  const usageError = (r: CliResult, message: string) => {
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: "" });
    expect(r.stderr).toContain(message);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  };

  test("an unknown command, option or missing argument", async () => {
    const [command, option, argument, none] = await Promise.all([
      run(["frobnicate"]),
      run(["users", "list", "--colour"]),
      run(["users", "show"]),
      run([]),
    ]);
    usageError(command, "unknown command 'frobnicate'");
    expect(command.stderr).toContain("--help");
    usageError(option, "unknown option '--colour'");
    usageError(argument, "missing required argument 'user'");
    // No command at all: the help, on stderr, as a usage error.
    usageError(none, "Usage: authctl");
  });

  test("--limit must be a whole number from 1 to 10000", async () => {
    const results = await Promise.all(
      ["0", "abc", "10001", "2.5"].map((n) => run(["users", "list", "--limit", n])),
    );
    for (const r of results) expectFailure(r, 2, "authctl: --limit must be 1 to 10000");
  });
});

describe("authctl config check", () => {
  const pgUrl = "postgres://authd:s3cret-db-pw@db.internal:5432/auth";

  test("prints every setting with the secrets redacted", async () => {
    const r = await run(["config", "check"], { DATABASE_URL: pgUrl, PORT: "8080" });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    const rows = new Map(
      r.stdout
        .trimEnd()
        .split("\n")
        .map((l) => l.split(/\s{2,}/) as [string, string]),
    );
    expect(rows.get("SETTING")).toBe("VALUE");
    expect(rows.get("PORT")).toBe("8080");
    expect(rows.get("ARGON2_TIME_COST")).toBe("1");
    expect(rows.get("KEY_ENCRYPTION_KEY")).toBe("***");
    expect(rows.get("DATABASE_URL")).toBe("postgres://***@db.internal:5432/auth");
    expect(r.stdout).not.toContain(TEST_KEK);
    expect(r.stdout).not.toContain("s3cret-db-pw");
  });

  test("--json has snake_case keys and the same redaction", async () => {
    const r = await run(["config", "check", "--json"], { DATABASE_URL: pgUrl });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    const json = JSON.parse(r.stdout) as Record<string, unknown>;
    for (const key of Object.keys(json)) expect(key).toMatch(/^[a-z][a-z0-9_]*$/);
    expect(json).toMatchObject({
      port: 3000,
      database_url: "postgres://***@db.internal:5432/auth",
      key_encryption_key: "***",
      argon2_memory_kib: 1024,
      trust_proxy: false,
      jwks_max_age: 60,
    });
    expect(r.stdout).not.toContain(TEST_KEK);
    expect(r.stdout).not.toContain("s3cret-db-pw");
  });

  test("a bad setting exits 2 naming it; all bad settings are reported together", async () => {
    const [port, several, elsewhere] = await Promise.all([
      run(["config", "check"], { PORT: "abc" }),
      run(["config", "check", "--json"], {
        PORT: "abc",
        ARGON2_TIME_COST: "0",
        KEY_ENCRYPTION_KEY: "not-a-key-but-a-secret",
      }),
      run(["users", "list"], { PORT: "abc" }),
    ]);
    expectFailure(port, 2, /^authctl: invalid configuration: PORT="abc": /);
    expectFailure(several, 2, "PORT=");
    expect(several.stderr).toContain("ARGON2_TIME_COST=");
    expect(several.stderr).toContain("KEY_ENCRYPTION_KEY=");
    expect(several.stderr).not.toContain("not-a-key-but-a-secret");
    // Any command reads the configuration first, the same way.
    expectFailure(elsewhere, 2, 'PORT="abc"');
  });

  test("doctor reports a bad configuration as its one failed check, exit 1", async () => {
    const r = await run(["doctor"], { PORT: "abc" });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 1, stderr: "" });
    expect(r.stdout).toMatch(
      /^FAIL {2}config {9}invalid configuration: PORT="abc": TCP port .*\n$/,
    );
  });
});
