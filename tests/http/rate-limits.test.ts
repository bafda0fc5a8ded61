/**
 * The per-IP request budget (API.md "Abuse protection"): every POST under
 * /auth and /oauth from one client IP, per RATE_LIMIT_WINDOW. Client IPs come
 * from X-Forwarded-For (TRUST_PROXY=true), as behind a proxy.
 */
import { describe, expect, test } from "bun:test";
import { ipSubject } from "../../src/core/limits.ts";
import * as pgSchema from "../../src/db/schema/pg.ts";
import * as sqliteSchema from "../../src/db/schema/sqlite.ts";
import { DIALECTS } from "../helpers/databases.ts";
import {
  GOOD_PASSWORD,
  registerUser,
  type TestApp,
  uniqueEmail,
  useTestApp,
} from "../helpers/harness.ts";
import { expectProblem } from "../helpers/http.ts";

const LIMITED = {
  TRUST_PROXY: "true",
  RATE_LIMIT_PER_IP: "3",
  RATE_LIMIT_WINDOW: "60",
};

let ipSeq = 0;
/** A fresh client address per test, so tests sharing an app do not interfere. */
const freshIp = () => `198.51.100.${++ipSeq}`;

const from = (app: TestApp, ip: string) => ({
  post: (path: string, json: unknown = {}) =>
    app.request("POST", path, { json, headers: { "x-forwarded-for": ip } }),
  get: (path: string, token?: string) =>
    app.request("GET", path, {
      headers: { "x-forwarded-for": ip },
      ...(token ? { token } : {}),
    }),
});

async function rateLimitRows(app: TestApp) {
  const database = app.container.database;
  if (database.dialect === "pg") return database.db.select().from(pgSchema.rateLimits);
  return database.db.select().from(sqliteSchema.rateLimits).all();
}

async function userCount(app: TestApp, email: string) {
  return (await app.container.store.findUserByEmail(email)) ? 1 : 0;
}

