/**
 * TypeBox models of the admin API (GET|POST /users, /users/{id}…, GET /audit).
 * Like every body here they reject unknown fields, and so do the queries: a
 * misspelt filter (`?rol=admin`) is a 422, not a page of every user.
 */
import { t } from "elysia";
import type { AuditEvent } from "../core/ports.ts";
import { KNOWN_ROLES } from "../core/roles.ts";
import { Email, Name, Password, UserModel } from "./models.ts";

const strict = { additionalProperties: false } as const;

// A union of literals, not t.UnionEnum: Elysia gives a UnionEnum query
// parameter its first value as a default, so an absent `role` would filter.
const Role = t.Union(
  KNOWN_ROLES.map((r) => t.Literal(r)),
  { description: `one of: ${KNOWN_ROLES.join(", ")}` },
);
const Roles = t.Array(Role, { maxItems: KNOWN_ROLES.length * 2 });

export const UserIdParams = t.Object({
  id: t.String({ minLength: 1, maxLength: 64, description: "the user's id" }),
});

export const CreateUserBody = t.Object(
  {
    email: Email,
    password: Password,
    name: t.Optional(t.Union([Name, t.Null()])),
    roles: t.Optional(Roles),
  },
  strict,
);

export const UpdateUserBody = t.Object(
  {
    name: t.Optional(t.Union([Name, t.Null()])),
    roles: t.Optional(Roles),
    disabled: t.Optional(t.Boolean({ description: "true ends every session" })),
    email_verified: t.Optional(t.Boolean()),
  },
  strict,
);

// At least 1, checked by pageLimit: a `minimum` here makes Elysia's query
// coercion report the error without naming the parameter.
const Limit = t.Integer({
  description: "page size, at least 1; 50 when absent, more than 200 counts as 200",
});
const Cursor = t.String({
  minLength: 1,
  maxLength: 512,
  pattern: "^[A-Za-z0-9_-]+$",
  description: "next_cursor of the previous page, as given",
});
// Free text, so control characters are refused here (nothing else would).
const searchText = (description: string) =>
  t.String({ maxLength: 254, pattern: "^[^\\x00-\\x1f\\x7f]*$", description });

export const UserListQuery = t.Object(
  {
    limit: t.Optional(Limit),
    cursor: t.Optional(Cursor),
    email: t.Optional(searchText("exact, after normalisation (any case)")),
    q: t.Optional(searchText("prefix of the email or the name, case-insensitive")),
    role: t.Optional(Role),
    disabled: t.Optional(t.Boolean()),
  },
  strict,
);

export const UserPage = t.Object({
  items: t.Array(UserModel),
  next_cursor: t.Union([t.String(), t.Null()], {
    description: "pass as `cursor` for the next page; null on the last page",
  }),
});

export const AuditQuery = t.Object(
  {
    limit: t.Optional(Limit),
    cursor: t.Optional(Cursor),
    user_id: t.Optional(t.String({ minLength: 1, maxLength: 64 })),
    action: t.Optional(
      t.String({ pattern: "^[a-z][a-z0-9_.]{0,63}$", examples: ["user.login"] }),
    ),
    since: t.Optional(
      t.String({
        maxLength: 40,
        description:
          "ISO 8601 time (a date alone is midnight UTC); events at or after it",
        examples: ["2026-11-26T12:00:00Z"],
      }),
    ),
  },
  strict,
);

const Nullable = t.Union([t.String(), t.Null()]);

export const AuditEventModel = t.Object({
  id: t.String(),
  at: t.String({ format: "date-time" }),
  action: t.String({ examples: ["user.disable"] }),
  actor_id: t.Union([t.String(), t.Null()], {
    description: "a user id, `cli` for authctl, `system` for the daemon",
  }),
  user_id: t.Union([t.String(), t.Null()], { description: "the user acted on" }),
  ip: Nullable,
  user_agent: Nullable,
  request_id: Nullable,
  outcome: t.Union([t.Literal("success"), t.Literal("failure")]),
  detail: t.Union([t.Record(t.String(), t.Unknown()), t.Null()], {
    description: "what changed (before/after of changed fields); never a secret",
  }),
});

export const AuditPage = t.Object({
  items: t.Array(AuditEventModel),
  next_cursor: t.Union([t.String(), t.Null()]),
});

export const auditDto = (e: AuditEvent) => ({
  id: e.id,
  at: e.at.toISOString(),
  action: e.action,
  actor_id: e.actorId,
  user_id: e.userId,
  ip: e.ip,
  user_agent: e.userAgent,
  request_id: e.requestId,
  outcome: e.outcome,
  detail: e.detail,
});
