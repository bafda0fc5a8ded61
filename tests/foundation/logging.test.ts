import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Writable } from "node:stream";
import { loadConfig } from "../../src/config.ts";
import { createContainer } from "../../src/container.ts";
import { accessLogger, createLogger } from "../../src/infra/logger.ts";
import { DIALECTS } from "../helpers/databases.ts";
import {
  createTestApp,
  GOOD_PASSWORD,
  registerUser,
  TEST_ENV,
  type TestApp,
  uniqueEmail,
  useTestApp,
} from "../helpers/harness.ts";
import { expectProblem } from "../helpers/http.ts";

const ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Sends a request and returns the response with the log lines it produced. */
async function withLines(app: TestApp, send: () => Promise<Response>) {
  const before = app.logs.length;
  const res = await send();
  return { res, lines: app.logs.slice(before) };
}

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  return { lines, stream };
}

describe("redaction", () => {
  test("secrets in headers, bodies, token fields and hashes never reach the log", () => {
    const { lines, stream } = capture();
    const log = createLogger("trace", stream);
    const secrets = Array.from(
      { length: 12 },
      (_, i) => `s3cret-${i}-${"z".repeat(8)}`,
    );
    const [a, b, c, d, e, f, g, h, i, j, k, l] = secrets;
    log.info({ headers: { authorization: `Bearer ${a}`, cookie: `sid=${b}` } }, "h");
    log.info({ req: { headers: { authorization: `Bearer ${c}` } } }, "req");
    log.info({ authorization: `Basic ${d}` }, "bare");
    log.info({ password: e, new_password: f, current_password: g }, "top");
    log.info({ body: { password: h, refresh_token: i, access_token: j } }, "body");
    log.info({ token: k, user: { passwordHash: l, password_hash: l } }, "tok");
    log.child({ request_id: "r" }).info({ body: { token: k } }, "child");
    log.info({ KEY_ENCRYPTION_KEY: a }, "config");

    const text = lines.join("\n");
    expect(lines).toHaveLength(8);
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(text.match(/\[redacted\]/g)?.length).toBeGreaterThanOrEqual(14);
    // What is not secret is kept.
    expect(JSON.parse(lines[6] ?? "{}")).toMatchObject({
      request_id: "r",
      msg: "child",
    });
  });
});

describe("the access line", () => {
  const cases = [
    {
      request_id: "0192f0c4-7e2a-7cc0-8d1e-5b1f9e0a1b2c",
      method: "GET",
      route: "/users/me",
      path: "/users/me",
      status: 200,
      duration_ms: 0.07,
    },
    {
      request_id: "A.b_c:d-e",
      method: "PATCH",
      route: null,
      path: '/a"b\\c/\u0001/ü/😀/</script>/\ud800',
      status: 404,
      duration_ms: 12345.67,
    },
    {
      request_id: "x".repeat(128),
      method: "DELETE",
      route: "/users/me/sessions/:id",
      path: "/users/me/sessions/01HZX",
      status: 204,
      duration_ms: 3,
    },
    {
      request_id: "r",
      method: "GET",
      route: null,
      path: "/back\\slash/\u0007/\t",
      status: 404,
      duration_ms: 1.5,
    },
  ];

  test("is, byte for byte but the time, the line pino writes for the same fields", () => {
    const { lines, stream } = capture();
    const log = createLogger("info", stream);
    const access = accessLogger(log);
    expect(access).toBeDefined();
    for (const fields of cases) {
      const before = Date.now();
      access?.(fields);
      log.info(fields, "request");
      const after = Date.now();
      const [ours, pinos] = lines.splice(0, 2);
      const untimed = (line = "") => line.replace(/"time":"[^"]*"/, '"time":""');
      expect(untimed(ours)).toBe(untimed(pinos));
      const parsed = JSON.parse(ours ?? "{}");
      expect(parsed).toMatchObject({ ...fields, level: "info", msg: "request" });
      const time = Date.parse(parsed.time);
      expect(time >= before && time <= after).toBe(true);
    }
  });

  test("is not written at all when the level leaves info out", () => {
    const { stream } = capture();
    expect(accessLogger(createLogger("warn", stream))).toBeUndefined();
    expect(accessLogger(createLogger("info", stream))).toBeDefined();
  });
});

