/**
 * The admin user API: /users and /users/{id}…, for users with the admin
 * role. Each handler is one call into the same core `authctl` uses.
 */
import { Elysia, t } from "elysia";
import type { Container } from "../../container.ts";
import {
  CreateUserBody,
  UpdateUserBody,
  UserIdParams,
  UserListQuery,
  UserPage,
} from "../admin-models.ts";
import { decodeCursor, encodeCursor, pageLimit } from "../cursor.ts";
import { authGuard, bearerSecurity } from "../guard.ts";
import { Problem, SessionList, sessionDto, UserModel, userDto } from "../models.ts";
import { actorOf } from "../request-context.ts";

const denied = { 401: Problem, 403: Problem };

export const adminUserRoutes = (c: Container) =>
  new Elysia({
    name: "admin-user-routes",
    prefix: "/users",
    detail: { tags: ["admin"], security: bearerSecurity },
  })
    .use(authGuard(c))
    .get(
      "",
      async ({ query }) => {
        const page = await c.userAdmin.list({
          limit: pageLimit(query.limit),
          after: query.cursor ? decodeCursor("users", query.cursor) : undefined,
          email: query.email,
          q: query.q,
          role: query.role,
          disabled: query.disabled,
        });
        return {
          items: page.items.map(userDto),
          next_cursor: page.next ? encodeCursor("users", page.next) : null,
        };
      },
      {
        admin: true,
        query: UserListQuery,
        response: { 200: UserPage, ...denied, 422: Problem },
        detail: {
          summary: "List users, oldest first, a page at a time",
          description:
            "Keyset pagination: a walk never repeats a user or skips one that existed when it began, whatever is inserted or deleted meanwhile.",
        },
      },
    )
    .post(
      "",
      async ({ body, request, principal, set }) => {
        const user = await c.userAdmin.create(
          {
            email: body.email,
            password: body.password,
            name: body.name,
            roles: body.roles,
          },
          actorOf(request, principal.user.id),
        );
        set.status = 201;
        return userDto(user);
      },
      {
        admin: true,
        body: CreateUserBody,
        response: { 201: UserModel, ...denied, 409: Problem, 422: Problem },
        detail: {
          summary: "Create a user (roles default to `user`)",
          description: "The password passes the same policy as at register.",
        },
      },
    )
    .get(
      "/:id",
      async ({ params }) => userDto(await c.userAdmin.get({ id: params.id })),
      {
        admin: true,
        params: UserIdParams,
        response: { 200: UserModel, ...denied, 404: Problem },
        detail: { summary: "One user" },
      },
    )
    .patch(
      "/:id",
      async ({ params, body, request, principal }) =>
        userDto(
          await c.userAdmin.update(
            { id: params.id },
            {
              name: body.name,
              roles: body.roles,
              disabled: body.disabled,
              emailVerified: body.email_verified,
            },
            actorOf(request, principal.user.id),
          ),
        ),
      {
        admin: true,
        params: UserIdParams,
        body: UpdateUserBody,
        response: {
          200: UserModel,
          ...denied,
          404: Problem,
          409: Problem,
          422: Problem,
        },
        detail: {
          summary: "Change a user's name, roles, disabled or email_verified",
          description:
            "Disabling ends every session at once. A change that would leave no enabled admin is refused with 409 `last_admin`.",
        },
      },
    )
    .delete(
      "/:id",
      async ({ params, request, principal, set }) => {
        await c.userAdmin.delete(
          { id: params.id },
          actorOf(request, principal.user.id),
        );
        set.status = 204;
      },
      {
        admin: true,
        params: UserIdParams,
        response: { 204: t.Void(), ...denied, 404: Problem, 409: Problem },
        detail: {
          summary:
            "Delete a user; their sessions end (the audit log keeps their history)",
          description: "The last enabled admin cannot be deleted: 409 `last_admin`.",
        },
      },
    )
    .get(
      "/:id/sessions",
      async ({ params }) => ({
        items: (await c.userAdmin.listSessions({ id: params.id })).map((s) =>
          sessionDto({ ...s, current: false }),
        ),
      }),
      {
        admin: true,
        params: UserIdParams,
        response: { 200: SessionList, ...denied, 404: Problem },
        detail: {
          summary: "A user's live sessions (`current` is always false here)",
        },
      },
    )
    .delete(
      "/:id/sessions",
      async ({ params, request, principal, set }) => {
        await c.userAdmin.revokeSessions(
          { id: params.id },
          actorOf(request, principal.user.id),
        );
        set.status = 204;
      },
      {
        admin: true,
        params: UserIdParams,
        response: { 204: t.Void(), ...denied, 404: Problem },
        detail: { summary: "End every session of a user" },
      },
    );
