/**
 * The standard client libraries against the daemon's handler: openid-client
 * (discovery with the insecure-http option, refreshTokenGrant,
 * tokenRevocation, tokenIntrospection, fetchUserInfo) and jose (the access
 * token verified with the discovered JWKS). openid-client's requests go
 * through its `customFetch` hook into the same handler the daemon serves, so
 * the fake clock reaches every step; tests/e2e/forward-auth-nginx.test.ts
 * covers the network.
 */
import { describe, expect, test } from "bun:test";
import { createLocalJWKSet, jwtVerify } from "jose";
import * as client from "openid-client";
import { signedInAs } from "../helpers/admin.ts";
import { DIALECTS } from "../helpers/databases.ts";
import { registerUser, type TestApp, useTestApp } from "../helpers/harness.ts";
import { liveSessionIds, sessionTokens } from "../helpers/http.ts";

const ISSUER = "http://authd.test";

/** openid-client's HTTP, into the app's handler. */
const fetchInto =
  (app: TestApp): client.CustomFetch =>
  (url, options) =>
    app.handle(new Request(url, options as RequestInit));

/**
 * How a service principal calls introspection (README "Service principals"):
 * its own access token as Bearer, no client authentication of the RFC kind.
 */
const bearerAuth =
  (token: string): client.ClientAuth =>
  (_as, _client, _body, headers) => {
    headers.set("authorization", `Bearer ${token}`);
  };

async function discover(
  app: TestApp,
  auth: client.ClientAuth = client.None(),
  algorithm: "oidc" | "oauth2" = "oidc",
) {
  return client.discovery(new URL(ISSUER), "any-public-client", undefined, auth, {
    [client.customFetch]: fetchInto(app),
    execute: [client.allowInsecureRequests],
    algorithm,
  });
}

for (const dialect of DIALECTS) {
  describe(`openid-client and jose against authd [${dialect}]`, () => {
    const app = useTestApp(dialect, { REFRESH_REUSE_INTERVAL: "10" });

    test("discovery at both well-known locations: the same true document", async () => {
      const oidc = (await discover(app, client.None(), "oidc")).serverMetadata();
      const rfc8414 = (await discover(app, client.None(), "oauth2")).serverMetadata();
      expect(rfc8414).toEqual(oidc);
      expect(oidc).toMatchObject({
        issuer: ISSUER,
        token_endpoint: `${ISSUER}/oauth/token`,
        revocation_endpoint: `${ISSUER}/oauth/revoke`,
        introspection_endpoint: `${ISSUER}/oauth/introspect`,
        userinfo_endpoint: `${ISSUER}/oauth/userinfo`,
        jwks_uri: `${ISSUER}/.well-known/jwks.json`,
        grant_types_supported: ["refresh_token"],
        token_endpoint_auth_methods_supported: ["none"],
      });
      expect(oidc.authorization_endpoint).toBeUndefined();
      expect(oidc.id_token_signing_alg_values_supported).toBeUndefined();
    });

    test("refreshTokenGrant rotates like /auth/refresh; jose verifies the new token with the discovered JWKS", async () => {
      const user = await registerUser(app);
      const config = await discover(app);
      const tokens = await client.refreshTokenGrant(config, user.refresh_token);
      expect(tokens.token_type).toBe("bearer"); // openid-client lower-cases it
      expect(tokens.expires_in).toBe(900);
      expect(tokens.refresh_token).not.toBe(user.refresh_token);
      // jose, as any resource server would: the JWKS from the discovered jwks_uri.
      const jwksUri = new URL(config.serverMetadata().jwks_uri ?? "");
      const jwks = (await (await app.request("GET", jwksUri.pathname)).json()) as {
        keys: never[];
      };
      const { payload } = await jwtVerify(
        tokens.access_token,
        createLocalJWKSet(jwks),
        {
          issuer: ISSUER,
          audience: "authd",
          typ: "at+jwt",
          currentDate: app.clock.now(),
        },
      );
      expect(payload.sub).toBe(user.user.id);
      const sid = payload.sid as string;
      // One live refresh token in the session: the successor.
      expect((await sessionTokens(app, sid)).live).toHaveLength(1);
      // A retry inside REFRESH_REUSE_INTERVAL gets the same successor back.
      const retry = await client.refreshTokenGrant(config, user.refresh_token);
      expect(retry.refresh_token).toBe(tokens.refresh_token);
      // Past it, the spent token is reuse: invalid_grant, and the session ends.
      app.clock.advance(11_000);
      const reuse = await client.refreshTokenGrant(config, user.refresh_token).then(
        () => null,
        (e: unknown) => e,
      );
      expect(reuse).toBeInstanceOf(client.ResponseBodyError);
      expect((reuse as client.ResponseBodyError).error).toBe("invalid_grant");
      expect((reuse as client.ResponseBodyError).status).toBe(400);
      expect(await liveSessionIds(app, user.user.id)).toEqual([]);
    });

    test("fetchUserInfo returns the OIDC claims of the token's user", async () => {
      const user = await registerUser(app);
      const config = await discover(app);
      const info = await client.fetchUserInfo(config, user.access_token, user.user.id);
      expect(info).toEqual({
        sub: user.user.id,
        email: user.email,
        email_verified: false,
      });
      await app.request("PATCH", "/users/me", {
        token: user.access_token,
        json: { name: "Ada" },
      });
      const named = await client.fetchUserInfo(config, user.access_token, user.user.id);
      expect(named.name).toBe("Ada");
      // Another subject than expected is caught by the library.
      const wrong = await client
        .fetchUserInfo(config, user.access_token, "someone-else")
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(wrong).toBeInstanceOf(Error);
    });

    test("tokenIntrospection by a service principal; tokenRevocation ends the session", async () => {
      const service = await signedInAs(app, ["service"]);
      const user = await registerUser(app);
      const asService = await discover(app, bearerAuth(service.access_token));
      const active = await client.tokenIntrospection(asService, user.access_token);
      expect(active).toMatchObject({
        active: true,
        sub: user.user.id,
        iss: ISSUER,
        aud: "authd",
        token_type: "Bearer",
        roles: ["user"],
      });
      expect(typeof active.exp).toBe("number");
      expect(typeof active.sid).toBe("string");

      const asClient = await discover(app);
      await client.tokenRevocation(asClient, user.refresh_token, {
        token_type_hint: "refresh_token",
      });
      expect(await liveSessionIds(app, user.user.id)).toEqual([]);
      // The access token of the ended session is inactive, and refused.
      expect(await client.tokenIntrospection(asService, user.access_token)).toEqual({
        active: false,
      });
      const refused = await client
        .fetchUserInfo(asClient, user.access_token, user.user.id)
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(refused).toBeInstanceOf(client.WWWAuthenticateChallengeError);
      // Revoking again, or something unknown, is still fine (RFC 7009 §2.2).
      await client.tokenRevocation(asClient, user.refresh_token);
      await client.tokenRevocation(asClient, "never-issued");
    });

    test("tokenIntrospection by an ordinary user is refused (403 insufficient_scope)", async () => {
      const caller = await registerUser(app);
      const config = await discover(app, bearerAuth(caller.access_token));
      const e = await client.tokenIntrospection(config, caller.access_token).then(
        () => null,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(client.WWWAuthenticateChallengeError);
      const challenge = (e as client.WWWAuthenticateChallengeError).cause[0];
      expect(challenge?.scheme).toBe("bearer");
      expect(challenge?.parameters.error).toBe("insufficient_scope");
      expect((e as client.WWWAuthenticateChallengeError).status).toBe(403);
    });
  });
}
