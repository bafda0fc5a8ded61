/**
 * GET /auth/verify, the forward-auth check reverse proxies call: 200 with an
 * empty body and the X-Auth-* headers for a valid token of a live session,
 * 401 otherwise; it reads only headers and computes no password hash.
 * tests/e2e/forward-auth-nginx.test.ts runs it behind a real nginx.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Hasher } from "../../src/core/ports.ts";
import { headerSafeEmail } from "../../src/http/routes/forward-auth.ts";
import { createHasher } from "../../src/infra/hasher.ts";
import { signedInAs } from "../helpers/admin.ts";
import { DIALECTS } from "../helpers/databases.ts";
import { createTestApp, registerUser, type TestApp } from "../helpers/harness.ts";
import { claimsOf, expectProblem, expectRejectedToken } from "../helpers/http.ts";

const AUTH_HEADERS = [
  "x-auth-email",
  "x-auth-roles",
  "x-auth-session-id",
  "x-auth-user-id",
];

/** The real (cheap) hasher, counting every call. */
function countingHasher() {
  const real = createHasher({ memoryKib: 1024, timeCost: 1, concurrency: 2 });
  const counts = { hash: 0, verify: 0 };
  const hasher: Hasher = {
    hash: (p) => {
      counts.hash++;
      return real.hash(p);
    },
    verify: (p, h) => {
      counts.verify++;
      return real.verify(p, h);
    },
    needsRehash: (h) => real.needsRehash(h),
  };
  return { hasher, counts };
}

const verify = (app: TestApp, headers: Record<string, string> = {}) =>
  app.request("GET", "/auth/verify", { headers });

for (const dialect of DIALECTS) {
  describe(`GET /auth/verify [${dialect}]`, () => {
    let app: TestApp;
    const counter = countingHasher();
    beforeAll(async () => {
      app = await createTestApp(dialect, {}, { hasher: counter.hasher });
    });
    afterAll(() => app.close());

    test("a valid token: 200, empty body, who the caller is in headers, no hash computed", async () => {
      const user = await registerUser(app);
      const before = { ...counter.counts };
      const res = await verify(app, { authorization: `Bearer ${user.access_token}` });
      expect(res.status).toBe(200);
      expect(await res.text()).toBe("");
      expect(res.headers.get("x-auth-user-id")).toBe(user.user.id);
      expect(res.headers.get("x-auth-email")).toBe(user.email);
      expect(res.headers.get("x-auth-roles")).toBe("user");
      expect(res.headers.get("x-auth-session-id")).toBe(
        claimsOf(user.access_token).sid,
      );
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(res.headers.get("x-request-id")).toBeTruthy();
      // The scheme is case-insensitive (RFC 6750), as on every Bearer route.
      const lower = await verify(app, { authorization: `bearer ${user.access_token}` });
      expect(lower.status).toBe(200);
      expect(counter.counts).toEqual(before);
    });

    test("roles are the user's roles now, comma-separated", async () => {
      const svc = await signedInAs(app, ["service", "user"]);
      const res = await verify(app, { authorization: `Bearer ${svc.access_token}` });
      expect(res.headers.get("x-auth-roles")).toBe("service,user");
      await app.container.userAdmin.setRoles(svc.user.id, ["user"], { actorId: "cli" });
      const after = await verify(app, { authorization: `Bearer ${svc.access_token}` });
      expect(after.headers.get("x-auth-roles")).toBe("user");
    });

    test("401 without a token, with a rejected one, and once the session has ended", async () => {
      const none = await verify(app);
      await expectProblem(none, 401, "unauthenticated");
      expect(none.headers.get("www-authenticate")).toBe("Bearer");
      for (const h of AUTH_HEADERS) expect(none.headers.get(h)).toBeNull();
      await expectRejectedToken(await verify(app, { authorization: "Bearer x.y.z" }));
      await expectRejectedToken(await verify(app, { authorization: "Basic YTpi" }));
      const user = await registerUser(app);
      const auth = { authorization: `Bearer ${user.access_token}` };
      expect((await verify(app, auth)).status).toBe(200);
      await app.request("POST", "/auth/logout", {
        json: { refresh_token: user.refresh_token },
      });
      const ended = await verify(app, auth);
      await expectRejectedToken(ended);
      for (const h of AUTH_HEADERS) expect(ended.headers.get(h)).toBeNull();
    });

    test("a disabled user is refused at once; an expired token too", async () => {
      const user = await registerUser(app);
      const auth = { authorization: `Bearer ${user.access_token}` };
      await app.container.userAdmin.update(
        user.user.id,
        { disabled: true },
        { actorId: "cli" },
      );
      await expectRejectedToken(await verify(app, auth));
      const other = await registerUser(app);
      app.clock.advance(15 * 60_000 + 61_000);
      await expectRejectedToken(
        await verify(app, { authorization: `Bearer ${other.access_token}` }),
      );
    });

    test("a Unicode email is percent-encoded in its header, never a 500", async () => {
      const user = await registerUser(
        app,
        `zoë-${Date.now().toString(36)}@example.com`,
      );
      const res = await verify(app, { authorization: `Bearer ${user.access_token}` });
      expect(res.status).toBe(200);
      const header = res.headers.get("x-auth-email") ?? "";
      expect(header).toMatch(/^[\x21-\x7e]+$/);
      expect(decodeURIComponent(header)).toBe(user.user.email);
    });
  });
}

describe("headerSafeEmail", () => {
  test("ASCII passes unchanged; % and non-ASCII are percent-encoded, reversibly", () => {
    expect(headerSafeEmail("ada@example.com")).toBe("ada@example.com");
    expect(headerSafeEmail("a%b@example.com")).toBe("a%25b@example.com");
    expect(headerSafeEmail("zoë@example.com")).toBe("zo%C3%AB@example.com");
    for (const e of ["a%b@x.io", "zoë@x.io", "日本@x.io", "a+b@x.io"])
      expect(decodeURIComponent(headerSafeEmail(e))).toBe(e);
  });
});
