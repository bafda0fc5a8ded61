/**
 * The /oauth routes byte for byte, as the RFCs shape them: form-encoded
 * requests, RFC 6749 §5.2 error bodies (never problem+json), no-store on
 * every answer, and what the database holds afterwards. Discovery: both
 * documents are identical, advertise only what exists, and every URL they
 * advertise answers.
 */
import { describe, expect, test } from "bun:test";
import { signedInAdmin, signedInAs } from "../helpers/admin.ts";
import { DIALECTS } from "../helpers/databases.ts";
import {
  createTestApp,
  registerUser,
  type TestApp,
  useTestApp,
} from "../helpers/harness.ts";
import {
  auditOf,
  claimsOf,
  expectProblem,
  liveSessionIds,
  me,
  refresh,
  sessionTokens,
} from "../helpers/http.ts";

const FORM = "application/x-www-form-urlencoded";

/** POSTs a form body (a string is sent as it is). */
const form = (
  app: TestApp,
  path: string,
  body: Record<string, string> | string,
  headers: Record<string, string> = {},
) =>
  app.request("POST", path, {
    body: typeof body === "string" ? body : new URLSearchParams(body).toString(),
    headers: { "content-type": FORM, ...headers },
  });

/** An RFC 6749 §5.2 error: status, exact error code, JSON, no-store, no problem+json. */
async function expectOAuthError(res: Response, status: number, error: string) {
  const text = await res.text();
  expect({ status: res.status, text }).toMatchObject({ status });
  expect(res.headers.get("content-type")).toBe("application/json");
  expect(res.headers.get("cache-control")).toBe("no-store");
  expect(res.headers.get("pragma")).toBe("no-cache");
  expect(res.headers.get("x-request-id")).toBeTruthy();
  const body = JSON.parse(text) as Record<string, unknown>;
  expect(Object.keys(body).sort()).toEqual(["error", "error_description"]);
  expect(body.error).toBe(error);
  expect(typeof body.error_description).toBe("string");
  return body;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

for (const dialect of DIALECTS) {
  describe(`POST /oauth/token [${dialect}]`, () => {
    const app = useTestApp(dialect);

    test("refresh_token grant: a token response, the old token spent, the successor live", async () => {
      const user = await registerUser(app);
      const sid = claimsOf(user.access_token).sid;
      const res = await form(app, "/oauth/token", {
        grant_type: "refresh_token",
        refresh_token: user.refresh_token,
        client_id: "ignored-public-client",
      });
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(res.headers.get("pragma")).toBe("no-cache");
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toMatchObject({
        token_type: "Bearer",
        expires_in: 900,
        user: { id: user.user.id },
      });
      expect(body.refresh_token).not.toBe(user.refresh_token);
      expect(claimsOf(body.access_token as string).sid).toBe(sid);
      const { rows, live } = await sessionTokens(app, sid);
      expect(rows).toHaveLength(2);
      expect(live).toHaveLength(1);
      // The JSON route and the form route share one chain: the old token is spent.
      expect((await refresh(app, body.refresh_token as string)).status).toBe(200);
    });

    test("errors: invalid_grant, unsupported_grant_type, invalid_request — never problem+json", async () => {
      const user = await registerUser(app);
      await expectOAuthError(
        await form(app, "/oauth/token", {
          grant_type: "refresh_token",
          refresh_token: "never-issued",
        }),
        400,
        "invalid_grant",
      );
      await expectOAuthError(
        await form(app, "/oauth/token", { grant_type: "password", username: "a" }),
        400,
        "unsupported_grant_type",
      );
      await expectOAuthError(
        await form(app, "/oauth/token", { grant_type: "refresh_token" }),
        400,
        "invalid_request",
      );
      // RFC 6749 §3.1: an empty value counts as absent.
      await expectOAuthError(
        await form(app, "/oauth/token", "grant_type=refresh_token&refresh_token="),
        400,
        "invalid_request",
      );
      await expectOAuthError(
        await form(app, "/oauth/token", ""),
        400,
        "invalid_request",
      );
      // §3.2: a parameter sent twice.
      const twice = await expectOAuthError(
        await form(
          app,
          "/oauth/token",
          `grant_type=refresh_token&refresh_token=${user.refresh_token}&refresh_token=x`,
        ),
        400,
        "invalid_request",
      );
      expect(twice.error_description).toContain("refresh_token");
      // JSON is not what this route takes.
      await expectOAuthError(
        await app.request("POST", "/oauth/token", {
          json: { grant_type: "refresh_token", refresh_token: user.refresh_token },
        }),
        400,
        "invalid_request",
      );
      // Not UTF-8.
      await expectOAuthError(
        await app.request("POST", "/oauth/token", {
          body: new Uint8Array([0x67, 0x3d, 0xff, 0xfe]),
          headers: { "content-type": FORM },
        }),
        400,
        "invalid_request",
      );
      // Control characters in a token.
      await expectOAuthError(
        await form(app, "/oauth/token", {
          grant_type: "refresh_token",
          refresh_token: "a\u0000b",
        }),
        400,
        "invalid_request",
      );
      // None of these spent the user's token.
      expect((await refresh(app, user.refresh_token)).status).toBe(200);
    });

    test("reuse after the interval revokes the session (the same core as /auth/refresh)", async () => {
      const user = await registerUser(app);
      const first = await form(app, "/oauth/token", {
        grant_type: "refresh_token",
        refresh_token: user.refresh_token,
      });
      expect(first.status).toBe(200);
      app.clock.advance(11_000);
      await expectOAuthError(
        await form(app, "/oauth/token", {
          grant_type: "refresh_token",
          refresh_token: user.refresh_token,
        }),
        400,
        "invalid_grant",
      );
      expect(await liveSessionIds(app, user.user.id)).toEqual([]);
      const events = await auditOf(app, "session.refresh_reuse", user.user.id);
      expect(events).toHaveLength(1);
    });

    test("the wrong method is a 405 problem (it is not one of the four routes)", async () => {
      const res = await app.request("GET", "/oauth/token");
      await expectProblem(res, 405, "method_not_allowed");
      expect(res.headers.get("allow")).toBe("POST");
    });
  });

  describe(`POST /oauth/revoke [${dialect}]`, () => {
    const app = useTestApp(dialect);

    test("a refresh token: 200 with no body, its session ends, audited as a logout", async () => {
      const user = await registerUser(app);
      const res = await form(app, "/oauth/revoke", {
        token: user.refresh_token,
        token_type_hint: "refresh_token",
      });
      expect(res.status).toBe(200);
      expect(await res.text()).toBe("");
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(await liveSessionIds(app, user.user.id)).toEqual([]);
      expect((await me(app, user.access_token)).status).toBe(401);
      expect(await auditOf(app, "session.logout", user.user.id)).toHaveLength(1);
    });

    test("an access token: 200, and its session (only that one) ends", async () => {
      const user = await registerUser(app);
      const other = await app.request("POST", "/auth/login", {
        json: { email: user.email, password: user.password },
      });
      const otherTokens = (await other.json()) as { access_token: string };
      const res = await form(app, "/oauth/revoke", { token: user.access_token });
      expect(res.status).toBe(200);
      expect(await liveSessionIds(app, user.user.id)).toEqual([
        claimsOf(otherTokens.access_token).sid,
      ]);
      expect((await me(app, user.access_token)).status).toBe(401);
      expect((await me(app, otherTokens.access_token)).status).toBe(200);
      expect((await refresh(app, user.refresh_token)).status).toBe(401);
    });

    test("unknown, garbage and repeated tokens are 200 (RFC 7009 §2.2); no token is invalid_request", async () => {
      const user = await registerUser(app);
      for (const token of [
        "never-issued",
        "a.b.c",
        user.refresh_token,
        user.refresh_token,
      ]) {
        const res = await form(app, "/oauth/revoke", { token });
        expect({ token, status: res.status }).toEqual({ token, status: 200 });
      }
      await expectOAuthError(
        await form(app, "/oauth/revoke", { token_type_hint: "access_token" }),
        400,
        "invalid_request",
      );
    });
  });

  describe(`POST /oauth/introspect [${dialect}]`, () => {
    const app = useTestApp(dialect);

    test("a service principal learns an access token's state and owner", async () => {
      const service = await signedInAs(app, ["service"]);
      const user = await registerUser(app);
      const claims = claimsOf(user.access_token);
      const res = await form(
        app,
        "/oauth/introspect",
        { token: user.access_token, token_type_hint: "access_token" },
        bearer(service.access_token),
      );
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(await res.json()).toEqual({
        active: true,
        sub: user.user.id,
        sid: claims.sid,
        jti: claims.jti,
        exp: claims.exp,
        iat: claims.iat,
        iss: "http://authd.test",
        aud: "authd",
        roles: ["user"],
        token_type: "Bearer",
      });
    });

    test("inactive: an ended session, an expired token, a refresh token, garbage", async () => {
      const admin = await signedInAdmin(app);
      const inactive = async (token: string) => {
        const res = await form(
          app,
          "/oauth/introspect",
          { token },
          bearer(admin.access_token),
        );
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual({ active: false });
      };
      const ended = await registerUser(app);
      await app.request("POST", "/auth/logout", {
        json: { refresh_token: ended.refresh_token },
      });
      await inactive(ended.access_token);
      const user = await registerUser(app);
      await inactive(user.refresh_token);
      await inactive("not-a-token");
      await inactive("a.b.c");
      // Past exp (+ the verifier's leeway) the token is inactive; the admin signs in anew.
      app.clock.advance(16 * 60_000 + 61_000);
      const fresh = await signedInAdmin(app);
      const res = await form(
        app,
        "/oauth/introspect",
        { token: user.access_token },
        bearer(fresh.access_token),
      );
      expect(await res.json()).toEqual({ active: false });
    });

    test("the caller: no token 401, a rejected one 401, a plain user 403 (RFC 6750 challenges)", async () => {
      const user = await registerUser(app);
      const none = await form(app, "/oauth/introspect", { token: user.access_token });
      await expectOAuthError(none, 401, "invalid_request");
      expect(none.headers.get("www-authenticate")).toBe("Bearer");
      const bad = await form(
        app,
        "/oauth/introspect",
        { token: user.access_token },
        bearer("nope"),
      );
      await expectOAuthError(bad, 401, "invalid_token");
      expect(bad.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
      const plain = await form(
        app,
        "/oauth/introspect",
        { token: user.access_token },
        bearer(user.access_token),
      );
      await expectOAuthError(plain, 403, "insufficient_scope");
      expect(plain.headers.get("www-authenticate")).toBe(
        'Bearer error="insufficient_scope"',
      );
      // Roles are read now: a demoted service principal is refused at its next call.
      const service = await signedInAs(app, ["service"]);
      await app.container.userAdmin.setRoles(service.user.id, ["user"], {
        actorId: "cli",
      });
      await expectOAuthError(
        await form(
          app,
          "/oauth/introspect",
          { token: user.access_token },
          bearer(service.access_token),
        ),
        403,
        "insufficient_scope",
      );
    });
  });

  describe(`GET /oauth/userinfo [${dialect}]`, () => {
    const app = useTestApp(dialect);

    test("the OIDC claims; name only when set; errors in the RFC shape", async () => {
      const user = await registerUser(app);
      const res = await app.request("GET", "/oauth/userinfo", {
        token: user.access_token,
      });
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(await res.json()).toEqual({
        sub: user.user.id,
        email: user.email,
        email_verified: false,
      });
      const none = await app.request("GET", "/oauth/userinfo");
      await expectOAuthError(none, 401, "invalid_request");
      expect(none.headers.get("www-authenticate")).toBe("Bearer");
      await app.request("POST", "/auth/logout-all", { token: user.access_token });
      const ended = await app.request("GET", "/oauth/userinfo", {
        token: user.access_token,
      });
      await expectOAuthError(ended, 401, "invalid_token");
    });
  });

  describe(`discovery [${dialect}]`, () => {
    const app = useTestApp(dialect);

    test("both locations serve the same document, with only what exists", async () => {
      const a = await app.request("GET", "/.well-known/openid-configuration");
      const b = await app.request("GET", "/.well-known/oauth-authorization-server");
      for (const res of [a, b]) {
        expect(res.status).toBe(200);
        expect(res.headers.get("cache-control")).toBe("public, max-age=60");
      }
      const doc = (await a.json()) as Record<string, unknown>;
      expect(await b.json()).toEqual(doc);
      expect(doc).toEqual({
        issuer: "http://authd.test",
        jwks_uri: "http://authd.test/.well-known/jwks.json",
        token_endpoint: "http://authd.test/oauth/token",
        revocation_endpoint: "http://authd.test/oauth/revoke",
        introspection_endpoint: "http://authd.test/oauth/introspect",
        userinfo_endpoint: "http://authd.test/oauth/userinfo",
        grant_types_supported: ["refresh_token"],
        response_types_supported: [],
        token_endpoint_auth_methods_supported: ["none"],
        revocation_endpoint_auth_methods_supported: ["none"],
        claims_supported: ["sub", "email", "email_verified", "name"],
      });
    });

    test("every advertised URL answers as its RFC says", async () => {
      const doc = (await (
        await app.request("GET", "/.well-known/openid-configuration")
      ).json()) as Record<string, string>;
      const path = (url: string | undefined) => {
        expect(url).toStartWith("http://authd.test/");
        return (url ?? "").slice("http://authd.test".length);
      };
      const jwks = await app.request("GET", path(doc.jwks_uri));
      expect(jwks.status).toBe(200);
      expect(((await jwks.json()) as { keys: unknown[] }).keys.length).toBeGreaterThan(
        0,
      );
      const user = await registerUser(app);
      const admin = await signedInAdmin(app);
      const token = await form(app, path(doc.token_endpoint), {
        grant_type: "refresh_token",
        refresh_token: user.refresh_token,
      });
      expect(token.status).toBe(200);
      const introspect = await form(
        app,
        path(doc.introspection_endpoint),
        { token: admin.access_token },
        bearer(admin.access_token),
      );
      expect(introspect.status).toBe(200);
      expect(((await introspect.json()) as { active: boolean }).active).toBe(true);
      const userinfo = await app.request("GET", path(doc.userinfo_endpoint), {
        token: admin.access_token,
      });
      expect(userinfo.status).toBe(200);
      const revoke = await form(app, path(doc.revocation_endpoint), {
        token: admin.refresh_token,
      });
      expect(revoke.status).toBe(200);
    });
  });

  describe(`the /oauth routes under the budgets and limits [${dialect}]`, () => {
    test("429 and 413 come in the RFC shape too", async () => {
      const app = await createTestApp(dialect, {
        RATE_LIMIT_PER_IP: "1",
        MAX_BODY_BYTES: "1024",
      });
      try {
        const big = await form(app, "/oauth/revoke", `token=${"a".repeat(2000)}`);
        await expectOAuthError(big, 413, "invalid_request");
        const limited = await form(app, "/oauth/revoke", { token: "x" });
        await expectOAuthError(limited, 429, "temporarily_unavailable");
        expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
      } finally {
        await app.close();
      }
    });
  });
}

describe("the OpenAPI document describes the standard-client routes", () => {
  const app = useTestApp("sqlite");

  interface Op {
    requestBody?: { content: Record<string, { schema: { properties: object } }> };
    responses: Record<
      string,
      { content?: Record<string, { schema: { properties?: object } }> }
    >;
  }

  test("form bodies on the /oauth POSTs; the discovery document's schema at both paths", async () => {
    const doc = (await (await app.request("GET", "/swagger/json")).json()) as {
      paths: Record<string, Record<string, Op>>;
    };
    const fields: Record<string, string[]> = {
      "/oauth/token": ["grant_type", "refresh_token"],
      "/oauth/revoke": ["token", "token_type_hint"],
      "/oauth/introspect": ["token", "token_type_hint"],
    };
    for (const [path, names] of Object.entries(fields)) {
      const content = doc.paths[path]?.post?.requestBody?.content ?? {};
      expect({ path, types: Object.keys(content) }).toEqual({ path, types: [FORM] });
      expect(Object.keys(content[FORM]?.schema.properties ?? {}).sort()).toEqual(names);
      const error = doc.paths[path]?.post?.responses["400"]?.content;
      expect(Object.keys(error?.["application/json"]?.schema.properties ?? {})).toEqual(
        ["error", "error_description"],
      );
    }
    const served = (await (
      await app.request("GET", "/.well-known/oauth-authorization-server")
    ).json()) as object;
    for (const path of [
      "/.well-known/openid-configuration",
      "/.well-known/oauth-authorization-server",
    ]) {
      const schema =
        doc.paths[path]?.get?.responses["200"]?.content?.["application/json"]?.schema;
      expect(Object.keys(schema?.properties ?? {}).sort()).toEqual(
        Object.keys(served).sort(),
      );
    }
    const verify = doc.paths["/auth/verify"]?.get?.responses["200"] as {
      headers?: object;
    };
    expect(Object.keys(verify.headers ?? {}).sort()).toEqual([
      "X-Auth-Email",
      "X-Auth-Roles",
      "X-Auth-Session-Id",
      "X-Auth-User-Id",
      "X-Request-Id",
    ]);
  });
});
