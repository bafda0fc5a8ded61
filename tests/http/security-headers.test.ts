/**
 * Headers on every response (API.md "Abuse protection"): the security
 * headers, a CSP per route, and CORS for the CORS_ORIGINS allowlist only.
 */
import { describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/config.ts";
import { DIALECTS } from "../helpers/databases.ts";
import {
  registerUser,
  TEST_ENV,
  type TestApp,
  uniqueEmail,
  useTestApp,
} from "../helpers/harness.ts";

const APP = "https://app.example.com";
const ADMIN = "http://localhost:5173";
const EVIL = "https://evil.example.net";

const SECURITY = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

const headersOf = (res: Response, names: string[]) =>
  Object.fromEntries(names.map((n) => [n, res.headers.get(n)]));

const CORS_HEADERS = [
  "access-control-allow-origin",
  "access-control-allow-methods",
  "access-control-allow-headers",
  "access-control-max-age",
  "access-control-expose-headers",
  "access-control-allow-credentials",
];

/** A response of each kind: JSON, problem+json (404, 405, 401, 422, 415), empty, HTML. */
async function variety(app: TestApp): Promise<Response[]> {
  const user = await registerUser(app, uniqueEmail("headers"));
  return [
    await app.request("GET", "/healthz"),
    await app.request("GET", "/.well-known/jwks.json"),
    await app.request("GET", "/users/me", { token: user.access_token }),
    await app.request("GET", "/no/such/route"),
    await app.request("DELETE", "/healthz"),
    await app.request("GET", "/users/me"),
    await app.request("POST", "/auth/login", { json: {} }),
    await app.request("POST", "/auth/login", { body: "x" }),
    await app.request("POST", "/auth/logout", { json: { refresh_token: "x" } }),
    await app.request("GET", "/swagger/json"),
    await app.request("GET", "/swagger"),
  ];
}

for (const dialect of DIALECTS) {
  describe(`security headers [${dialect}]`, () => {
    const app = useTestApp(dialect);

    test("every response carries nosniff, no-referrer and DENY, and a CSP", async () => {
      const responses = await variety(app);
      expect(responses.map((r) => r.status)).toEqual([
        200, 200, 200, 404, 405, 401, 422, 415, 204, 200, 200,
      ]);
      for (const res of responses) {
        expect(headersOf(res, Object.keys(SECURITY))).toEqual(SECURITY);
        expect(res.headers.get("content-security-policy")).toBeTruthy();
      }
    });

    test("the API forbids loading anything; the Swagger page gets its own policy", async () => {
      const api = await app.request("GET", "/healthz");
      expect(api.headers.get("content-security-policy")).toBe(
        "default-src 'none'; frame-ancestors 'none'",
      );
      const page = await app.request("GET", "/swagger");
      const csp = page.headers.get("content-security-policy") ?? "";
      // Swagger UI is served by the daemon itself: this origin is the only
      // source, and nothing runs inline.
      expect(csp).toBe(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      );
      // Every script and stylesheet the page loads is on this origin.
      const html = await page.text();
      const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] ?? "");
      expect(refs.length).toBe(4);
      for (const ref of refs) expect(ref).toMatch(/^\/swagger\//);
    });

    test("without CORS_ORIGINS no response carries CORS headers, not even Vary", async () => {
      const res = await app.request("GET", "/healthz", { headers: { origin: APP } });
      expect(headersOf(res, [...CORS_HEADERS, "vary"])).toEqual(
        Object.fromEntries([...CORS_HEADERS, "vary"].map((h) => [h, null])),
      );
    });
  });

  describe(`CORS allowlist [${dialect}]`, () => {
    const app = useTestApp(dialect, { CORS_ORIGINS: `${APP}, ${ADMIN}/` });

    test("an allowed origin gets its own origin back, Vary: Origin and the exposed headers", async () => {
      for (const origin of [APP, ADMIN]) {
        const res = await app.request("GET", "/healthz", { headers: { origin } });
        expect(res.status).toBe(200);
        expect(headersOf(res, CORS_HEADERS)).toEqual({
          "access-control-allow-origin": origin,
          "access-control-allow-methods": null,
          "access-control-allow-headers": null,
          "access-control-max-age": null,
          "access-control-expose-headers": "x-request-id, retry-after",
          "access-control-allow-credentials": null,
        });
        expect(res.headers.get("vary")).toContain("Origin");
      }
      // Errors too: a browser script must be able to read a 401's problem body.
      const denied = await app.request("GET", "/users/me", {
        headers: { origin: APP },
      });
      expect(denied.status).toBe(401);
      expect(denied.headers.get("access-control-allow-origin")).toBe(APP);
    });

    test("a preflight from an allowed origin is answered 204 with methods, headers and max-age", async () => {
      const res = await app.request("OPTIONS", "/auth/login", {
        headers: {
          origin: APP,
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type, x-request-id",
        },
      });
      expect(res.status).toBe(204);
      expect(await res.text()).toBe("");
      expect(headersOf(res, CORS_HEADERS)).toEqual({
        "access-control-allow-origin": APP,
        "access-control-allow-methods": "POST",
        "access-control-allow-headers": "authorization, content-type, x-request-id",
        "access-control-max-age": "600",
        "access-control-expose-headers": null,
        "access-control-allow-credentials": null,
      });
      expect(headersOf(res, Object.keys(SECURITY))).toEqual(SECURITY);
      const me = await app.request("OPTIONS", "/users/me", {
        headers: { origin: ADMIN, "access-control-request-method": "PATCH" },
      });
      // DELETE too: /users/me is also the admin route /users/{id} with the id "me".
      expect(me.headers.get("access-control-allow-methods")).toBe("DELETE, GET, PATCH");
    });

    test("any other origin gets no CORS headers, on preflights and requests alike", async () => {
      for (const origin of [EVIL, `${APP}.evil.net`, "null", APP.toUpperCase()]) {
        const pre = await app.request("OPTIONS", "/auth/login", {
          headers: { origin, "access-control-request-method": "POST" },
        });
        expect(pre.status).toBe(405);
        const res = await app.request("GET", "/healthz", { headers: { origin } });
        for (const r of [pre, res]) {
          expect(headersOf(r, CORS_HEADERS)).toEqual(
            Object.fromEntries(CORS_HEADERS.map((h) => [h, null])),
          );
          // Still Vary: Origin, so a shared cache never serves one origin's answer to another.
          expect(r.headers.get("vary")).toContain("Origin");
        }
      }
    });
  });
}

describe("CORS_ORIGINS validation", () => {
  const load = (value: string) =>
    loadConfig({ ...TEST_ENV, DATABASE_URL: "sqlite::memory:", CORS_ORIGINS: value });

  test("exact origins are accepted and normalised", () => {
    expect(load(" https://A.example.com/ ,http://localhost:3000").corsOrigins).toEqual([
      "https://a.example.com",
      "http://localhost:3000",
    ]);
    expect(load("").corsOrigins).toEqual([]);
  });

  test("a wildcard, a path or another scheme is refused with the key named", () => {
    for (const bad of [
      "*",
      "https://a.example.com/app",
      "ftp://a.example.com",
      "a.com",
    ]) {
      expect(() => load(bad)).toThrow(/CORS_ORIGINS/);
    }
  });
});
