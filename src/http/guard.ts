/**
 * Bearer authentication as Elysia macros: a route with `{ auth: true }` gets
 * `principal` (user, session, claims) or the request ends with 401; a route
 * with `{ admin: true }` also needs the admin role, else 403 `forbidden`.
 * Tokens are read from the Authorization header only, never the query string.
 */
import { Elysia } from "elysia";
import type { Container } from "../container.ts";
import { AuthError, invalidToken } from "../core/errors.ts";
import { ADMIN_ROLE } from "../core/roles.ts";
import type { Principal } from "../core/sessions.ts";
import { contextOf } from "./request-context.ts";

const BEARER = /^bearer[ ]+([A-Za-z0-9._~+/-]+=*)\s*$/i;

export const bearerSecurity = [{ bearer: [] }];

/**
 * What each macro puts in the route's OpenAPI `security`, so that a route
 * cannot require a token without documenting it. OpenAPI 3.1 lets a
 * non-OAuth scheme name the roles an operation needs; the document derives
 * 401 from the scheme and 403 from the role (./openapi-document.ts).
 */
const AUTH_DETAIL = { security: bearerSecurity };
const ADMIN_DETAIL = { security: [{ bearer: [ADMIN_ROLE] }] };

/** The principal of the request's bearer token; 401 (AuthError) otherwise. */
export async function authenticate(c: Container, request: Request): Promise<Principal> {
  const header = request.headers.get("authorization");
  if (!header) throw new AuthError("unauthenticated", "an access token is required");
  const match = BEARER.exec(header);
  if (!match?.[1]) throw invalidToken("not_bearer");
  const principal = await c.sessions.authenticate(match[1]);
  contextOf(request).userId = principal.user.id;
  return principal;
}

export const authGuard = (c: Container) =>
  new Elysia({ name: "auth-guard" }).macro({
    auth: {
      detail: AUTH_DETAIL,
      async resolve({ request }) {
        return { principal: await authenticate(c, request) };
      },
    },
    admin: {
      detail: ADMIN_DETAIL,
      async resolve({ request }) {
        const principal = await authenticate(c, request);
        // The roles of the user row read with the session just now, not the
        // token's `roles` claim: a demotion takes effect on the next request.
        if (!principal.user.roles.includes(ADMIN_ROLE))
          throw new AuthError("forbidden", "this needs the admin role");
        return { principal };
      },
    },
  });
