/**
 * GET /metrics (API.md "Operations"): what a Prometheus scrape sees after
 * real traffic, on both dialects — request counters and durations by route
 * pattern (never a raw path), logins, refreshes and 429s by outcome, the
 * gauges read at scrape time (hash queue, storage circuit, outbox), the
 * optional METRICS_TOKEN, and METRICS_ENABLED=false.
 */
import { afterEach, describe, expect, test } from "bun:test";
import postgres from "postgres";
import pkg from "../../package.json" with { type: "json" };
import * as pgSchema from "../../src/db/schema/pg.ts";
import * as sqliteSchema from "../../src/db/schema/sqlite.ts";
import { createHasher } from "../../src/infra/hasher.ts";
import { signedInAdmin } from "../helpers/admin.ts";
import { DIALECTS, PG_URL } from "../helpers/databases.ts";
import { gatedEngine } from "../helpers/gated-engine.ts";
import {
  createTestApp,
  GOOD_PASSWORD,
  registerUser,
  type TestApp,
} from "../helpers/harness.ts";
import { expectProblem, liveSessionIds, login, me, refresh } from "../helpers/http.ts";
import {
  PROMETHEUS_CONTENT_TYPE,
  parsePrometheus,
  type Scrape,
} from "../helpers/prometheus.ts";

/** Scrapes like Prometheus does and checks what every scrape carries. */
async function scrape(app: TestApp, token?: string): Promise<Scrape> {
  const res = await app.request("GET", "/metrics", token ? { token } : {});
  const text = await res.text();
  expect({ status: res.status, text: res.status === 200 ? "" : text }).toEqual({
    status: 200,
    text: "",
  });
  expect(res.headers.get("content-type")).toBe(PROMETHEUS_CONTENT_TYPE);
  expect(res.headers.get("cache-control")).toBe("no-store");
  return parsePrometheus(text);
}

const requests = (s: Scrape, method: string, route: string, status: number) =>
  s.value("authd_http_requests_total", { method, route, status: String(status) });

/** Access lines of the handler (not other log lines). */
const accessLines = (app: TestApp) => app.logs.filter((l) => l.msg === "request");

