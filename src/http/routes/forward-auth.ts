/**
 * GET /auth/verify: forward auth for reverse proxies (nginx `auth_request`,
 * Traefik `ForwardAuth`, Caddy `forward_auth`). The answer is in the status
 * and headers: 200 with who the caller is, or 401. No body is read and no
 * hash computed: the token's signature (cached, src/infra/token-cache.ts)
 * and one prepared session lookup, the same work as GET /users/me minus the
 * JSON body. It is the hottest path of the product (bench/run.ts has a row).
 */
import { Elysia } from "elysia";
import type { Container } from "../../container.ts";
import { authenticate, bearerSecurity } from "../guard.ts";
import { Problem } from "../models.ts";

/**
 * Header values must be ISO-8859-1 and an email's local part may be any
 * Unicode: so `%` and every non-ASCII character are percent-encoded (UTF-8);
 * a plain ASCII address passes unchanged and decodes with decodeURIComponent.
 */
const NEEDS_ENCODING = /[^\x21-\x24\x26-\x7e]/;
export const headerSafeEmail = (email: string): string =>
  NEEDS_ENCODING.test(email)
    ? email.replace(/[^\x21-\x24\x26-\x7e]+|%/g, (s) => encodeURIComponent(s))
    : email;

const header = (description: string) => ({
  description,
  schema: { type: "string" as const },
});

/** A problem+json answer, for the document (the route declares no `response`). */
const problem = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: Problem as object } },
});

export const FORWARD_AUTH_ROUTE = "/auth/verify";

/**
 * The check itself: 200 with the X-Auth-* headers, or an AuthError (401, 503)
 * for the caller to answer. The daemon's handler calls it before Elysia's
 * router for GET /auth/verify (src/http/app.ts); the Elysia route below is
 * the same function, for the OpenAPI document, 405s and HEAD.
 */
export function createForwardAuth(c: Container) {
  return async function forwardAuth(request: Request): Promise<Response> {
    const { user, session } = await authenticate(c, request);
    return new Response(null, {
      status: 200,
      headers: {
        "x-auth-user-id": user.id,
        "x-auth-email": headerSafeEmail(user.email),
        "x-auth-roles": user.roles.join(","),
        "x-auth-session-id": session.id,
      },
    });
  };
}

export const forwardAuthRoutes = (c: Container) => {
  const forwardAuth = createForwardAuth(c);
  return new Elysia({
    name: "forward-auth-routes",
    detail: { tags: ["forward-auth"] },
  }).get(FORWARD_AUTH_ROUTE, ({ request }) => forwardAuth(request), {
    // No `response` hook: the document's responses are the ones below (the
    // generator drops `detail.responses` when a route has one), and the
    // 200 has headers and no body.
    detail: {
      summary: "Forward auth: is this bearer token valid and its session live?",
      description:
        "For reverse proxies. 200 with an empty body and the X-Auth-* headers, or 401 (problem+json, WWW-Authenticate). Reads only the Authorization header; the roles are the user's roles now.",
      security: bearerSecurity,
      responses: {
        200: {
          description: "The token is valid and its session live (empty body)",
          headers: {
            "X-Auth-User-Id": header("the user id (the token's sub)"),
            "X-Auth-Email": header(
              "the user's email; % and non-ASCII characters percent-encoded (UTF-8)",
            ),
            "X-Auth-Roles": header("the user's roles, comma-separated"),
            "X-Auth-Session-Id": header("the session id (the token's sid)"),
          },
        },
        401: problem("No token, or a rejected one, or its session has ended"),
        503: problem("Storage unavailable"),
      },
    },
  });
};
