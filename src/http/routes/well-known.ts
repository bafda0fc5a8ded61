/**
 * /.well-known/jwks.json, and the discovery document at both
 * /.well-known/openid-configuration (OpenID Connect Discovery) and
 * /.well-known/oauth-authorization-server (RFC 8414).
 */
import { Elysia, t } from "elysia";
import type { Container } from "../../container.ts";

/**
 * Only what is true (API.md "Standard clients"): the endpoints that exist and
 * the one grant served. No authorization endpoint, no ID tokens, no scopes.
 * `response_types_supported` is REQUIRED by RFC 8414 §2; it is empty because
 * no response type is served (there is no authorization endpoint).
 */
export const DiscoveryModel = t.Object(
  {
    issuer: t.String({ description: "the `iss` of every access token" }),
    jwks_uri: t.String(),
    token_endpoint: t.String(),
    revocation_endpoint: t.String(),
    introspection_endpoint: t.String(),
    userinfo_endpoint: t.String(),
    grant_types_supported: t.Array(t.Literal("refresh_token")),
    response_types_supported: t.Array(t.String(), { maxItems: 0 }),
    token_endpoint_auth_methods_supported: t.Array(t.Literal("none")),
    revocation_endpoint_auth_methods_supported: t.Array(t.Literal("none")),
    claims_supported: t.Array(t.String(), {
      description: "claims of the userinfo response",
    }),
  },
  {
    description:
      "RFC 8414 / OpenID Connect Discovery metadata, the same at both well-known paths",
  },
);

export function discoveryDocument(issuer: string) {
  const base = issuer.replace(/\/+$/, "");
  return {
    issuer,
    jwks_uri: `${base}/.well-known/jwks.json`,
    token_endpoint: `${base}/oauth/token`,
    revocation_endpoint: `${base}/oauth/revoke`,
    introspection_endpoint: `${base}/oauth/introspect`,
    userinfo_endpoint: `${base}/oauth/userinfo`,
    grant_types_supported: ["refresh_token" as const],
    response_types_supported: [] as string[],
    token_endpoint_auth_methods_supported: ["none" as const],
    revocation_endpoint_auth_methods_supported: ["none" as const],
    claims_supported: ["sub", "email", "email_verified", "name"],
  };
}

export const wellKnownRoutes = (c: Container) => {
  const document = discoveryDocument(c.config.ISSUER);
  const discovery = ({ set }: { set: { headers: Record<string, unknown> } }) => {
    set.headers["cache-control"] = `public, max-age=${c.config.JWKS_MAX_AGE}`;
    return document;
  };
  return new Elysia({
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
    .get("/openid-configuration", discovery, {
      response: { 200: DiscoveryModel },
      detail: { summary: "Discovery document (OpenID Connect Discovery location)" },
    })
    .get("/oauth-authorization-server", discovery, {
      response: { 200: DiscoveryModel },
      detail: { summary: "Discovery document (RFC 8414 location; the same document)" },
    });
};
