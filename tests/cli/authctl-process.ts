/**
 * Runs the real `authctl` as a subprocess, as an operator would, against a
 * database of its own: a temporary SQLite file, or a fresh PostgreSQL database.
 * A container on the same URL reads the database back, and serves HTTP through
 * the daemon's own handler, so tests check effects without SQL of their own.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { loadConfig } from "../../src/config.ts";
import {
  type Container,
  type ContainerOverrides,
  createContainer,
} from "../../src/container.ts";
import { createHandler } from "../../src/http/app.ts";
import { createLogger } from "../../src/infra/logger.ts";
import { daemonEnv, REPO } from "../e2e/daemon-process.ts";
import { createPgDatabase, type Dialect } from "../helpers/databases.ts";
import { BUDGETS_OFF, TEST_DB_TIMEOUT_MS, TEST_KEK } from "../helpers/harness.ts";

export const AUTHCTL = join(REPO, "cli/authctl.ts");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Text piped to standard input; /dev/null when absent. */
  stdin?: string;
  /**
   * Standard input is a pipe that stays open and silent until the command
   * exits: a command that waits on it (a prompt) hangs instead of seeing EOF.
   */
  stdinOpen?: boolean;
  /** Extra settings, on top of the database's. */
  env?: Record<string, string>;
  /** Freezes the CLI's clock at this instant (tests/cli/frozen-clock.ts). */
  now?: Date;
}

export const FROZEN_CLOCK = join(REPO, "tests/cli/frozen-clock.ts");

/**
 * Runs `authctl ARGS` with exactly `env` as its settings (the parent's config
 * variables are dropped, so a developer's shell cannot change the outcome).
 * A hung command is killed after 60 s and fails the test instead of hanging it
 * (a bound far above what a loaded machine needs: it only turns a hang into a failure).
 */
