import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from "jose";
import { LEEWAY_SECONDS } from "../../src/infra/jwt.ts";
import { DIALECTS } from "../helpers/databases.ts";
import {
  createTestApp,
  registerUser,
  type TestApp,
  useTestApp,
} from "../helpers/harness.ts";
import { headerOf, me } from "../helpers/http.ts";

// Every private or symmetric JWK member (RFC 7517 / 7518).
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"];

async function jwksOf(app: TestApp) {
  const res = await app.request("GET", "/.well-known/jwks.json");
  expect(res.status).toBe(200);
  expect(res.headers.get("cache-control")).toBe("public, max-age=60");
  return { res, body: (await res.json()) as JSONWebKeySet };
}

for (const dialect of DIALECTS) {
  describe(`JWKS and discovery [${dialect}]`, () => {
    let app: TestApp;
    let ec: TestApp;
    beforeAll(async () => {
      app = await createTestApp(dialect);
      ec = await createTestApp(dialect, { SIGNING_ALG: "ES256" });
    });
    afterAll(async () => {
      await app.close();
      await ec.close();
    });

    test("lists the current and next public keys, with kid, alg and use", async () => {
      const { body } = await jwksOf(app);
      const stored = await app.container.store.listKeys();
      expect(body.keys.map((k) => k.kid).sort()).toEqual(
        stored.map((k) => k.kid).sort(),
      );
      expect(stored.map((k) => k.state).sort()).toEqual(["current", "next"]);
      for (const key of body.keys) {
        expect(key).toMatchObject({
          kty: "OKP",
          crv: "Ed25519",
          alg: "EdDSA",
          use: "sig",
        });
        expect(typeof key.kid).toBe("string");
        expect(typeof key.x).toBe("string");
        for (const member of PRIVATE_MEMBERS) expect(key).not.toHaveProperty(member);
      }
      expect(JSON.stringify(body)).not.toContain("privateKeySealed");
    });

    test("tokens verify with a standard JWT library against the JWKS", async () => {
      const { body } = await jwksOf(app);
      const reg = await registerUser(app);
      const current = (await app.container.store.listKeys()).find(
        (k) => k.state === "current",
      );
      expect(headerOf(reg.access_token).kid).toBe(current?.kid ?? "none");
      const { payload, protectedHeader } = await jwtVerify(
        reg.access_token,
        createLocalJWKSet(body),
        {
          issuer: "http://authd.test",
          audience: "authd",
          typ: "at+jwt",
          currentDate: app.clock.now(),
        },
      );
      expect(protectedHeader.alg).toBe("EdDSA");
      expect(payload.sub).toBe(reg.user.id);
    });

    test("SIGNING_ALG=ES256 publishes P-256 keys and signs with ES256", async () => {
      const { body } = await jwksOf(ec);
      expect(body.keys).toHaveLength(2);
      for (const key of body.keys) {
        expect(key).toMatchObject({
          kty: "EC",
          crv: "P-256",
          alg: "ES256",
          use: "sig",
        });
        for (const member of PRIVATE_MEMBERS) expect(key).not.toHaveProperty(member);
      }
      const reg = await registerUser(ec);
      expect(headerOf(reg.access_token)).toMatchObject({ alg: "ES256", typ: "at+jwt" });
      expect((await me(ec, reg.access_token)).status).toBe(200);
      await jwtVerify(reg.access_token, createLocalJWKSet(body), {
        issuer: "http://authd.test",
        audience: "authd",
        currentDate: ec.clock.now(),
      });
      // An EdDSA token of the other deployment is not accepted here.
      const other = await registerUser(app);
      expect((await me(ec, other.access_token)).status).toBe(401);
    });

    test("openid-configuration names the issuer and the JWKS", async () => {
      const res = await app.request("GET", "/.well-known/openid-configuration");
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-control")).toStartWith("public, max-age=");
      const body = (await res.json()) as Record<string, unknown>;
      expect(body.issuer).toBe("http://authd.test");
      expect(body.jwks_uri).toBe("http://authd.test/.well-known/jwks.json");
      expect(body.issuer).toBe(app.config.ISSUER);
    });
  });

  describe(`JWKS and retired keys [${dialect}]`, () => {
    const app = useTestApp(dialect);
    /**
     * ACCESS_TOKEN_TTL + verification leeway + KEY_REFRESH_INTERVAL (defaults):
     * the last token a retired key signed may be verified until then.
     */
    const RETENTION_MS = (900 + LEEWAY_SECONDS + 10) * 1000;

    /** What the JWKS lists after the daemon's next reload at the current (fake) time. */
    const publishedAfterReload = async () => {
      await app.container.keyring.refresh();
      const { body } = await jwksOf(app);
      return body.keys.map((k) => k.kid ?? "").sort();
    };

    test("a retired key is listed until its retention ends: one second before yes, at it no", async () => {
      const before = await app.container.store.listKeys();
      const retiring = before.find((k) => k.state === "current")?.kid ?? "missing";
      const retiredAt = app.clock.now().getTime();
      const rotated = await app.container.keys.rotate({ actorId: "cli" }, true);
      const live = [rotated.current, rotated.next].sort();
      expect(await publishedAfterReload()).toEqual([...live, retiring].sort());

      app.clock.set(new Date(retiredAt + RETENTION_MS - 1000));
      expect(await publishedAfterReload()).toEqual([...live, retiring].sort());

      app.clock.set(new Date(retiredAt + RETENTION_MS));
      expect(await publishedAfterReload()).toEqual(live);
      app.clock.advance(3_600_000);
      expect(await publishedAfterReload()).toEqual(live);
      // Dropped from the JWKS is not deleted: that is `authctl keys prune`'s job.
      expect((await app.container.store.listKeys()).map((k) => k.kid)).toContain(
        retiring,
      );
    });
  });
}
