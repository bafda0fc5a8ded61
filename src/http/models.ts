/**
 * TypeBox models of the HTTP contract (docs/API.md). Request bodies reject
 * unknown fields (additionalProperties: false), so `roles`, `id` or
 * `password_hash` in a body is a 422, never silently applied or ignored.
 */
import { t } from "elysia";
import type { TokenResult } from "../core/accounts.ts";
import type { Session, User } from "../core/ports.ts";

const strict = { additionalProperties: false } as const;

export const Email = t.String({
  minLength: 3,
  maxLength: 254,
  examples: ["ada@example.com"],
});
// The policy (length in code points, common passwords) is checked in the core;
// this bound only keeps absurd inputs away from the hasher.
export const Password = t.String({ minLength: 1, maxLength: 4096 });
const Name = t.String({ minLength: 1, maxLength: 200 });

export const RegisterBody = t.Object(
  { email: Email, password: Password, name: t.Optional(t.Union([Name, t.Null()])) },
  strict,
);
export const LoginBody = t.Object(
  { email: t.String({ maxLength: 254 }), password: Password },
  strict,
);
export const RefreshBody = t.Object(
  { refresh_token: t.String({ minLength: 1, maxLength: 512 }) },
  strict,
);
export const UpdateMeBody = t.Object(
  { name: t.Optional(t.Union([Name, t.Null()])) },
  strict,
);
export const ChangePasswordBody = t.Object(
  { current_password: Password, new_password: Password },
  strict,
);

const Timestamp = t.String({ format: "date-time" });

export const UserModel = t.Object(
  {
    id: t.String(),
    email: t.String(),
    email_verified: t.Boolean(),
    name: t.Union([t.String(), t.Null()]),
    roles: t.Array(t.String()),
    disabled: t.Boolean(),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { description: "A user account; never contains a hash, token or secret" },
);

export const TokenModel = t.Object({
  access_token: t.String({ description: "JWT (RFC 9068), verify with the JWKS" }),
  token_type: t.Literal("Bearer"),
  expires_in: t.Integer({ description: "seconds" }),
  refresh_token: t.String({ description: "opaque; single use" }),
  refresh_expires_in: t.Integer({ description: "seconds" }),
  user: UserModel,
});

export const SessionModel = t.Object({
  id: t.String(),
  created_at: Timestamp,
  last_used_at: Timestamp,
  expires_at: Timestamp,
  ip: t.Union([t.String(), t.Null()]),
  user_agent: t.Union([t.String(), t.Null()]),
  current: t.Boolean(),
});

export const SessionList = t.Object({ items: t.Array(SessionModel) });

export const Problem = t.Object(
  {
    type: t.String(),
    title: t.String(),
    status: t.Integer(),
    code: t.String(),
    detail: t.String(),
    request_id: t.String(),
    errors: t.Optional(t.Array(t.Object({ path: t.String(), message: t.String() }))),
  },
  { description: "RFC 9457 problem details (application/problem+json)" },
);

export const userDto = (u: User) => ({
  id: u.id,
  email: u.email,
  email_verified: u.emailVerified,
  name: u.name,
  roles: u.roles,
  disabled: u.disabled,
  created_at: u.createdAt.toISOString(),
  updated_at: u.updatedAt.toISOString(),
});

export const tokenDto = (r: TokenResult) => ({
  access_token: r.accessToken,
  token_type: "Bearer" as const,
  expires_in: r.expiresIn,
  refresh_token: r.refreshToken,
  refresh_expires_in: r.refreshExpiresIn,
  user: userDto(r.user),
});

export const sessionDto = (
  s: Omit<Session, "revokedAt" | "userId"> & { current: boolean },
) => ({
  id: s.id,
  created_at: s.createdAt.toISOString(),
  last_used_at: s.lastUsedAt.toISOString(),
  expires_at: s.expiresAt.toISOString(),
  ip: s.ip,
  user_agent: s.userAgent,
  current: s.current,
});
