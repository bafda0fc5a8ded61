/**
 * Access tokens an attacker could craft or replay. Every one must get 401
 * invalid_token with `WWW-Authenticate: Bearer error="invalid_token"`. Each
 * group starts from a control: the same machinery with honest inputs is
 * accepted, so a rejection proves the check and not a broken forgery.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import {
  type CryptoKey,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type JWTHeaderParameters,
  SignJWT,
} from "jose";
import { DIALECTS } from "../helpers/databases.ts";
import {
  createTestApp,
  GOOD_PASSWORD,
  registerUser,
  type TestApp,
  type TokenBody,
  useTestApp,
} from "../helpers/harness.ts";
import {
  CLI,
  claimsOf,
  expectRejectedToken,
  headerOf,
  loginOk,
  me,
  post,
} from "../helpers/http.ts";

type Claims = Record<string, unknown>;
const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");

const hmacToken = (secret: string | Uint8Array, header: Claims, payload: Claims) => {
  const input = `${enc(header)}.${enc(payload)}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
};

const signWith = (key: CryptoKey, header: JWTHeaderParameters, payload: Claims) =>
  new SignJWT(payload).setProtectedHeader(header).sign(key);

for (const dialect of DIALECTS) {
  describe(`access-token attacks [${dialect}]`, () => {
    let app: TestApp;
    let foreign: TestApp;
    let attacker: { privateKey: CryptoKey; publicKey: CryptoKey };
    beforeAll(async () => {
      app = await createTestApp(dialect);
      // Another issuer on the same storage and keys: its tokens are not ours.
      foreign = await createTestApp(
        dialect,
        { ISSUER: "http://other.test" },
        { shareDatabaseWith: app },
      );
      attacker = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    });
    afterAll(async () => {
      await foreign.close();
      await app.close();
    });

    let victim: TokenBody;
    let header: JWTHeaderParameters;
    let payload: Claims;
    let realKey: CryptoKey;
    beforeAll(async () => {
      victim = await registerUser(app);
      header = headerOf(victim.access_token) as JWTHeaderParameters;
      payload = { ...claimsOf(victim.access_token) };
      const signing = app.container.keyring.state().signing;
      if (!signing) throw new Error("no signing key");
      realKey = signing.privateKey;
    });

    const accepted = async (token: string) =>
      expect((await me(app, token)).status).toBe(200);
    const rejected = async (token: string) => expectRejectedToken(await me(app, token));

    test("control: a token re-signed with the real key and claims is accepted", async () => {
      await accepted(await signWith(realKey, header, payload));
      await accepted(victim.access_token);
    });

    test.each(["none", "None", "NONE"])("alg %s is refused", async (alg) => {
      await rejected(`${enc({ ...header, alg })}.${enc(payload)}.`);
      await rejected(`${enc({ alg, typ: "at+jwt" })}.${enc(payload)}.`);
    });

    test("HS256 signed with the public key as the HMAC secret is refused", async () => {
      const kid = String(header.kid);
      const jwk = app.container.keyring.state().jwks.find((k) => k.kid === kid) as {
        x: string;
      };
      const publicKey = app.container.keyring.state().verifying.get(kid)?.publicKey;
      if (!publicKey) throw new Error("no public key");
      const spki = await exportSPKI(publicKey);
      const hs = { ...header, alg: "HS256" };
      for (const secret of [jwk.x, Buffer.from(jwk.x, "base64url"), spki]) {
        await rejected(hmacToken(secret, hs, payload));
      }
    });

    test("a tampered payload or a stripped signature is refused", async () => {
      const [h, p, s] = victim.access_token.split(".");
      const admin = enc({ ...payload, roles: ["admin"] });
      const other = enc({ ...payload, sub: "01900000-0000-7000-8000-000000000000" });
      await rejected(`${h}.${admin}.${s}`);
      await rejected(`${h}.${other}.${s}`);
      await rejected(`${h}.${p}.`);
      await rejected(`${h}.${p}`);
      // One flipped signature character.
      const flipped = `${s?.[0] === "A" ? "B" : "A"}${s?.slice(1)}`;
      await rejected(`${h}.${p}.${flipped}`);
      await accepted(`${h}.${p}.${s}`);
    });

    test.each([
      ["an unknown kid", "k3y-that-does-not-exist"],
      ["a path", "../../etc/passwd"],
      ["SQL", "' OR '1'='1' --"],
      ["SQL with a statement", "x'; drop table signing_keys; --"],
      ["an empty kid", ""],
    ])("%s as kid is refused, even with the real signature", async (_, kid) => {
      await rejected(await signWith(realKey, { ...header, kid }, payload));
      await rejected(await signWith(attacker.privateKey, { ...header, kid }, payload));
      // Storage is intact after the injection attempts.
      expect((await app.container.store.listKeys()).length).toBeGreaterThanOrEqual(2);
    });

    test("a missing kid is refused", async () => {
      const { kid: _, ...noKid } = header;
      await rejected(await signWith(realKey, noKid as JWTHeaderParameters, payload));
    });

    test("an attacker key under our kid is refused", async () => {
      await rejected(await signWith(attacker.privateKey, header, payload));
    });

    test("jku, jwk, x5u and x5c headers are never trusted", async () => {
      const jwk = await exportJWK(attacker.publicKey);
      const { kid: _, ...noKid } = header;
      // The attacker's own key, embedded or pointed at.
      await rejected(
        await signWith(
          attacker.privateKey,
          { ...noKid, jwk } as JWTHeaderParameters,
          payload,
        ),
      );
      await rejected(await signWith(attacker.privateKey, { ...header, jwk }, payload));
      await rejected(
        await signWith(
          attacker.privateKey,
          { ...header, jku: "https://evil.example/jwks.json" },
          payload,
        ),
      );
      // Even over a genuine signature, a foreign-key header makes the token invalid.
      for (const extra of [
        { jku: "https://evil.example/jwks.json" },
        { jwk },
        { x5u: "https://evil.example/cert.pem" },
        { x5c: ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"] },
      ]) {
        await rejected(await signWith(realKey, { ...header, ...extra }, payload));
      }
    });

    test("expired past the 60 s leeway is refused; inside it, accepted", async () => {
      const fresh = await loginOk(app, victim.user.email, GOOD_PASSWORD);
      const { exp } = claimsOf(fresh.access_token);
      app.clock.set(new Date((exp + 59) * 1000));
      await accepted(fresh.access_token);
      app.clock.set(new Date((exp + 61) * 1000));
      await rejected(fresh.access_token);
    });

    test("a token not yet valid (nbf or iat in the future) is refused", async () => {
      const now = Math.floor(app.clock.now().getTime() / 1000);
      const base = { ...payload, iat: now, exp: now + 900 };
      await accepted(await signWith(realKey, header, base));
      await rejected(await signWith(realKey, header, { ...base, nbf: now + 120 }));
      await rejected(await signWith(realKey, header, { ...base, iat: now + 120 }));
    });

    test("wrong iss, aud or typ is refused, though signed with our key", async () => {
      const now = Math.floor(app.clock.now().getTime() / 1000);
      const base = { ...payload, iat: now, exp: now + 900 };
      await accepted(await signWith(realKey, header, base));
      await rejected(
        await signWith(realKey, header, { ...base, iss: "http://evil.test" }),
      );
      await rejected(await signWith(realKey, header, { ...base, aud: "another-api" }));
      await rejected(
        await signWith(realKey, header, { ...base, aud: ["another-api"] }),
      );
      await rejected(await signWith(realKey, { ...header, typ: "JWT" }, base));
      const { typ: _, ...untyped } = header;
      await rejected(await signWith(realKey, untyped as JWTHeaderParameters, base));
    });

    test("required claims must be present and well-formed", async () => {
      const now = Math.floor(app.clock.now().getTime() / 1000);
      const base: Claims = { ...payload, iat: now, exp: now + 900 };
      for (const claim of ["sub", "sid", "jti", "exp", "iat"]) {
        const { [claim]: _, ...without } = base;
        await rejected(await signWith(realKey, header, without));
      }
      await rejected(await signWith(realKey, header, { ...base, roles: "admin" }));
      await rejected(await signWith(realKey, header, { ...base, sid: 42 }));
    });

    test("a token from another issuer on the same keys is refused, both ways", async () => {
      const theirs = await registerUser(foreign);
      expect((await me(foreign, theirs.access_token)).status).toBe(200);
      await rejected(theirs.access_token);
      await expectRejectedToken(await me(foreign, victim.access_token));
    });

    test("a session id of another user is refused", async () => {
      const other = await registerUser(app);
      const now = Math.floor(app.clock.now().getTime() / 1000);
      const swapped = {
        ...payload,
        sid: claimsOf(other.access_token).sid,
        iat: now,
        exp: now + 900,
      };
      await rejected(await signWith(realKey, header, swapped));
    });

    test("a refresh token is not an access token", async () => {
      const reg = await registerUser(app);
      await rejected(reg.refresh_token);
    });
  });

  describe(`revoked access tokens [${dialect}]`, () => {
    const app = useTestApp(dialect);

    test("after logout", async () => {
      const reg = await registerUser(app);
      expect(
        (await post(app, "/auth/logout", { refresh_token: reg.refresh_token })).status,
      ).toBe(204);
      await expectRejectedToken(await me(app, reg.access_token));
    });

    test("after logout-all, every session's token", async () => {
      const reg = await registerUser(app);
      const other = await loginOk(app, reg.email, reg.password);
      await post(app, "/auth/logout-all", undefined, other.access_token);
      await expectRejectedToken(await me(app, reg.access_token));
      await expectRejectedToken(await me(app, other.access_token));
    });

    test("after a password change, the other sessions' tokens", async () => {
      const reg = await registerUser(app);
      const other = await loginOk(app, reg.email, reg.password);
      const res = await post(
        app,
        "/users/me/password",
        { current_password: reg.password, new_password: "another fine passphrase" },
        reg.access_token,
      );
      expect(res.status).toBe(204);
      await expectRejectedToken(await me(app, other.access_token));
      expect((await me(app, reg.access_token)).status).toBe(200);
    });

    test("after the user is disabled, at once, and still after re-enabling", async () => {
      const reg = await registerUser(app);
      await app.container.userAdmin.setDisabled(reg.email, true, CLI);
      await expectRejectedToken(await me(app, reg.access_token));
      await app.container.userAdmin.setDisabled(reg.email, false, CLI);
      await expectRejectedToken(await me(app, reg.access_token));
    });

    test("a disabled flag alone (sessions not yet revoked) already blocks", async () => {
      const reg = await registerUser(app);
      const { store, clock } = app.container;
      await store.updateUser(reg.user.id, { disabled: true }, clock.now());
      await expectRejectedToken(await me(app, reg.access_token));
      await store.updateUser(reg.user.id, { disabled: false }, clock.now());
      expect((await me(app, reg.access_token)).status).toBe(200);
    });

    test("after the user is deleted", async () => {
      const reg = await registerUser(app);
      await app.container.userAdmin.delete(reg.user.id, CLI);
      await expectRejectedToken(await me(app, reg.access_token));
      await expectRejectedToken(
        await app.request("PATCH", "/users/me", {
          token: reg.access_token,
          json: { name: "ghost" },
        }),
      );
    });
  });
}
