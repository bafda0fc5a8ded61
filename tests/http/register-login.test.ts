import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sha256 } from "../../src/core/crypto.ts";
import type { Hasher } from "../../src/core/ports.ts";
import { createHasher } from "../../src/infra/hasher.ts";
import { DIALECTS } from "../helpers/databases.ts";
import {
  createTestApp,
  GOOD_PASSWORD,
  registerUser,
  type TestApp,
  uniqueEmail,
} from "../helpers/harness.ts";
import {
  auditOf,
  CLI,
  claimsOf,
  expectProblem,
  expectTokens,
  expectValidation,
  headerOf,
  liveSessionIds,
  login,
  loginOk,
  me,
  post,
  refreshTokenRows,
} from "../helpers/http.ts";

/** The real hasher, counting what it is asked to do. */
function countingHasher() {
  const real = createHasher({ memoryKib: 1024, timeCost: 1, concurrency: 4 });
  const verified: string[] = [];
  const hasher: Hasher = {
    hash: (p) => real.hash(p),
    verify: (p, h) => {
      verified.push(h);
      return real.verify(p, h);
    },
    needsRehash: (h) => real.needsRehash(h),
  };
  return { hasher, verified };
}

const withoutRequestId = ({ request_id: _, ...rest }: Record<string, unknown>) => rest;

