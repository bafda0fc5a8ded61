/**
 * TypeBox models of the HTTP contract (docs/API.md). Request bodies reject
 * unknown fields (additionalProperties: false), so `roles`, `id` or
 * `password_hash` in a body is a 422, never silently applied or ignored.
 */
import type { StringOptions } from "@sinclair/typebox";
import { t } from "elysia";
import type { Session, User } from "../core/ports.ts";
import type { TokenResult } from "../core/sessions.ts";

const strict = { additionalProperties: false } as const;

/**
 * What no string a client sends may hold: C0 and C1 controls and DEL (NUL
 * reaches PostgreSQL as SQLSTATE 22021), the bidi marks, embeddings,
 * overrides and isolates that make text display as something else (U+061C,
 * U+200E/F, U+202A–202E, U+2066–2069), the zero-width characters (U+200B–200D,
 * U+2060, U+FEFF), and lone UTF-16 surrogates, which have no UTF-8 form.
 * TypeBox compiles `pattern` without the `u` flag, so every range is spelled
 * as a \uXXXX escape and a surrogate pair is matched as two code units; read
 * with the `u` flag (as OpenAPI tools do) the pattern means the same.
 */
export const SAFE_TEXT_PATTERN =
  "^(?:[^\\u0000-\\u001F\\u007F-\\u009F\\u061C\\u200B-\\u200F\\u202A-\\u202E" +
  "\\u2060\\u2066-\\u2069\\uFEFF\\uD800-\\uDFFF]|[\\uD800-\\uDBFF][\\uDC00-\\uDFFF])*$";

/** The message a client gets for a string that fails SAFE_TEXT_PATTERN. */
export const UNSAFE_TEXT_MESSAGE =
  "must not contain control, invisible or bidirectional-override characters";

/**
 * The one builder of request strings: every string field and path parameter
 * a client sends goes through it, so none can carry the characters above.
 */
export const text = (options: StringOptions & { maxLength: number }) =>
  t.String({ ...options, pattern: SAFE_TEXT_PATTERN });

export const Email = text({
  minLength: 3,
  maxLength: 254,
  examples: ["ada@example.com"],
});
// The policy (length in code points, common passwords) is checked in the core;
// this bound only keeps absurd inputs away from the hasher.
export const Password = text({ minLength: 1, maxLength: 4096 });
export const Name = text({ minLength: 1, maxLength: 200 });

export const RegisterBody = t.Object(
  { email: Email, password: Password, name: t.Optional(t.Union([Name, t.Null()])) },
  strict,
);
export const LoginBody = t.Object(
  { email: text({ maxLength: 254 }), password: Password },
  strict,
);
export const RefreshBody = t.Object(
  { refresh_token: text({ minLength: 1, maxLength: 512 }) },
  strict,
);
export const UpdateMeBody = t.Object(
  { name: t.Optional(t.Union([Name, t.Null()])) },
  strict,
);
/** The `{id}` of /users/me/sessions/{id}. */
export const SessionIdParams = t.Object({ id: text({ maxLength: 64 }) });
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

/**
 * The description every problem model starts with: the OpenAPI document
 * (./openapi-document.ts) knows a problem response by it and serves it as
 * application/problem+json.
 */
export const PROBLEM_DESCRIPTION =
  "RFC 9457 problem details (application/problem+json)";

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
  { description: PROBLEM_DESCRIPTION },
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

/** A token from a mailed link: opaque, base64url (43 characters as issued). */
const LinkToken = text({
  minLength: 1,
  maxLength: 512,
  description: "the `token` query parameter of the mailed link",
});
export const ForgotBody = t.Object({ email: text({ maxLength: 254 }) }, strict);
export const ResetBody = t.Object({ token: LinkToken, new_password: Password }, strict);
export const VerifyEmailBody = t.Object({ token: LinkToken }, strict);
