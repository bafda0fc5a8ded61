/**
 * POST /auth/register on each dialect: the token response, what is stored
 * (only a hash of the refresh token), email normalisation, and every refusal.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sha256 } from "../../src/core/crypto.ts";
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
  post,
  refreshTokenRows,
} from "../helpers/http.ts";

const _withoutRequestId = ({ request_id: _, ...rest }: Record<string, unknown>) => rest;

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
}