for (const dialect of DIALECTS) {
  describe(`register [${dialect}]`, () => {
    let app: TestApp;
    let closed: TestApp;
    beforeAll(async () => {
      app = await createTestApp(dialect);
      closed = await createTestApp(dialect, { REGISTRATION_OPEN: "false" });
    });
    afterAll(async () => {
      await app.close();
      await closed.close();
    });

    test("201 with a token pair, a user, a session and an audit event", async () => {
      const email = uniqueEmail("reg");
      const res = await post(app, "/auth/register", {
        email,
        password: GOOD_PASSWORD,
        name: "Ada",
      });
      const body = await expectTokens(res, 201);
      expect(res.headers.get("pragma")).toBe("no-cache");
      expect(body.expires_in).toBe(900);
      expect(body.refresh_expires_in).toBe(2_592_000);
      expect(body.user).toEqual({
        id: expect.any(String),
        email,
        email_verified: false,
        name: "Ada",
        roles: ["user"],
        disabled: false,
        created_at: "2026-11-26T12:00:00.000Z",
        updated_at: "2026-11-26T12:00:00.000Z",
      });
      // Opaque refresh token with at least 128 bits of randomness.
      expect(
        Buffer.from(body.refresh_token, "base64url").length,
      ).toBeGreaterThanOrEqual(16);

      const header = headerOf(body.access_token);
      const signing = app.container.keyring.state().signing;
      expect(header).toEqual({ alg: "EdDSA", kid: signing?.kid, typ: "at+jwt" });
      const claims = claimsOf(body.access_token);
      const iat = Math.floor(app.clock.now().getTime() / 1000);
      expect(claims).toEqual({
        iss: "http://authd.test",
        aud: "authd",
        sub: body.user.id,
        sid: expect.any(String),
        jti: expect.any(String),
        iat,
        exp: iat + 900,
        roles: ["user"],
      });

      const stored = await app.container.store.findUserByEmail(email);
      expect(stored?.id).toBe(body.user.id);
      expect(stored?.name).toBe("Ada");
      expect(stored?.roles).toEqual(["user"]);
      expect(stored?.passwordHash).toStartWith("$argon2id$v=19$m=1024,t=1,p=1$");
      expect(await liveSessionIds(app, body.user.id)).toEqual([claims.sid]);
      const audit = await auditOf(app, "user.register", body.user.id);
      expect(audit).toHaveLength(1);
      expect(audit[0]?.actorId).toBe(body.user.id);
      expect(audit[0]?.requestId).toBe(res.headers.get("x-request-id"));
    });

    test("the refresh token is stored only as its hash", async () => {
      const reg = await registerUser(app);
      const rows = await refreshTokenRows(app);
      const sid = claimsOf(reg.access_token).sid;
      const mine = rows.filter((r) => r.sessionId === sid);
      expect(mine).toHaveLength(1);
      expect(mine[0]?.tokenHash).toBe(sha256(reg.refresh_token).toString("base64url"));
      const everything = JSON.stringify(rows);
      expect(everything).not.toContain(reg.refresh_token);
    });

    test("emails are trimmed, NFC-normalised and lower-cased; one account each", async () => {
      const local = uniqueEmail("Ada").split("@")[0] ?? "";
      const typed = ` ${local.toUpperCase()}@EXAMPLE.com `;
      const normal = `${local.toLowerCase()}@example.com`;
      const reg = await expectTokens(
        await post(app, "/auth/register", { email: typed, password: GOOD_PASSWORD }),
        201,
      );
      expect(reg.user.email).toBe(normal);
      expect((await app.container.store.findUserByEmail(normal))?.id).toBe(reg.user.id);

      const again = await post(app, "/auth/register", {
        email: normal,
        password: GOOD_PASSWORD,
      });
      await expectProblem(again, 409, "email_taken");
      const mixed = await loginOk(
        app,
        `${local.toUpperCase()}@Example.COM`,
        GOOD_PASSWORD,
      );
      expect(mixed.user.id).toBe(reg.user.id);
      const users = await app.container.store.listUsers({ email: normal, limit: 10 });
      expect(users).toHaveLength(1);
    });

    test("a decomposed accent registers as its composed form", async () => {
      const suffix = uniqueEmail("x").split("@")[0];
      const decomposed = `Jose\u0301-${suffix}@example.com`;
      const composed = `jos\u00e9-${suffix}@example.com`;
      const reg = await expectTokens(
        await post(app, "/auth/register", {
          email: decomposed,
          password: GOOD_PASSWORD,
        }),
        201,
      );
      expect(reg.user.email).toBe(composed);
      await loginOk(app, composed.toUpperCase(), GOOD_PASSWORD);
    });

    test("409 email_taken leaves the first account untouched", async () => {
      const first = await registerUser(app);
      const res = await post(app, "/auth/register", {
        email: first.email,
        password: "another long passphrase",
      });
      await expectProblem(res, 409, "email_taken");
      expect(res.headers.get("cache-control")).toBe("no-store");
      // The first password still works, the second does not.
      await loginOk(app, first.email, GOOD_PASSWORD);
      await expectProblem(
        await login(app, first.email, "another long passphrase"),
        401,
        "invalid_credentials",
      );
    });

    test("403 registration_closed when REGISTRATION_OPEN=false, no user made", async () => {
      const email = uniqueEmail("closed");
      const res = await post(closed, "/auth/register", {
        email,
        password: GOOD_PASSWORD,
      });
      await expectProblem(res, 403, "registration_closed");
      expect(await closed.container.store.findUserByEmail(email)).toBeNull();
      // Operators can still create accounts, and those can sign in.
      await closed.container.userAdmin.create({ email, password: GOOD_PASSWORD }, CLI);
      await loginOk(closed, email, GOOD_PASSWORD);
    });

    test.each([
      ["roles", ["admin"]],
      ["id", "00000000-0000-7000-8000-000000000000"],
      ["email_verified", true],
      ["password_hash", "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaA"],
      ["disabled", false],
    ])(
      "mass assignment: %s in the body is a 422 and creates nothing",
      async (field, value) => {
        const email = uniqueEmail("mass");
        const res = await post(app, "/auth/register", {
          email,
          password: GOOD_PASSWORD,
          [field]: value,
        });
        await expectValidation(res, `/${field}`);
        expect(await app.container.store.findUserByEmail(email)).toBeNull();
      },
    );

    test("422 on a bad email, a missing password or an empty name", async () => {
      await expectValidation(
        await post(app, "/auth/register", {
          email: "not-an-email",
          password: GOOD_PASSWORD,
        }),
        "/email",
      );
      await expectValidation(
        await post(app, "/auth/register", { email: uniqueEmail() }),
        "/password",
      );
      const email = uniqueEmail();
      await expectValidation(
        await post(app, "/auth/register", { email, password: GOOD_PASSWORD, name: "" }),
        "/name",
      );
      expect(await app.container.store.findUserByEmail(email)).toBeNull();
    });

    test("400 malformed_body for broken JSON, 415 for a non-JSON body", async () => {
      const broken = await app.request("POST", "/auth/register", {
        body: '{"email": "a@example.com", ',
        headers: { "content-type": "application/json" },
      });
      await expectProblem(broken, 400, "malformed_body");
      const form = await app.request("POST", "/auth/register", {
        body: "email=a%40example.com&password=x",
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
      await expectProblem(form, 415, "unsupported_media_type");
    });
  });

  describe(`login [${dialect}]`, () => {
    let app: TestApp;
    let counted: TestApp;
    let counter: ReturnType<typeof countingHasher>;
    beforeAll(async () => {
      app = await createTestApp(dialect);
      counter = countingHasher();
      counted = await createTestApp(dialect, {}, { hasher: counter.hasher });
    });
    afterAll(async () => {
      await app.close();
      await counted.close();
    });

    test("200 with a new session for each login", async () => {
      const reg = await registerUser(app);
      const res = await login(app, reg.email, reg.password);
      const body = await expectTokens(res);
      expect(res.headers.get("pragma")).toBe("no-cache");
      expect(body.user.id).toBe(reg.user.id);
      expect(body.expires_in).toBe(900);
      const sids = [claimsOf(reg.access_token).sid, claimsOf(body.access_token).sid];
      expect(sids[0]).not.toBe(sids[1]);
      expect(await liveSessionIds(app, reg.user.id)).toEqual(sids.sort());
      expect((await me(app, body.access_token)).status).toBe(200);
      const audit = await auditOf(app, "user.login", reg.user.id);
      expect(audit.map((a) => a.outcome)).toEqual(["success"]);
    });

    test("unknown email, wrong password and disabled account get the same 401", async () => {
      const reg = await registerUser(app);
      const disabled = await registerUser(app);
      await app.container.userAdmin.setDisabled(disabled.email, true, CLI);

      const responses = [
        await login(app, uniqueEmail("nobody"), GOOD_PASSWORD),
        await login(app, reg.email, `${GOOD_PASSWORD}!`),
        await login(app, disabled.email, GOOD_PASSWORD),
      ];
      const bodies: Record<string, unknown>[] = [];
      for (const res of responses) {
        const body = await expectProblem(res, 401, "invalid_credentials");
        expect(res.headers.get("www-authenticate")).toBe("Bearer");
        expect(res.headers.get("cache-control")).toBe("no-store");
        bodies.push(withoutRequestId({ ...body }));
      }
      expect(bodies[1]).toEqual(bodies[0] ?? {});
      expect(bodies[2]).toEqual(bodies[0] ?? {});
      // No session was created for the two real accounts.
      expect(await liveSessionIds(app, reg.user.id)).toHaveLength(1);
      expect(await liveSessionIds(app, disabled.user.id)).toHaveLength(0);
      // The audit log tells the operator what the client is not told.
      const failures = (await auditOf(app, "user.login")).filter(
        (a) => a.outcome === "failure",
      );
      expect(failures.map((a) => a.detail?.reason).sort()).toEqual([
        "disabled",
        "unknown_email",
        "wrong_password",
      ]);
    });

    test("an unknown email still runs one full-cost password verification", async () => {
      counter.verified.length = 0;
      await expectProblem(
        await login(counted, uniqueEmail("ghost"), GOOD_PASSWORD),
        401,
        "invalid_credentials",
      );
      expect(counter.verified).toHaveLength(1);
      // Against an argon2id hash with the live parameters, like a real account.
      expect(counter.verified[0]).toStartWith("$argon2id$v=19$m=1024,t=1,p=1$");

      const reg = await registerUser(counted);
      counter.verified.length = 0;
      await login(counted, reg.email, "wrong but long enough");
      expect(counter.verified).toHaveLength(1);
    });

    test("an account without a password cannot log in, but still costs a verification", async () => {
      const email = uniqueEmail("nopw");
      await counted.container.userAdmin.create({ email }, CLI);
      counter.verified.length = 0;
      await expectProblem(await login(counted, email, "x"), 401, "invalid_credentials");
      await expectProblem(
        await login(counted, email, GOOD_PASSWORD),
        401,
        "invalid_credentials",
      );
      expect(counter.verified).toHaveLength(2);
    });

    test("long passwords are not truncated", async () => {
      const password = `${"long passphrase ".repeat(6)}end`; // 99 characters
      const reg = await registerUser(app, uniqueEmail("long"), password);
      await expectProblem(
        await login(app, reg.email, password.slice(0, 72)),
        401,
        "invalid_credentials",
      );
      await loginOk(app, reg.email, password);
    });

    test("422 for missing or unknown fields", async () => {
      await expectValidation(
        await post(app, "/auth/login", { email: "a@b.co" }),
        "/password",
      );
      await expectValidation(
        await post(app, "/auth/login", {
          email: "a@b.co",
          password: GOOD_PASSWORD,
          remember: true,
        }),
        "/remember",
      );
    });
  });
}
