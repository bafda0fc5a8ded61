/** /.well-known/jwks.json and /.well-known/openid-configuration. */
import { Elysia, t } from "elysia";
import type { Container } from "../../container.ts";

export const wellKnownRoutes = (c: Container) =>
  new Elysia({
    name: "well-known-routes",
    prefix: "/.well-known",
    detail: { tags: ["discovery"] },
  })
    .get(
      "/jwks.json",
      ({ set }) => {
        // max-age is bounded by JWKS_MAX_AGE, which is also the least time
        // between rotations: a cached copy always knows the key that signs.
        set.headers["cache-control"] = `public, max-age=${c.config.JWKS_MAX_AGE}`;
        return { keys: c.keyring.state().jwks };
      },
      {
        response: {
          200: t.Object({ keys: t.Array(t.Record(t.String(), t.Unknown())) }),
        },
        detail: { summary: "Public signing keys (next, current and recently retired)" },
      },
    )
    .get(
      "/openid-configuration",
      ({ set }) => {
        set.headers["cache-control"] = `public, max-age=${c.config.JWKS_MAX_AGE}`;
        const issuer = c.config.ISSUER;
        return {
          issuer,
          jwks_uri: `${issuer}/.well-known/jwks.json`,
          token_endpoint: `${issuer}/auth/login`,
          userinfo_endpoint: `${issuer}/users/me`,
          grant_types_supported: ["password", "refresh_token"],
          response_types_supported: ["token"],
          subject_types_supported: ["public"],
          id_token_signing_alg_values_supported: ["EdDSA", "ES256"],
          token_endpoint_auth_methods_supported: ["none"],
          claims_supported: ["iss", "aud", "sub", "sid", "jti", "iat", "exp", "roles"],
        };
      },
      {
        detail: {
          summary: "Discovery document (the subset of OpenID Connect that applies)",
        },
      },
    );
