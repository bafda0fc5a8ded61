/** /users/me: the signed-in user's account, password and sessions. */
import { Elysia, t } from "elysia";
import type { Container } from "../../container.ts";
import { toPublicUser } from "../../core/users.ts";
import { authGuard, bearerSecurity } from "../guard.ts";
import {
  ChangePasswordBody,
  Problem,
  SessionIdParams,
  SessionList,
  sessionDto,
  UpdateMeBody,
  UserModel,
  userDto,
} from "../models.ts";
import { actorOf } from "../request-context.ts";

export const meRoutes = (c: Container) =>
  new Elysia({
    name: "me-routes",
    prefix: "/users/me",
    detail: { tags: ["me"], security: bearerSecurity },
  })
    .use(authGuard(c))
    .get("", ({ principal }) => userDto(toPublicUser(principal.user)), {
      auth: true,
      response: { 200: UserModel, 401: Problem },
      detail: { summary: "The signed-in user" },
    })
    .patch(
      "",
      async ({ principal, body, request }) =>
        userDto(
          await c.accounts.updateMe(
            principal,
            body,
            actorOf(request, principal.user.id),
          ),
        ),
      {
        auth: true,
        body: UpdateMeBody,
        response: { 200: UserModel, 401: Problem, 422: Problem },
        detail: { summary: "Change your name (other fields are rejected with 422)" },
      },
    )
    .post(
      "/password",
      async ({ principal, body, request, set }) => {
        await c.passwords.change(
          principal,
          { currentPassword: body.current_password, newPassword: body.new_password },
          actorOf(request, principal.user.id),
        );
        set.status = 204;
      },
      {
        auth: true,
        body: ChangePasswordBody,
        response: { 204: t.Void(), 401: Problem, 422: Problem },
        detail: { summary: "Change your password; every other session ends" },
      },
    )
    .get(
      "/sessions",
      async ({ principal }) => ({
        items: (await c.sessions.list(principal)).map(sessionDto),
      }),
      {
        auth: true,
        response: { 200: SessionList, 401: Problem },
        detail: { summary: "Your live sessions" },
      },
    )
    .delete(
      "/sessions/:id",
      async ({ principal, params, request, set }) => {
        await c.sessions.revoke(
          principal,
          params.id,
          actorOf(request, principal.user.id),
        );
        set.status = 204;
      },
      {
        auth: true,
        params: SessionIdParams,
        response: { 204: t.Void(), 401: Problem, 404: Problem },
        detail: { summary: "End one of your sessions" },
      },
    );