for (const dialect of DIALECTS) {
  describe(`per-IP budget [${dialect}]`, () => {
    const app = useTestApp(dialect, LIMITED);

    test("past RATE_LIMIT_PER_IP POSTs, 429 rate_limited with Retry-After to the window's end", async () => {
      app.clock.set(new Date("2026-11-26T12:00:00.000Z"));
      const client = from(app, freshIp());
      const answers = [
        await client.post("/auth/login", { email: "a@example.com", password: "x" }),
        await client.post("/auth/refresh", { refresh_token: "nope" }),
        await client.post("/auth/logout", { refresh_token: "nope" }),
      ];
      expect(answers.map((r) => r.status)).toEqual([401, 401, 204]);

      app.clock.advance(15_000);
      const res = await client.post("/auth/login", {
        email: "a@example.com",
        password: "x",
      });
      const body = await expectProblem(res, 429, "rate_limited");
      expect(body.detail.length).toBeGreaterThan(0);
      // The window is 12:00:00–12:01:00; 15 s of it have passed.
      expect(res.headers.get("retry-after")).toBe("45");

      app.clock.advance(44_500);
      const last = await client.post("/auth/logout", { refresh_token: "nope" });
      await expectProblem(last, 429, "rate_limited");
      expect(last.headers.get("retry-after")).toBe("1");

      // The next window starts afresh.
      app.clock.advance(500);
      expect(
        (await client.post("/auth/logout", { refresh_token: "nope" })).status,
      ).toBe(204);
    });

    test("a refused request changes nothing, and is refused before its body is read", async () => {
      const ip = freshIp();
      const client = from(app, ip);
      const malformed = (at: string) =>
        app.request("POST", "/auth/login", {
          body: "{not json",
          headers: { "content-type": "application/json", "x-forwarded-for": at },
        });
      await expectProblem(await malformed(ip), 400, "malformed_body");
      for (let i = 0; i < 2; i++)
        await client.post("/auth/logout", { refresh_token: "x" });
      const email = uniqueEmail("limited");
      const res = await client.post("/auth/register", {
        email,
        password: GOOD_PASSWORD,
      });
      await expectProblem(res, 429, "rate_limited");
      expect(await userCount(app, email)).toBe(0);
      // Spent: even a malformed body gets the 429, not a 400.
      await expectProblem(await malformed(ip), 429, "rate_limited");
    });

    test("every POST under /auth and /oauth counts, known route or not; GETs and other paths do not", async () => {
      const ip = freshIp();
      const client = from(app, ip);
      const { access_token } = await registerUser(app, uniqueEmail("counted"));
      // Not counted: reads, and POSTs outside /auth and /oauth.
      for (let i = 0; i < 5; i++) {
        expect((await client.get("/users/me", access_token)).status).toBe(200);
        expect((await client.get("/.well-known/jwks.json")).status).toBe(200);
        expect((await client.post("/users/me/password", {})).status).toBe(422);
      }
      // Counted: routes other engineers add later under the same prefixes too.
      // (/oauth/token wants a form body: a JSON one is its 400 invalid_request.)
      expect((await client.post("/oauth/token", {})).status).toBe(400);
      expect((await client.post("/auth/not-yet-a-route", {})).status).toBe(404);
      expect((await client.post("/auth/logout-all", {})).status).toBe(401);
      // On the /oauth routes the 429 is in the RFC 6749 §5.2 shape.
      const refused = await client.post("/oauth/revoke", {});
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(await refused.json()).toMatchObject({ error: "temporarily_unavailable" });
      // GETs still work while POSTs are refused.
      expect((await client.get("/users/me", access_token)).status).toBe(200);
    });

    test("a burst of concurrent POSTs: exactly RATE_LIMIT_PER_IP get through, and every one is counted", async () => {
      const ip = freshIp();
      const client = from(app, ip);
      const before = (await rateLimitRows(app)).length;
      const answers = await Promise.all(
        Array.from({ length: 8 }, () =>
          client.post("/auth/logout", { refresh_token: "x" }),
        ),
      );
      const statuses = answers.map((r) => r.status).sort();
      expect(statuses).toEqual([204, 204, 204, 429, 429, 429, 429, 429]);
      for (const r of answers.filter((a) => a.status === 429))
        await expectProblem(r, 429, "rate_limited");
      const rows = await rateLimitRows(app);
      expect(rows.length).toBe(before + 1);
      expect(rows.map((r) => r.count)).toContain(8);
    });

    test("other IPs keep their own budget", async () => {
      const a = from(app, freshIp());
      const b = from(app, freshIp());
      for (let i = 0; i < 3; i++) await a.post("/auth/logout", { refresh_token: "x" });
      await expectProblem(await a.post("/auth/logout", {}), 429, "rate_limited");
      expect((await b.post("/auth/logout", { refresh_token: "x" })).status).toBe(204);
    });

    test("IPv6 clients are counted per /64; IPv4-mapped addresses as IPv4", async () => {
      const a = from(app, "2001:db8:aa:1::1");
      const sameNet = from(app, "2001:db8:aa:1:ffff:1234:5678:9abc");
      const otherNet = from(app, "2001:db8:aa:2::1");
      await a.post("/auth/logout", { refresh_token: "x" });
      await a.post("/auth/logout", { refresh_token: "x" });
      await sameNet.post("/auth/logout", { refresh_token: "x" });
      await expectProblem(await sameNet.post("/auth/logout", {}), 429, "rate_limited");
      expect((await otherNet.post("/auth/logout", { refresh_token: "x" })).status).toBe(
        204,
      );
      expect(ipSubject("::ffff:192.0.2.1")).toBe("192.0.2.1");
      expect(ipSubject("2001:DB8:0:0:1::5")).toBe("2001:db8:0:0::/64");
      expect(ipSubject("::1")).toBe("0:0:0:0::/64");
      expect(ipSubject(null)).toBe("unknown");
      expect(ipSubject("not-an-ip:")).toBe("not-an-ip:");
    });

    test("the table holds hashed keys, never an address; ended windows are swept", async () => {
      const ip = "203.0.113.77";
      await from(app, ip).post("/auth/logout", { refresh_token: "x" });
      const rows = await rateLimitRows(app);
      expect(rows.length).toBeGreaterThan(0);
      for (const r of rows) {
        expect(r.key).toMatch(/^(ip|account|account_ip):[A-Za-z0-9_-]{22}$/);
        expect(r.key).not.toContain("203.0.113");
      }
      app.clock.advance(61_000);
      expect(await app.container.limits.sweep()).toBeGreaterThanOrEqual(rows.length);
      expect(await rateLimitRows(app)).toEqual([]);
    });
  });

  describe(`per-IP budget off [${dialect}]`, () => {
    const app = useTestApp(dialect, { ...LIMITED, RATE_LIMIT_PER_IP: "0" });

    test("RATE_LIMIT_PER_IP=0 never refuses and writes nothing", async () => {
      const client = from(app, freshIp());
      for (let i = 0; i < 10; i++)
        expect((await client.post("/auth/logout", { refresh_token: "x" })).status).toBe(
          204,
        );
      expect(await rateLimitRows(app)).toEqual([]);
    });
  });
}
