/**
 * The OpenAPI document against what the server really answers: every route of
 * the route table is probed anonymously, as a user and as an admin, with no
 * body, an empty object, an unknown field, malformed JSON, a non-JSON body,
 * an oversized body, a bad path parameter and an unknown query parameter, and
 * past the per-IP budget. Whatever status comes back must be documented for
 * that operation, with the media type it was sent as. New routes are probed
 * as they appear: nothing here names one.
 */
import { describe, expect, test } from "bun:test";
import { createApp } from "../../src/http/app.ts";
import { signedInAs } from "../helpers/admin.ts";
import { DIALECTS } from "../helpers/databases.ts";
import { type TestApp, useTestApp } from "../helpers/harness.ts";

interface Documented {
  content?: Record<string, unknown>;
}
interface Doc {
  paths: Record<string, Record<string, { responses: Record<string, Documented> }>>;
}

/** Served but not documented on purpose (see tests/foundation/openapi.test.ts). */
const HIDDEN = /^\/swagger(\/|$)/;
/** A well-formed id that names nothing. */
const NO_SUCH_ID = "0192f4c8-0000-7000-8000-000000000000";
/** Small, so an oversized body is cheap to send. */
const MAX_BODY = 1024;

interface Probe {
  name: string;
  token?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

/** What a route is sent: each probe is one request. */
function probesFor(
  route: { method: string; path: string },
  tokens: { user: string; admin: string },
): Probe[] {
  const path = route.path.replace(/:[^/]+/g, NO_SUCH_ID);
  const json = { "content-type": "application/json" };
  const probes: Probe[] = [
    { name: "anonymous", path },
    { name: "unknown query parameter", path: `${path}?no_such_parameter=1` },
    { name: "as a user", path, token: tokens.user },
    { name: "as an admin", path, token: tokens.admin },
    {
      name: "user, unknown query parameter",
      path: `${path}?nope=1`,
      token: tokens.user,
    },
    {
      name: "admin, unknown query parameter",
      path: `${path}?nope=1`,
      token: tokens.admin,
    },
  ];
  if (route.path.includes(":")) {
    const bad = route.path.replace(/:[^/]+/g, "%E2%80%AEbad");
    probes.push(
      { name: "bad path parameter", path: bad, token: tokens.admin },
      { name: "user, bad path parameter", path: bad, token: tokens.user },
    );
  }
  if (["POST", "PATCH", "PUT", "DELETE"].includes(route.method)) {
    for (const token of [undefined, tokens.user, tokens.admin]) {
      const who =
        token === undefined ? "anonymous" : token === tokens.user ? "user" : "admin";
      probes.push(
        { name: `${who}, {}`, path, token, headers: json, body: "{}" },
        {
          name: `${who}, unknown field`,
          path,
          token,
          headers: json,
          body: '{"x_no":1}',
        },
        { name: `${who}, malformed JSON`, path, token, headers: json, body: '{"a":' },
        {
          name: `${who}, text/plain`,
          path,
          token,
          headers: { "content-type": "text/plain" },
          body: "x",
        },
      );
    }
  }
  probes.push({
    name: "oversized body",
    path,
    headers: json,
    body: JSON.stringify({ padding: "x".repeat(MAX_BODY * 2) }),
  });
  return probes;
}

/** The route's OpenAPI path: /users/:id → /users/{id}. */
const openApiPath = (path: string) => path.replace(/:([^/]+)/g, "{$1}");

async function documentOf(app: TestApp): Promise<Doc> {
  return (await (await app.request("GET", "/swagger/json")).json()) as Doc;
}

/**
 * Fails unless `res` is documented for the operation: its status, and its
 * media type (or no content for an empty body).
 */
async function expectDocumented(
  doc: Doc,
  method: string,
  route: string,
  name: string,
  res: Response,
) {
  const op = doc.paths[openApiPath(route)]?.[method.toLowerCase()];
  const status = String(res.status);
  const documented = op?.responses[status];
  const label = `${method} ${route} (${name}) → ${status}`;
  expect({ label, documented: documented !== undefined }).toEqual({
    label,
    documented: true,
  });
  const body = await res.text();
  const type = res.headers.get("content-type")?.split(";")[0]?.trim();
  const types = Object.keys(documented?.content ?? {});
  if (body.length === 0) expect({ label, types }).toEqual({ label, types: [] });
  else
    expect({ label, type: types.includes(type ?? "") }).toEqual({ label, type: true });
}

for (const dialect of DIALECTS) {
  describe(`the OpenAPI document documents every answer [${dialect}]`, () => {
    const app = useTestApp(dialect, { MAX_BODY_BYTES: String(MAX_BODY) });

    test("every status a route answers to ordinary and hostile requests is documented", async () => {
      const doc = await documentOf(app);
      const routes = createApp(app.container).app.routes.filter(
        (r) => !HIDDEN.test(r.path),
      );
      expect(routes.length).toBeGreaterThanOrEqual(22);
      const seen = new Set<string>();
      for (const route of routes) {
        // Fresh sessions for each route: one of them may end every session
        // (POST /auth/logout-all).
        const tokens = {
          user: (await signedInAs(app, ["user"])).access_token,
          admin: (await signedInAs(app, ["admin", "user"])).access_token,
        };
        for (const probe of probesFor(route, tokens)) {
          const res = await app.request(route.method, probe.path, {
            ...(probe.token ? { token: probe.token } : {}),
            ...(probe.headers ? { headers: probe.headers } : {}),
            ...(probe.body !== undefined ? { body: probe.body } : {}),
          });
          seen.add(String(res.status));
          await expectDocumented(doc, route.method, route.path, probe.name, res);
        }
      }
      // The probes reach every kind of answer the rules document.
      expect([...seen].sort()).toEqual(
        expect.arrayContaining([
          "200",
          "204",
          "400",
          "401",
          "403",
          "404",
          "413",
          "415",
          "422",
        ]),
      );
    });
  });

  describe(`the OpenAPI document documents the per-IP budget [${dialect}]`, () => {
    const app = useTestApp(dialect, {
      TRUST_PROXY: "true",
      RATE_LIMIT_PER_IP: "1",
      RATE_LIMIT_WINDOW: "3600",
    });

    test("a POST past the budget answers 429, documented on every budgeted route", async () => {
      const doc = await documentOf(app);
      const posts = createApp(app.container).app.routes.filter(
        (r) => r.method === "POST" && /^\/(auth|oauth)\//.test(r.path),
      );
      expect(posts.length).toBeGreaterThanOrEqual(5);
      let ip = 0;
      for (const route of posts) {
        const headers = {
          "x-forwarded-for": `198.51.100.${++ip}`,
          "content-type": "application/json",
        };
        await app.request("POST", route.path, { headers, body: "{}" });
        const res = await app.request("POST", route.path, { headers, body: "{}" });
        expect({ route: route.path, status: res.status }).toEqual({
          route: route.path,
          status: 429,
        });
        await expectDocumented(doc, "POST", route.path, "past the budget", res);
      }
    });
  });
}
