import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  ConfigError,
  ConfigSchema,
  describeSettings,
  loadConfig,
} from "../../src/config.ts";
import { daemonEnv, MAIN } from "../e2e/daemon-process.ts";

const ENV_EXAMPLE = resolve(import.meta.dir, "../../.env.example");

/** The problems loadConfig reports for this environment (none: []). */
function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}

/** The keys named by a list of problems (`KEY=…` or `KEY: …`). */
const keysOf = (problems: string[]) =>
  problems.map((p) => /^([A-Z0-9_]+)[=:]/.exec(p)?.[1] ?? p).sort();

describe("loadConfig", () => {
  test("defaults: SQLite under ./data on 127.0.0.1:3000, frozen", () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      HOST: "127.0.0.1",
      PORT: 3000,
      DATABASE_URL: "sqlite:./data/auth.db",
      dialect: "sqlite",
      sqlitePath: "./data/auth.db",
      LOG_LEVEL: "info",
      MAX_BODY_BYTES: 65_536,
      SHUTDOWN_TIMEOUT_MS: 10_000,
      ISSUER: "http://127.0.0.1:3000",
      // One core is left to the event loop, so logins cannot starve it.
      HASH_CONCURRENCY: Math.max(1, availableParallelism() - 1),
      HASH_QUEUE_MAX: 32,
      TOKEN_CACHE_SIZE: 10_000,
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  test("converts strings; empty and blank values count as unset", () => {
    const c = loadConfig({
      HOST: "0.0.0.0",
      PORT: " 8080 ",
      TRUST_PROXY: "true",
      REGISTRATION_OPEN: "false",
      LOG_LEVEL: "",
      MAX_BODY_BYTES: "   ",
    });
    expect(c).toMatchObject({
      HOST: "0.0.0.0",
      PORT: 8080,
      TRUST_PROXY: true,
      REGISTRATION_OPEN: false,
      LOG_LEVEL: "info",
      MAX_BODY_BYTES: 65_536,
    });
  });

  test("DATABASE_URL picks the dialect", () => {
    const kek = Buffer.alloc(32, 1).toString("base64");
    for (const url of ["postgres://u@db:5432/auth", "postgresql://u:p@db/auth"]) {
      const c = loadConfig({ DATABASE_URL: url, KEY_ENCRYPTION_KEY: kek });
      expect({ dialect: c.dialect, sqlitePath: c.sqlitePath }).toEqual({
        dialect: "pg",
        sqlitePath: "",
      });
    }
    const c = loadConfig({ DATABASE_URL: "sqlite::memory:" });
    expect({ dialect: c.dialect, sqlitePath: c.sqlitePath }).toEqual({
      dialect: "sqlite",
      sqlitePath: ":memory:",
    });
  });

  test("every bad key is reported at once", () => {
    const problems = problemsOf({
      PORT: "abc",
      LOG_LEVEL: "loud",
      DATABASE_URL: "mysql://db/auth",
      TRUST_PROXY: "maybe",
      SIGNING_ALG: "HS256",
    });
    expect(keysOf(problems)).toEqual([
      "DATABASE_URL",
      "LOG_LEVEL",
      "PORT",
      "SIGNING_ALG",
      "TRUST_PROXY",
    ]);
  });

  test("schema and cross-field problems come in the same report", () => {
    const problems = problemsOf({
      PORT: "abc",
      DATABASE_URL: "postgres://u@[db/auth",
      PASSWORD_MIN_LENGTH: "300",
      PASSWORD_MAX_LENGTH: "100",
    });
    expect(keysOf(problems)).toEqual([
      "DATABASE_URL",
      "KEY_ENCRYPTION_KEY",
      "PASSWORD_MIN_LENGTH",
      "PORT",
    ]);
  });

  test("numbers must be whole and in range, never silently truncated", () => {
    for (const port of ["3000.5", "1e3", "70000", "-1", "0x10"]) {
      expect({ port, keys: keysOf(problemsOf({ PORT: port })) }).toEqual({
        port,
        keys: ["PORT"],
      });
    }
    expect(loadConfig({ PORT: "0" }).PORT).toBe(0);
  });

  test("PostgreSQL requires KEY_ENCRYPTION_KEY; a key must be 32 bytes of base64", () => {
    expect(keysOf(problemsOf({ DATABASE_URL: "postgres://u@db/auth" }))).toEqual([
      "KEY_ENCRYPTION_KEY",
    ]);
    expect(keysOf(problemsOf({ KEY_ENCRYPTION_KEY: "c2hvcnQ=" }))).toEqual([
      "KEY_ENCRYPTION_KEY",
    ]);
  });

  test("a report never repeats a secret value", () => {
    const secretKek = "hunter2-is-not-a-key-but-it-is-secret";
    const problems = problemsOf({
      KEY_ENCRYPTION_KEY: secretKek,
      DATABASE_URL: "mysql://admin:sup3r-s3cret@db/auth",
    });
    expect(keysOf(problems)).toEqual(["DATABASE_URL", "KEY_ENCRYPTION_KEY"]);
    const text = problems.join("\n");
    expect(text).not.toContain(secretKek);
    expect(text).not.toContain("sup3r-s3cret");
  });

  test("a report quotes what was set, not a converted value", () => {
    const [problem] = problemsOf({ PORT: "70000" });
    expect(problem).toStartWith('PORT="70000"');
  });
});

describe(".env.example", () => {
  const text = readFileSync(ENV_EXAMPLE, "utf8");
  const lines = text.split("\n");
  const entries = lines.flatMap((line, i) => {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    return m?.[1] !== undefined
      ? [{ key: m[1], value: m[2] ?? "", comment: lines[i - 1] ?? "" }]
      : [];
  });

  test("lists every setting of ConfigSchema, and nothing else, once", () => {
    const keys = entries.map((e) => e.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect([...keys].sort()).toEqual(Object.keys(ConfigSchema.properties).sort());
  });

  test("each setting has its description as a comment and its default as value", () => {
    const byKey = new Map(entries.map((e) => [e.key, e]));
    for (const s of describeSettings()) {
      expect(s.description.length).toBeGreaterThan(0);
      expect({ key: s.key, ...byKey.get(s.key) }).toEqual({
        key: s.key,
        value: String(s.default),
        comment: `# ${s.description}`,
      });
    }
  });

  test("parses with loadConfig, giving the defaults", () => {
    const env = Object.fromEntries(entries.map((e) => [e.key, e.value]));
    expect(loadConfig(env)).toEqual(loadConfig({}));
  });

  test("only comments, blank lines and settings", () => {
    for (const line of lines) {
      expect({
        line,
        ok: line === "" || /^#( |$)/.test(line) || /^[A-Z]/.test(line),
      }).toEqual({
        line,
        ok: true,
      });
    }
  });
});

describe("the daemon with bad settings", () => {
  test("exits 2 with one message naming every bad key and no stack trace", async () => {
    // A temporary cwd, so a developer's .env cannot change the outcome.
    const cwd = mkdtempSync(join(tmpdir(), "authd-config-"));
    try {
      const proc = Bun.spawn([process.execPath, MAIN], {
        cwd,
        env: daemonEnv({
          PORT: "abc",
          LOG_LEVEL: "loud",
          DATABASE_URL: "postgres://u:p@[not-a-host/auth",
          KEY_ENCRYPTION_KEY: Buffer.alloc(32, 2).toString("base64"),
        }),
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      });
      const [code, stdout, stderr] = await Promise.all([
        proc.exited,
        new Response(proc.stdout).text(),
        new Response(proc.stderr).text(),
      ]);
      expect({ code, stdout }).toEqual({ code: 2, stdout: "" });
      expect(stderr).toStartWith("authd: invalid configuration");
      for (const key of ["PORT", "LOG_LEVEL", "DATABASE_URL"])
        expect(stderr).toContain(key);
      expect(stderr).not.toMatch(/^\s+at /m);
      expect(stderr.match(/invalid configuration/g)?.length).toBe(1);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