describe("LOG_LEVEL", () => {
  test("the container's own logger honours it", async () => {
    for (const level of ["warn", "debug", "silent"] as const) {
      const config = loadConfig({
        ...TEST_ENV,
        DATABASE_URL: "sqlite::memory:",
        LOG_LEVEL: level,
      });
      const c = await createContainer(config);
      expect(c.logger.level).toBe(level);
      void c.close();
    }
  });
});

for (const dialect of DIALECTS) {
  describe(`request logging [${dialect}]`, () => {
    const app = useTestApp(dialect);

    test("one access line per request: method, route, status, duration, request id", async () => {
      const user = await registerUser(app);
      const sessions = await app.request("GET", "/users/me/sessions", {
        token: user.access_token,
      });
      const [session] = ((await sessions.json()) as { items: { id: string }[] }).items;
      const { res, lines } = await withLines(app, () =>
        app.request("DELETE", `/users/me/sessions/${session?.id}`, {
          token: user.access_token,
          headers: { "x-request-id": "trace-me-1" },
        }),
      );
      expect(res.status).toBe(204);
      const access = lines.filter((l) => l.msg === "request");
      expect(access).toHaveLength(1);
      expect(access[0]).toMatchObject({
        level: "info",
        service: "authd",
        method: "DELETE",
        route: "/users/me/sessions/:id",
        status: 204,
        request_id: "trace-me-1",
      });
      expect(typeof access[0]?.duration_ms).toBe("number");
      expect(typeof access[0]?.time).toBe("string");
    });

    test("unknown routes are logged with route null and their status", async () => {
      const { lines } = await withLines(app, () => app.request("GET", "/nope"));
      expect(lines.find((l) => l.msg === "request")).toMatchObject({
        route: null,
        path: "/nope",
        status: 404,
      });
    });

    test("a valid X-Request-Id is echoed; anything else gets a fresh id", async () => {
      const ok = ["abc", "A.b_c:d-e", "x".repeat(128), "0192f0c4-7e2a-7cc0-8d1e"];
      for (const id of ok) {
        const res = await app.request("GET", "/healthz", {
          headers: { "x-request-id": id },
        });
        expect(res.headers.get("x-request-id")).toBe(id);
      }
      const bad = [
        "",
        "has space",
        "x".repeat(129),
        "semi;colon",
        "ü",
        "a/b",
        "<script>",
      ];
      const fresh = new Set<string>();
      for (const id of bad) {
        const { res, lines } = await withLines(app, () =>
          app.request("GET", "/healthz", { headers: { "x-request-id": id } }),
        );
        const got = res.headers.get("x-request-id") ?? "";
        expect({ id, got, matches: ID.test(got) }).toMatchObject({ id, matches: true });
        expect(got).not.toBe(id);
        expect(lines.find((l) => l.msg === "request")?.request_id).toBe(got);
        fresh.add(got);
      }
      expect(fresh.size).toBe(bad.length);
      const none = await app.request("GET", "/healthz");
      expect(none.headers.get("x-request-id")).toMatch(ID);
    });
  });

  describe(`one request id on every line of a request [${dialect}]`, () => {
    const app = useTestApp(dialect);

    test("a storage failure logs the cause under the request's id, without secrets", async () => {
      await failInsertsIntoUsers(app);
      const password = `${GOOD_PASSWORD} never-log-me`;
      const { res, lines } = await withLines(app, () =>
        app.request("POST", "/auth/register", {
          json: { email: uniqueEmail(), password },
          headers: { "x-request-id": "storage-1" },
        }),
      );
      await expectProblem(res, 503, "unavailable");
      expect(lines.length).toBeGreaterThanOrEqual(2);
      for (const line of lines) expect(line.request_id).toBe("storage-1");
      const cause = lines.find((l) => l.msg === "storage unavailable");
      expect(JSON.stringify(cause)).toContain(refusedMessage(app));
      // Drizzle's error text carries the query parameters: the hash and the row.
      const raw = app.rawLogs();
      expect(raw).not.toContain("never-log-me");
      expect(raw).not.toContain("$argon2");
      expect(raw).not.toMatch(/params:/);
    });
  });

  describe(`secrets stay out of the logs in real flows [${dialect}]`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(dialect, { LOG_LEVEL: "trace" });
    });
    afterAll(() => app.close());

    test("passwords, tokens and authorization headers are never logged", async () => {
      const email = uniqueEmail();
      const first = `${GOOD_PASSWORD} first-secret`;
      const second = `${GOOD_PASSWORD} second-secret`;
      const user = await registerUser(app, email, first);
      const login = await app.request("POST", "/auth/login", {
        json: { email, password: first },
      });
      const tokens = (await login.json()) as {
        access_token: string;
        refresh_token: string;
      };
      const refreshed = await app.request("POST", "/auth/refresh", {
        json: { refresh_token: tokens.refresh_token },
      });
      const next = (await refreshed.json()) as {
        access_token: string;
        refresh_token: string;
      };
      await app.request("GET", "/users/me", { token: next.access_token });
      await app.request("POST", "/users/me/password", {
        token: next.access_token,
        json: { current_password: first, new_password: second },
      });
      await app.request("POST", "/auth/login", {
        json: { email, password: "wrong-secret" },
      });
      await app.request("GET", "/users/me", {
        headers: { authorization: "Bearer not.a-valid.token-secret" },
      });
      await app.request("POST", "/auth/logout", {
        json: { refresh_token: next.refresh_token },
      });

      const raw = app.rawLogs();
      expect(app.logs.filter((l) => l.msg === "request").length).toBeGreaterThanOrEqual(
        8,
      );
      const secrets = [
        "first-secret",
        "second-secret",
        "wrong-secret",
        "token-secret",
        user.access_token,
        user.refresh_token,
        tokens.access_token,
        tokens.refresh_token,
        next.access_token,
        next.refresh_token,
      ];
      for (const secret of secrets) expect(raw).not.toContain(secret);
    });
  });

  describe(`the log level filters request lines [${dialect}]`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(dialect, { LOG_LEVEL: "warn" });
    });
    afterAll(() => app.close());

    test("at warn, a normal request logs nothing and a failure logs its error", async () => {
      await app.request("GET", "/healthz");
      await registerUser(app);
      expect(app.logs).toEqual([]);
      await failInsertsIntoUsers(app);
      await app.request("POST", "/auth/register", {
        json: { email: uniqueEmail(), password: GOOD_PASSWORD },
      });
      expect(app.logs.map((l) => [l.level, l.msg])).toEqual([
        ["error", "storage unavailable"],
      ]);
    });
  });
}

/**
 * Makes the database fail as a service would (a read-only or failing disk):
 * SQLite is switched to read-only, PostgreSQL raises an I/O error (SQLSTATE
 * class 58) on every insert into users. Both count as an outage: 503.
 */
async function failInsertsIntoUsers(app: TestApp) {
  const database = app.container.database;
  if (database.dialect === "sqlite") {
    database.client.exec("pragma query_only = 1");
    return;
  }
  await database.client.unsafe(`
    create function authd_test_refused() returns trigger language plpgsql as $$
    begin raise exception 'authd_test_refused' using errcode = '58030'; end $$;
    create trigger authd_test_refused before insert on users
    for each row execute function authd_test_refused();`);
}

/** What the injected failure's driver message says, per dialect. */
const refusedMessage = (app: TestApp) =>
  app.dialect === "sqlite" ? "readonly database" : "authd_test_refused";
