/**
 * Builds the real service through the real composition root on a real
 * database, with a fake clock, cheap argon2id parameters and the log lines
 * captured. HTTP goes through the same handler the daemon serves.
 */
import { afterAll, beforeAll } from "bun:test";
import { Writable } from "node:stream";
import { type Config, loadConfig } from "../../src/config.ts";
import {
  type Container,
  type ContainerOverrides,
  createContainer,
} from "../../src/container.ts";
import { createHandler, type Handler } from "../../src/http/app.ts";
import { createLogger } from "../../src/infra/logger.ts";
import { createFakeClock, type FakeClock } from "./clock.ts";
import { createTestDatabase, type Dialect, type TestDatabase } from "./databases.ts";

/** A fixed test key-encryption key (32 zero-ish bytes, base64). */
export const TEST_KEK = Buffer.alloc(32, 7).toString("base64");

/**
 * A storage timeout no busy machine reaches by accident. DB_TIMEOUT_MS runs on
 * real timers even where the clock is fake, and at the 5 s default a loaded
 * 2-core machine turned slow queries into 503s. A test about timeouts sets
 * its own value.
 */
export const TEST_DB_TIMEOUT_MS = "60000";

/**
 * The request budgets off: hundreds of tests share one client "IP". Suites
 * about abuse protection turn them on explicitly.
 */
export const BUDGETS_OFF: Record<string, string> = {
  RATE_LIMIT_PER_IP: "0",
  LOGIN_FAILURES_PER_ACCOUNT_IP: "0",
  LOGIN_FAILURES_PER_ACCOUNT: "0",
};

/** Settings every test app starts from; cheap hashing keeps the suite fast. */
export const TEST_ENV: Record<string, string> = {
  LOG_LEVEL: "debug",
  KEY_ENCRYPTION_KEY: TEST_KEK,
  ARGON2_MEMORY_KIB: "1024",
  ARGON2_TIME_COST: "1",
  ISSUER: "http://authd.test",
  JWKS_MAX_AGE: "60",
  DB_TIMEOUT_MS: TEST_DB_TIMEOUT_MS,
  ...BUDGETS_OFF,
};

export interface TestApp {
  dialect: Dialect;
  config: Config;
  container: Container;
  clock: FakeClock;
  handle: Handler;
  /** Every log line written so far, parsed. */
  logs: Record<string, unknown>[];
  /** The raw log output, to search for leaked secrets. */
  rawLogs(): string;
  /** Sends a request; `json` sets the body and content type. */
  request(
    method: string,
    path: string,
    init?: {
      json?: unknown;
      token?: string;
      headers?: Record<string, string>;
      body?: RequestInit["body"];
    },
  ): Promise<Response>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  /** Replaces the hasher (e.g. the real one wrapped in a counter). */
  hasher?: ContainerOverrides["hasher"];
  /** Runs on that app's database (a second daemon on the same storage). */
  shareDatabaseWith?: TestApp;
}

/**
 * One app for the enclosing describe block: built in beforeAll, closed in
 * afterAll. The returned object forwards to that app once it exists.
 */
export function useTestApp(
  dialect: Dialect,
  env: Record<string, string> = {},
): TestApp {
  let app: TestApp | undefined;
  beforeAll(async () => {
    app = await createTestApp(dialect, env);
  });
  afterAll(() => app?.close());
  return new Proxy({} as TestApp, {
    get(_, prop) {
      if (!app) throw new Error("the test app is used before beforeAll built it");
      return Reflect.get(app, prop, app);
    },
  });
}

export async function createTestApp(
  dialect: Dialect,
  env: Record<string, string> = {},
  options: TestAppOptions = {},
): Promise<TestApp> {
  const shared = options.shareDatabaseWith;
  const db: TestDatabase = shared
    ? { url: shared.config.DATABASE_URL, drop: async () => {} }
    : await createTestDatabase(dialect);
  const config = loadConfig({ ...TEST_ENV, DATABASE_URL: db.url, ...env });
  const clock = createFakeClock();
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  const logger = createLogger(config.LOG_LEVEL, stream);
  const container = await createContainer(config, {
    clock,
    logger,
    ...(options.hasher ? { hasher: options.hasher } : {}),
    ...(shared ? { database: shared.container.database } : {}),
  });
  await container.prepare({ migrate: true });
  const handle = createHandler(container);
  const logs: Record<string, unknown>[] = [];
  return {
    dialect,
    config,
    container,
    clock,
    handle,
    get logs() {
      logs.length = 0;
      for (const l of lines) logs.push(JSON.parse(l));
      return logs;
    },
    rawLogs: () => lines.join("\n"),
    request(method, path, init = {}) {
      const headers: Record<string, string> = { ...init.headers };
      let body = init.body;
      if (init.json !== undefined) {
        headers["content-type"] ??= "application/json";
        body = JSON.stringify(init.json);
      }
      if (init.token) headers.authorization = `Bearer ${init.token}`;
      return handle(new Request(`http://authd.test${path}`, { method, headers, body }));
    },
    async close() {
      await container.close();
      await db.drop();
    },
  };
}

let counter = 0;
/** A fresh, unique email for a test. */
export const uniqueEmail = (prefix = "user") =>
  `${prefix}-${Date.now().toString(36)}-${++counter}@example.com`;

export const GOOD_PASSWORD = "correct horse battery staple";

/** Registers a user over HTTP and returns the token response body. */
export async function registerUser(
  app: TestApp,
  email = uniqueEmail(),
  password = GOOD_PASSWORD,
): Promise<TokenBody & { email: string; password: string }> {
  const res = await app.request("POST", "/auth/register", {
    json: { email, password },
  });
  if (res.status !== 201)
    throw new Error(`register failed: ${res.status} ${await res.text()}`);
  return { ...((await res.json()) as TokenBody), email, password };
}

export interface TokenBody {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token: string;
  refresh_expires_in: number;
  user: { id: string; email: string; roles: string[]; [k: string]: unknown };
}
