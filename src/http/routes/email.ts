/**
 * The mailed-link flows (API.md "Email flows"): POST /auth/password/forgot,
 * /auth/password/reset, /auth/email/verify/request and /auth/email/verify.
 * Every POST here spends the per-IP budget (../app.ts); forgot and
 * verify/request also count against the address's hourly mail budget, past
 * which they still answer 202 and send nothing. (GET /auth/verify, forward
 * auth, is another route.)
 */
import { Elysia, t } from "elysia";
import type { Container } from "../../container.ts";
import { authGuard, bearerSecurity } from "../guard.ts";
import { ForgotBody, Problem, ResetBody, VerifyEmailBody } from "../models.ts";
import { actorOf } from "../request-context.ts";

const INVALID_LINK =
  "400 `invalid_token`: the link's token is unknown, expired, already used, or not the newest one.";

export const emailRoutes = (c: Container) =>
  new Elysia({ name: "email-routes", prefix: "/auth", detail: { tags: ["auth"] } })
    .use(authGuard(c))
    .post(
      "/password/forgot",
      async ({ body, request, set }) => {
        await c.emailFlows.forgotPassword(body.email, actorOf(request));
        set.status = 202;
      },
      {
        body: ForgotBody,
        response: { 202: t.Void(), 422: Problem, 429: Problem },
        detail: {
          summary: "Mail a password-reset link",
          description:
            "202 with an empty body for every address, known or not, after the same work: the mail is only queued (never sent during the request). The link is `{PUBLIC_URL}/reset-password?token=…` and works once, for RESET_TOKEN_TTL seconds; only the newest works. Nothing is sent to an unknown or disabled account, or past MAIL_PER_ADDRESS_PER_HOUR.",
        },
      },
    )
    .post(
      "/password/reset",
      async ({ body, request, set }) => {
        await c.emailFlows.resetPassword(
          { token: body.token, newPassword: body.new_password },
          actorOf(request),
        );
        set.status = 204;
      },
      {
        body: ResetBody,
        response: {
          204: t.Void(),
          400: Problem,
          422: Problem,
          429: Problem,
          503: Problem,
        },
        detail: {
          summary: "Set a new password with a reset link's token",
          description: `The new password passes the register policy (422 on /new_password, \`password_breached\` included). Every session of the user ends, the account's failed-login counts are cleared and the address counts as verified. ${INVALID_LINK}`,
        },
      },
    )
    .post(
      "/email/verify/request",
      async ({ principal, request, set }) => {
        await c.emailFlows.requestVerification(
          principal,
          actorOf(request, principal.user.id),
        );
        set.status = 202;
      },
      {
        auth: true,
        response: { 202: t.Void(), 401: Problem, 429: Problem },
        detail: {
          summary: "Mail the signed-in user a verification link",
          description:
            "202 with an empty body. The link is `{PUBLIC_URL}/verify-email?token=…`, works once for VERIFY_TOKEN_TTL seconds; only the newest works. Nothing is sent when the address is already verified or past MAIL_PER_ADDRESS_PER_HOUR.",
          security: bearerSecurity,
        },
      },
    )
    .post(
      "/email/verify",
      async ({ body, request, set }) => {
        await c.emailFlows.verifyEmail(body.token, actorOf(request));
        set.status = 204;
      },
      {
        body: VerifyEmailBody,
        response: { 204: t.Void(), 400: Problem, 422: Problem, 429: Problem },
        detail: {
          summary: "Confirm an email address with a verification link's token",
          description: INVALID_LINK,
        },
      },
    );
