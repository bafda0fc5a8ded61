/**
 * POST /auth/register, /auth/login, /auth/refresh, /auth/logout, /auth/logout-all.
 * Every POST here spends the per-IP budget (429, see ../app.ts).
 */
import { Elysia, t } from "elysia";
import type { Container } from "../../container.ts";
import { authGuard, bearerSecurity } from "../guard.ts";
import {
  LoginBody,
  Problem,
  RefreshBody,
  RegisterBody,
  TokenModel,
  tokenDto,
} from "../models.ts";
import { actorOf } from "../request-context.ts";

// RFC 6749 §5.1: responses that carry tokens must not be cached.
const NO_STORE = { "cache-control": "no-store", pragma: "no-cache" };

export const authRoutes = (c: Container) =>
  new Elysia({ name: "auth-routes", prefix: "/auth", detail: { tags: ["auth"] } })
    .use(authGuard(c))
    .post(
      "/register",
      async ({ body, request, set }) => {
        const result = await c.accounts.register(
          body,
          actorOf(request),
          request.signal,
        );
        set.status = 201;
        Object.assign(set.headers, NO_STORE);
        return tokenDto(result);
      },
      {
        body: RegisterBody,
        response: {
          201: TokenModel,
          403: Problem,
          409: Problem,
          422: Problem,
          429: Problem,
        },
        detail: {
          summary: "Create an account (role `user`) and sign in",
          description:
            "With REQUIRE_EMAIL_VERIFICATION=true a verification mail is queued with the account (the tokens work, but login needs the address verified).",
        },
      },
    )
    .post(
      "/login",
      async ({ body, request, set }) => {
        const result = await c.accounts.login(body, actorOf(request), request.signal);
        Object.assign(set.headers, NO_STORE);
        return tokenDto(result);
      },
      {
        body: LoginBody,
        response: {
          200: TokenModel,
          401: Problem,
          403: Problem,
          422: Problem,
          429: Problem,
        },
        detail: {
          summary: "Sign in with email and password",
          description:
            "Unknown email, wrong password and disabled account get the same 401 in the same time. Failed logins are budgeted per account and IP and per account (429 with Retry-After, before any hash). With REQUIRE_EMAIL_VERIFICATION=true, the right password on an unverified account gets 403 `email_not_verified`.",
        },
      },
    )
    .post(
      "/refresh",
      async ({ body, request, set }) => {
        const result = await c.sessions.refresh(body.refresh_token, actorOf(request));
        Object.assign(set.headers, NO_STORE);
        return tokenDto(result);
      },
      {
        body: RefreshBody,
        response: { 200: TokenModel, 401: Problem, 422: Problem, 429: Problem },
        detail: {
          summary:
            "Exchange a refresh token for a new token pair (the old one is spent)",
          description:
            "A repeat within REFRESH_REUSE_INTERVAL returns the same successor; a later reuse revokes the session.",
        },
      },
    )
    .post(
      "/logout",
      async ({ body, request, set }) => {
        await c.sessions.logout(body.refresh_token, actorOf(request));
        set.status = 204;
      },
      {
        body: RefreshBody,
        response: { 204: t.Void(), 422: Problem, 429: Problem },
        detail: { summary: "End the session of a refresh token (idempotent)" },
      },
    )
    .post(
      "/logout-all",
      async ({ principal, request, set }) => {
        await c.sessions.logoutAll(principal, actorOf(request, principal.user.id));
        set.status = 204;
      },
      {
        auth: true,
        response: { 204: t.Void(), 401: Problem, 429: Problem },
        detail: {
          summary: "End every session of the signed-in user",
          security: bearerSecurity,
        },
      },
    );
