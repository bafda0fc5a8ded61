/**
 * The verified-token cache (TOKEN_CACHE_SIZE): a repeat of a token skips the
 * signature check, but never the session check, never past `exp`, never past
 * the life of its signing key, and never beyond its size.
 */
import { describe, expect, test } from "bun:test";
import type { TokenSigner } from "../../src/core/ports.ts";
import { withTokenCache } from "../../src/infra/token-cache.ts";
import { DIALECTS } from "../helpers/databases.ts";
import { registerUser, useTestApp } from "../helpers/harness.ts";
import { expectRejectedToken, loginOk, me, post } from "../helpers/http.ts";

/** The app's real signer, counting its verifications. */
function counting(signer: TokenSigner) {
  const counter = { verified: 0 };
  const wrapped: TokenSigner = {
    sign: (c) => signer.sign(c),
    verify: (t) => {
      counter.verified++;
      return signer.verify(t);
    },
  };
  return { wrapped, counter };
}

for (const dialect of DIALECTS) {
  describe(`verified-token cache [${dialect}]`, () => {
    const app = useTestApp(dialect);

    test("a repeat skips the signature check and gets the same claims", async () => {
      const { wrapped, counter } = counting(app.container.signer);
      const cache = withTokenCache(wrapped, app.clock, {
        size: 10,
        keyKnown: () => true,
      });
      const { access_token } = await registerUser(app);
      const first = await cache.verify(access_token);
      const second = await cache.verify(access_token);
      expect(second).toEqual(first);
      expect(counter.verified).toBe(1);
      expect(cache.cached).toBe(1);
    });

    test("a rejected token is not cached and stays rejected", async () => {
      const { wrapped, counter } = counting(app.container.signer);
      const cache = withTokenCache(wrapped, app.clock, {
        size: 10,
        keyKnown: () => true,
      });
      const { access_token } = await registerUser(app);
      const [h, p] = access_token.split(".");
      const forged = `${h}.${p}.${"A".repeat(86)}`;
      await expect(cache.verify(forged)).rejects.toMatchObject({
        code: "invalid_token",
      });
      await expect(cache.verify(forged)).rejects.toMatchObject({
        code: "invalid_token",
      });
      expect(counter.verified).toBe(2);
      expect(cache.cached).toBe(0);
    });

    test("bounded: the least recently used token is forgotten first", async () => {
      const { wrapped, counter } = counting(app.container.signer);
      const cache = withTokenCache(wrapped, app.clock, {
        size: 2,
        keyKnown: () => true,
      });
      const [a, b, c] = await Promise.all([
        registerUser(app),
        registerUser(app),
        registerUser(app),
      ]);
      await cache.verify(a.access_token);
      await cache.verify(b.access_token);
      await cache.verify(a.access_token); // a is now the most recent
      await cache.verify(c.access_token); // evicts b
      expect(cache.cached).toBe(2);
      expect(counter.verified).toBe(3);
      await cache.verify(a.access_token);
      expect(counter.verified).toBe(3);
      await cache.verify(b.access_token);
      expect(counter.verified).toBe(4);
    });

    test("an entry is not used past exp, nor once its key is no longer published", async () => {
      const { wrapped, counter } = counting(app.container.signer);
      let published = true;
      const cache = withTokenCache(wrapped, app.clock, {
        size: 10,
        keyKnown: () => published,
      });
      const { access_token } = await registerUser(app);
      await cache.verify(access_token);
      published = false;
      await cache.verify(access_token);
      expect(counter.verified).toBe(2);
      published = true;
      // Past exp (inside the verifier's leeway) the signer decides again.
      app.clock.advance(app.config.ACCESS_TOKEN_TTL * 1000 + 1000);
      await cache.verify(access_token);
      expect(counter.verified).toBe(3);
      app.clock.advance(-(app.config.ACCESS_TOKEN_TTL * 1000 + 1000));
    });

    test("through HTTP, with the cache on: logout still ends the token at once", async () => {
      expect(app.config.TOKEN_CACHE_SIZE).toBeGreaterThan(0);
      const user = await registerUser(app);
      const session = await loginOk(app, user.email, user.password);
      expect((await me(app, session.access_token)).status).toBe(200);
      expect((await me(app, session.access_token)).status).toBe(200);
      const out = await post(app, "/auth/logout", {
        refresh_token: session.refresh_token,
      });
      expect(out.status).toBe(204);
      await expectRejectedToken(await me(app, session.access_token));
      // The user's other session is unaffected.
      expect((await me(app, user.access_token)).status).toBe(200);
    });

    test("through HTTP, an expired token is refused even after it was cached", async () => {
      const user = await registerUser(app);
      expect((await me(app, user.access_token)).status).toBe(200);
      const skip = (app.config.ACCESS_TOKEN_TTL + 120) * 1000;
      app.clock.advance(skip);
      try {
        await expectRejectedToken(await me(app, user.access_token));
      } finally {
        app.clock.advance(-skip);
      }
    });
  });
}
