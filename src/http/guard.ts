/**
 * Bearer authentication as an Elysia macro: a route with `{ auth: true }`
 * gets `principal` (user, session, claims) or the request ends with 401.
 * Tokens are read from the Authorization header only, never the query string.
 */
import { Elysia } from "elysia";
import type { Container } from "../container.ts";
import { AuthError } from "../core/errors.ts";
import { contextOf } from "./request-context.ts";

const BEARER = /^bearer[ ]+([A-Za-z0-9._~+/-]+=*)\s*$/i;

export const bearerSecurity = [{ bearer: [] }];

export const authGuard = (c: Container) =>
  new Elysia({ name: "auth-guard" }).macro({
    auth: {
      async resolve({ request }) {
        const header = request.headers.get("authorization");
        if (!header)
          throw new AuthError("unauthenticated", "an access token is required");
        const match = BEARER.exec(header);
        if (!match?.[1])
          throw new AuthError(
            "invalid_token",
            "the Authorization header is not a Bearer token",
          );
        const principal = await c.accounts.authenticate(match[1]);
        contextOf(request).userId = principal.user.id;
        return { principal };
      },
    },
  });