for (const dialect of DIALECTS) {
  describe(`GET /metrics [${dialect}]`, () => {
    let app: TestApp | undefined;
    afterEach(async () => {
      await app?.close();
      app = undefined;
    });

    test("counts requests by route pattern, never by raw path; times them by route", async () => {
      app = await createTestApp(dialect);
      const user = await registerUser(app);
      const admin = await signedInAdmin(app);
      for (let i = 0; i < 3; i++)
        expect((await me(app, user.access_token)).status).toBe(200);
      const other = crypto.randomUUID();
      expect(
        (
          await app.request("GET", `/users/${user.user.id}`, {
            token: admin.access_token,
          })
        ).status,
      ).toBe(200);
      expect(
        (await app.request("GET", `/users/${other}`, { token: admin.access_token }))
          .status,
      ).toBe(404);
      expect((await app.request("GET", "/no/such/route")).status).toBe(404);
      expect((await app.request("DELETE", "/healthz")).status).toBe(405);
      expect((await app.request("PROPFIND", "/healthz")).status).toBe(405);

      const s = await scrape(app);
      expect(requests(s, "POST", "/auth/register", 201)).toBe(1);
      expect(requests(s, "POST", "/auth/login", 200)).toBe(1); // the admin's sign-in
      expect(requests(s, "GET", "/users/me", 200)).toBe(3);
      // Elysia's /users/:id, labelled as the OpenAPI document names it.
      expect(requests(s, "GET", "/users/{id}", 200)).toBe(1);
      expect(requests(s, "GET", "/users/{id}", 404)).toBe(1);
      expect(requests(s, "GET", "unmatched", 404)).toBe(1);
      expect(requests(s, "DELETE", "unmatched", 405)).toBe(1);
      // A method nobody defined does not become a label value of its own.
      expect(requests(s, "other", "unmatched", 405)).toBe(1);
      // No raw path, id or unknown method reaches a label.
      for (const raw of [
        user.user.id,
        other,
        "/no/such/route",
        "PROPFIND",
        "/users/:id",
      ])
        expect(s.text).not.toContain(raw);

      expect(s.types.get("authd_http_requests_total")).toBe("counter");
      expect(s.types.get("authd_http_request_duration_seconds")).toBe("histogram");
      const count = s.value("authd_http_request_duration_seconds_count", {
        route: "/users/me",
      });
      expect(count).toBe(3);
      const buckets = s
        .all("authd_http_request_duration_seconds_bucket", { route: "/users/me" })
        .map((b) => b.value);
      expect(buckets.length).toBeGreaterThan(5);
      expect([...buckets].sort((a, b) => a - b)).toEqual(buckets); // cumulative
      expect(
        s.value("authd_http_request_duration_seconds_bucket", {
          route: "/users/me",
          le: "+Inf",
        }),
      ).toBe(3);
      expect(
        s.value("authd_http_request_duration_seconds_sum", { route: "/users/me" }),
      ).toBeGreaterThan(0);

      expect(s.value("authd_build_info", { version: pkg.version })).toBe(1);
      expect(s.value("authd_storage_circuit_open")).toBe(0);
      expect(s.value("authd_outbox_pending")).toBe(0);
      expect(s.value("authd_password_hash_queue")).toBe(0);

      // The scrape itself is counted by the next one, and not access-logged;
      // every other request is.
      const again = await scrape(app);
      expect(requests(again, "GET", "/metrics", 200)).toBe(1);
      const lines = accessLines(app);
      expect(lines.filter((l) => l.route === "/metrics")).toEqual([]);
      expect(lines.filter((l) => l.route === "/users/me").length).toBe(3);
    });

    test("logins, refreshes and 429s by outcome", async () => {
      app = await createTestApp(dialect, { LOGIN_FAILURES_PER_ACCOUNT_IP: "2" });
      const user = await registerUser(app);
      const s0 = await scrape(app);
      for (const outcome of ["success", "invalid_credentials", "rate_limited", "error"])
        expect(s0.value("authd_logins_total", { outcome })).toBe(0);

      expect((await login(app, user.email, GOOD_PASSWORD)).status).toBe(200);
      expect((await login(app, user.email, "wrong password 1")).status).toBe(401);
      expect((await login(app, user.email, "wrong password 2")).status).toBe(401);
      await expectProblem(
        await login(app, user.email, GOOD_PASSWORD),
        429,
        "rate_limited",
      );

      // One refresh of each kind: the first use rotates, a repeat within
      // REFRESH_REUSE_INTERVAL gets the same successor, a later one is reuse
      // and ends the session, and a token nobody issued is invalid.
      expect((await refresh(app, user.refresh_token)).status).toBe(200);
      expect((await refresh(app, user.refresh_token)).status).toBe(200);
      app.clock.advance((app.config.REFRESH_REUSE_INTERVAL + 1) * 1000);
      await expectProblem(await refresh(app, user.refresh_token), 401, "invalid_grant");
      await expectProblem(
        await refresh(app, "never-issued-refresh-token"),
        401,
        "invalid_grant",
      );

      const s = await scrape(app);
      expect(s.types.get("authd_logins_total")).toBe("counter");
      expect({
        success: s.value("authd_logins_total", { outcome: "success" }),
        invalid_credentials: s.value("authd_logins_total", {
          outcome: "invalid_credentials",
        }),
        rate_limited: s.value("authd_logins_total", { outcome: "rate_limited" }),
        refused: s.value("authd_logins_total", { outcome: "refused" }),
        error: s.value("authd_logins_total", { outcome: "error" }),
      }).toEqual({
        success: 1,
        invalid_credentials: 2,
        rate_limited: 1,
        refused: 0,
        error: 0,
      });
      expect({
        rotated: s.value("authd_refresh_total", { outcome: "rotated" }),
        reused: s.value("authd_refresh_total", { outcome: "reused" }),
        reuse_detected: s.value("authd_refresh_total", { outcome: "reuse_detected" }),
        invalid: s.value("authd_refresh_total", { outcome: "invalid" }),
      }).toEqual({ rotated: 1, reused: 1, reuse_detected: 1, invalid: 1 });
      expect({
        ip: s.value("authd_rate_limited_total", { budget: "ip" }),
        account_ip: s.value("authd_rate_limited_total", { budget: "account_ip" }),
        account: s.value("authd_rate_limited_total", { budget: "account" }),
      }).toEqual({ ip: 0, account_ip: 1, account: 0 });
      expect(requests(s, "POST", "/auth/login", 429)).toBe(1);
      expect(requests(s, "POST", "/auth/refresh", 401)).toBe(2);
      // The reuse ended the register session; the login's session is live.
      expect((await liveSessionIds(app, user.user.id)).length).toBe(1);
    });

    test("the per-IP budget's refusals are counted under budget=ip", async () => {
      app = await createTestApp(dialect, { RATE_LIMIT_PER_IP: "2" });
      const codes: number[] = [];
      for (let i = 0; i < 4; i++)
        codes.push((await login(app, "nobody@example.com", "whatever it is")).status);
      expect(codes).toEqual([401, 401, 429, 429]);
      const s = await scrape(app);
      expect(s.value("authd_rate_limited_total", { budget: "ip" })).toBe(2);
      // Refused before the login ran: only the two that ran are logins.
      expect(s.value("authd_logins_total", { outcome: "invalid_credentials" })).toBe(2);
      expect(s.value("authd_logins_total", { outcome: "rate_limited" })).toBe(0);
      // /metrics is a GET: never behind the per-IP budget, even when it is spent.
      await scrape(app);
    });

    test("with METRICS_TOKEN: 401 problem without the bearer token, 200 with it", async () => {
      const token = "scrape-secret-0123456789";
      app = await createTestApp(dialect, { METRICS_TOKEN: token });
      const a = app;
      const refused = async (headers: Record<string, string>) => {
        const res = await a.request("GET", "/metrics", { headers });
        const body = await expectProblem(res, 401, "unauthenticated");
        expect(res.headers.get("www-authenticate")).toBe("Bearer");
        expect(body.detail).not.toContain(token);
        expect(JSON.stringify(body)).not.toContain("authd_");
      };
      await refused({});
      await refused({ authorization: "Bearer wrong-secret" });
      await refused({ authorization: `Bearer ${token}x` });
      await refused({ authorization: `Bearer ${token.slice(0, -1)}` });
      await refused({ authorization: `Basic ${btoa(`prometheus:${token}`)}` });
      await refused({ authorization: token });

      const s = await scrape(app, token);
      expect(requests(s, "GET", "/metrics", 401)).toBe(6);
      const lower = await app.request("GET", "/metrics", {
        headers: { authorization: `bearer ${token}` },
      });
      expect(lower.status).toBe(200);

      // Refused scrapes are access-logged (someone is probing); the token never is.
      const lines = accessLines(app).filter((l) => l.route === "/metrics");
      expect(lines.map((l) => l.status)).toEqual([401, 401, 401, 401, 401, 401]);
      expect(app.rawLogs()).not.toContain(token);
    });

    test("authd_storage_circuit_open flips to 1 when the storage breaker opens", async () => {
      app = await createTestApp(dialect, { DB_BREAKER_THRESHOLD: "2" });
      const user = await registerUser(app);
      const before = await scrape(app);
      expect(before.value("authd_storage_circuit_open")).toBe(0);
      expect(before.value("authd_outbox_pending")).toBe(0);

      await breakStorage(app);
      for (let i = 0; i < 4; i++)
        await expectProblem(await me(app, user.access_token), 503, "unavailable");

      // The scrape still answers, without storage: the circuit is open, and
      // the outbox count, which needs storage, reads NaN (unknown), not 0.
      const after = await scrape(app);
      expect(after.value("authd_storage_circuit_open")).toBe(1);
      expect(after.value("authd_outbox_pending")).toBeNaN();
      expect(requests(after, "GET", "/users/me", 503)).toBe(4);
      expect(
        app.logs.some(
          (l) => l.msg === "metrics source failed" && l.source === "outbox_pending",
        ),
      ).toBe(true);
    });

    test("authd_outbox_pending counts the mails waiting to be sent", async () => {
      app = await createTestApp(dialect);
      await insertOutbox(app, ["pending", "pending", "pending", "sent", "failed"]);
      const s = await scrape(app);
      expect(s.value("authd_outbox_pending")).toBe(3);
      expect(s.types.get("authd_outbox_pending")).toBe("gauge");
      // The scrape only read: the rows are as they were.
      expect((await outboxStatuses(app)).sort()).toEqual([
        "failed",
        "pending",
        "pending",
        "pending",
        "sent",
      ]);
    });

    test("authd_password_hash_queue shows hashes waiting for a slot", async () => {
      const gate = gatedEngine();
      const hasher = createHasher(
        { memoryKib: 1024, timeCost: 1, concurrency: 1, queueMax: 8 },
        gate.engine,
      );
      app = await createTestApp(dialect, {}, { hasher });
      const user = await registerUser(app);
      gate.close();
      const logins = [1, 2, 3].map(() =>
        login(app as TestApp, user.email, GOOD_PASSWORD),
      );
      while (hasher.stats().waiting < 2) await Bun.sleep(1);
      const s = await scrape(app);
      expect(s.value("authd_password_hash_queue")).toBe(2);
      expect(s.value("authd_password_hashes_running")).toBe(1);
      gate.release();
      for (const res of await Promise.all(logins)) expect(res.status).toBe(200);
      const after = await scrape(app);
      expect(after.value("authd_password_hash_queue")).toBe(0);
      expect(after.value("authd_logins_total", { outcome: "success" })).toBe(3);
    });

    test("METRICS_ENABLED=false: no /metrics route and nothing counted", async () => {
      app = await createTestApp(dialect, { METRICS_ENABLED: "false" });
      expect(app.container.metrics).toBeNull();
      await expectProblem(await app.request("GET", "/metrics"), 404, "not_found");
      const user = await registerUser(app);
      expect((await me(app, user.access_token)).status).toBe(200);
      // The access log still has every request.
      expect(accessLines(app).map((l) => l.route)).toEqual([
        null,
        "/auth/register",
        "/users/me",
      ]);
    });
  });
}

