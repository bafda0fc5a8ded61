/**
 * The standard-client endpoints (API.md "Standard clients: OAuth 2.0 and
 * OpenID endpoints"): POST /oauth/token (RFC 6749 §6, refresh_token grant
 * only), POST /oauth/revoke (RFC 7009), POST /oauth/introspect (RFC 7662),
 * GET /oauth/userinfo (OIDC Core 5.3). Bodies are form-encoded and errors
 * are RFC 6749 §5.2 objects (../oauth-protocol.ts); every POST here spends
 * the per-IP budget (../app.ts).
 */
import { Elysia, t } from "elysia";
import type { Container } from "../../container.ts";
import { AuthError } from "../../core/errors.ts";
import { authGuard, bearerSecurity } from "../guard.ts";
import { TokenModel, text, tokenDto } from "../models.ts";
import { OAuthError, type OAuthParams, required } from "../oauth-protocol.ts";
import { actorOf } from "../request-context.ts";

// RFC 6749 §5.1: responses that carry tokens must not be cached.
const NO_STORE = { "cache-control": "no-store", pragma: "no-cache" };

/** Our tokens are far shorter; the bound keeps absurd input away from hashing. */
const Token = text({ minLength: 1, maxLength: 4096 });

const OAuthErrorModel = t.Object(
  {
    error: t.String({ examples: ["invalid_grant"] }),
    error_description: t.Optional(t.String()),
  },
  { description: "RFC 6749 §5.2 error (not problem+json on the /oauth routes)" },
);

/** RFC 6749 §3.2: unknown parameters (e.g. a public client's client_id) are ignored. */
const FORM = { additionalProperties: true } as const;

const TokenForm = t.Object(
  {
    grant_type: t.String({
      description: "refresh_token (the only grant served)",
      examples: ["refresh_token"],
    }),
    refresh_token: t.Optional(Token),
  },
  FORM,
);

const TokenParamForm = t.Object(
  {
    token: Token,
    token_type_hint: t.Optional(
      t.String({
        description:
          "access_token or refresh_token; optional and not needed (the kind is read from the token)",
      }),
    ),
  },
  FORM,
);

const IntrospectionModel = t.Object(
  {
    active: t.Boolean(),
    sub: t.Optional(t.String({ description: "user id" })),
    sid: t.Optional(t.String({ description: "session id" })),
    jti: t.Optional(t.String()),
    exp: t.Optional(t.Integer()),
    iat: t.Optional(t.Integer()),
    iss: t.Optional(t.String()),
    aud: t.Optional(t.String()),
    roles: t.Optional(t.Array(t.String(), { description: "the user's roles now" })),
    token_type: t.Optional(t.Literal("Bearer")),
  },
  {
    description:
      'RFC 7662 §2.2; an inactive token (invalid, expired, of an ended session, or a refresh token) is only {"active":false}',
  },
);

const UserInfoModel = t.Object(
  {
    sub: t.String({ description: "user id" }),
    email: t.String(),
    email_verified: t.Boolean(),
    name: t.Optional(t.String({ description: "omitted when the user has none" })),
  },
  { description: "OpenID Connect Core 5.3.2 claims" },
);

/** The caller of introspection: an admin or a service principal (roles read now). */
const INTROSPECTORS = new Set(["admin", "service"]);

export const oauthRoutes = (c: Container) =>
  new Elysia({ name: "oauth-routes", prefix: "/oauth", detail: { tags: ["oauth"] } })
    .use(authGuard(c))
    .post(
      "/token",
      async ({ body, request, set }) => {
        const params = body as OAuthParams;
        const grant = required(params, "grant_type");
        if (grant !== "refresh_token") {
          throw new OAuthError(
            400,
            "unsupported_grant_type",
            "only the refresh_token grant is supported",
          );
        }
        const refreshToken = required(params, "refresh_token");
        const result = await c.sessions.refresh(refreshToken, actorOf(request));
        Object.assign(set.headers, NO_STORE);
        return tokenDto(result);
      },
      {
        parse: "urlencoded",
        body: TokenForm,
        response: {
          200: TokenModel,
          400: OAuthErrorModel,
          413: OAuthErrorModel,
          429: OAuthErrorModel,
          503: OAuthErrorModel,
        },
        detail: {
          summary: "RFC 6749 §6: exchange a refresh token for a new token pair",
          description:
            "The same rotation as POST /auth/refresh (a repeat within REFRESH_REUSE_INTERVAL returns the same successor; a later reuse revokes the session). Errors: 400 invalid_request, invalid_grant, unsupported_grant_type.",
        },
      },
    )
    .post(
      "/revoke",
      async ({ body, request, set }) => {
        const token = required(body as OAuthParams, "token");
        await c.oauth.revoke(token, actorOf(request));
        set.status = 200;
        Object.assign(set.headers, NO_STORE);
        return "";
      },
      {
        parse: "urlencoded",
        body: TokenParamForm,
        response: {
          200: t.String({ description: "empty body", maxLength: 0 }),
          400: OAuthErrorModel,
          413: OAuthErrorModel,
          429: OAuthErrorModel,
          503: OAuthErrorModel,
        },
        detail: {
          summary: "RFC 7009: revoke a refresh or access token (its session ends)",
          description:
            "200 for an unknown, invalid or already revoked token too. No client authentication (public clients, method none).",
        },
      },
    )
    .post(
      "/introspect",
      async ({ body, principal }) => {
        if (!principal.user.roles.some((r) => INTROSPECTORS.has(r)))
          throw new AuthError("forbidden", "this needs the admin or service role");
        const token = required(body as OAuthParams, "token");
        return c.oauth.introspect(token);
      },
      {
        auth: true,
        parse: "urlencoded",
        body: TokenParamForm,
        response: {
          200: IntrospectionModel,
          400: OAuthErrorModel,
          413: OAuthErrorModel,
          401: OAuthErrorModel,
          403: OAuthErrorModel,
          429: OAuthErrorModel,
          503: OAuthErrorModel,
        },
        detail: {
          summary: "RFC 7662: is this access token active, and whose is it?",
          description:
            "The caller sends its own access token as Bearer and needs the admin or service role (read from the database now). An access token whose session has ended is inactive.",
          security: bearerSecurity,
        },
      },
    )
    .get(
      "/userinfo",
      ({ principal }) => {
        const u = principal.user;
        return {
          sub: u.id,
          email: u.email,
          email_verified: u.emailVerified,
          // OIDC Core 5.3.2: a claim without a value is omitted, not null.
          ...(u.name !== null ? { name: u.name } : {}),
        };
      },
      {
        auth: true,
        response: { 200: UserInfoModel, 401: OAuthErrorModel, 503: OAuthErrorModel },
        detail: {
          summary: "OpenID Connect Core 5.3: claims about the signed-in user",
          security: bearerSecurity,
        },
      },
    );