export async function runAuthctl(
  args: string[],
  env: Record<string, string>,
  options: RunOptions = {},
): Promise<CliResult> {
  const frozen: { args: string[]; env: Record<string, string> } = options.now
    ? {
        args: ["--preload", FROZEN_CLOCK],
        env: { AUTHCTL_TEST_NOW: options.now.toISOString() },
      }
    : { args: [], env: {} };
  const proc = Bun.spawn([process.execPath, ...frozen.args, AUTHCTL, ...args], {
    cwd: REPO,
    env: daemonEnv({ ...env, ...options.env, ...frozen.env }),
    stdin: options.stdinOpen
      ? "pipe"
      : options.stdin === undefined
        ? Bun.file("/dev/null")
        : new TextEncoder().encode(options.stdin),
    stdout: "pipe",
    stderr: "pipe",
    timeout: 60_000,
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (proc.stdin && typeof proc.stdin === "object" && "end" in proc.stdin) {
    await proc.stdin.end();
  }
  return { code, stdout, stderr };
}

/** The CLI's settings for a database URL: cheap argon2id, a fixed key-encryption key. */
export const cliEnv = (url: string): Record<string, string> => ({
  DATABASE_URL: url,
  KEY_ENCRYPTION_KEY: TEST_KEK,
  ARGON2_MEMORY_KIB: "1024",
  ARGON2_TIME_COST: "1",
  JWKS_MAX_AGE: "60",
  DB_TIMEOUT_MS: TEST_DB_TIMEOUT_MS,
  // The suites' HTTP checks all come from one client; authctl itself has no budgets.
  ...BUDGETS_OFF,
});

export interface CliDatabase {
  dialect: Dialect;
  url: string;
  /** A temporary directory of this suite's own (the SQLite file lives there). */
  dir: string;
  env: Record<string, string>;
  run(args: string[], options?: RunOptions): Promise<CliResult>;
  /** Runs with --json, expects exit 0 and a quiet stderr; returns the parsed output. */
  json<T = unknown>(args: string[], options?: RunOptions): Promise<T>;
  /** A container on the same database (system clock), built once and closed by drop(). */
  container(): Promise<Container>;
  /** Another container on the same database, e.g. with a fake clock; closed by drop(). */
  containerWith(overrides: ContainerOverrides): Promise<Container>;
  /** The daemon's HTTP handler on that container; loads (or makes) signing keys first. */
  http(
    method: string,
    path: string,
    init?: { json?: unknown; token?: string },
  ): Promise<Response>;
  drop(): Promise<void>;
}

const silent = () =>
  createLogger(
    "silent",
    new Writable({
      write(_chunk, _enc, done) {
        done();
      },
    }),
  );

/** A fresh, empty database for one suite: a temp SQLite file or a new pg database. */
export async function createCliDatabase(dialect: Dialect): Promise<CliDatabase> {
  const dir = mkdtempSync(join(tmpdir(), "authctl-test-"));
  const pg = dialect === "pg" ? await createPgDatabase() : undefined;
  const url = pg ? pg.url : `sqlite:${join(dir, "auth.db")}`;
  const env = cliEnv(url);
  const containers: Container[] = [];
  let main: Promise<Container> | undefined;
  let handler: ReturnType<typeof createHandler> | undefined;

  const containerWith = async (overrides: ContainerOverrides) => {
    const c = await createContainer(loadConfig({ ...env, LOG_LEVEL: "silent" }), {
      logger: silent(),
      ...overrides,
    });
    containers.push(c);
    return c;
  };
  const container = () => {
    main ??= containerWith({});
    return main;
  };

  const run = (args: string[], options?: RunOptions) => runAuthctl(args, env, options);
  return {
    dialect,
    url,
    dir,
    env,
    run,
    async json<T>(args: string[], options?: RunOptions): Promise<T> {
      const r = await run([...args, "--json"], options);
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({
        args,
        code: 0,
        stderr: "",
      });
      return JSON.parse(r.stdout) as T;
    },
    container,
    containerWith,
    async http(method, path, init = {}) {
      if (!handler) {
        const c = await container();
        await c.prepare({ migrate: false });
        handler = createHandler(c);
      }
      const headers: Record<string, string> = {};
      if (init.json !== undefined) headers["content-type"] = "application/json";
      if (init.token) headers.authorization = `Bearer ${init.token}`;
      return handler(
        new Request(`http://authd.test${path}`, {
          method,
          headers,
          body: init.json === undefined ? undefined : JSON.stringify(init.json),
        }),
      );
    },
    async drop() {
      for (const c of containers) await c.close();
      await pg?.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Forwards to a value that exists once a beforeAll has made it. */
function late<T extends object>(get: () => T | undefined, what: string): T {
  return new Proxy({} as T, {
    get(_, prop) {
      const target = get();
      if (!target) throw new Error(`${what} is used before beforeAll made it`);
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/**
 * The setup every CLI suite shares: a fresh database for the enclosing
 * describe block, migrated by the real `authctl migrate up` in beforeAll and
 * dropped in afterAll, plus a container on it to check effects with.
 */
export function useCliDatabase(dialect: Dialect): { db: CliDatabase; c: Container } {
  let db: CliDatabase | undefined;
  let container: Container | undefined;
  beforeAll(async () => {
    db = await createCliDatabase(dialect);
    const migrated = await db.run(["migrate", "up"]);
    expect({ code: migrated.code, stderr: migrated.stderr }).toEqual({
      code: 0,
      stderr: "",
    });
    container = await db.container();
  });
  afterAll(() => db?.drop());
  return {
    db: late(() => db, "the CLI database"),
    c: late(() => container, "the CLI database's container"),
  };
}

/** Asserts the command failed with this exit code and one plain sentence on stderr. */
export function expectFailure(r: CliResult, code: 1 | 2, message: string | RegExp) {
  expect({ code: r.code, stdout: r.stdout }).toEqual({ code, stdout: "" });
  const lines = r.stderr.trimEnd().split("\n");
  if (code === 1) {
    // Failures are one line: no stack trace, no usage dump.
    expect(lines).toHaveLength(1);
    expect(lines[0]).toStartWith("authctl: ");
  }
  expect(r.stderr).not.toMatch(/^\s+at /m);
  if (typeof message === "string") expect(r.stderr).toContain(message);
  else expect(r.stderr).toMatch(message);
}

/** The newest audit events for an action (optionally of one user), as the store has them. */
export async function auditEvents(c: Container, action: string, userId?: string) {
  return c.store.listAudit({ action, limit: 50, ...(userId ? { userId } : {}) });
}

/** Asserts the action was audited with actor "cli" (for that user, when given). */
export async function expectAuditedByCli(
  c: Container,
  action: string,
  userId?: string,
) {
  const events = await auditEvents(c, action, userId);
  expect(events.map((e) => ({ action: e.action, actor: e.actorId }))).toContainEqual({
    action,
    actor: "cli",
  });
  return events.filter((e) => e.actorId === "cli");
}