/** Takes the database away under the running app (as tests/foundation/errors.test.ts). */
async function breakStorage(app: TestApp) {
  const database = app.container.database;
  if (database.dialect === "sqlite") {
    database.client.close();
    return;
  }
  const name = new URL(app.config.DATABASE_URL).pathname.slice(1);
  const admin = postgres(PG_URL ?? "", { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database "${name}" with (force)`);
  } finally {
    await admin.end();
  }
}

async function insertOutbox(app: TestApp, statuses: ("pending" | "sent" | "failed")[]) {
  const now = app.clock.now();
  const rows = statuses.map((status, i) => ({
    id: `outbox-${i}`,
    kind: "verify_email",
    recipient: `r${i}@example.com`,
    payloadSealed: "sealed",
    status,
    attempts: status === "pending" ? 0 : 1,
    nextAttemptAt: now,
    createdAt: now,
    sentAt: status === "sent" ? now : null,
  }));
  const database = app.container.database;
  if (database.dialect === "pg") await database.db.insert(pgSchema.outbox).values(rows);
  else database.db.insert(sqliteSchema.outbox).values(rows).run();
}

async function outboxStatuses(app: TestApp): Promise<string[]> {
  const database = app.container.database;
  const rows =
    database.dialect === "pg"
      ? await database.db.select().from(pgSchema.outbox)
      : database.db.select().from(sqliteSchema.outbox).all();
  return rows.map((r) => r.status);
}
