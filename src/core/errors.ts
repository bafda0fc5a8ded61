/**
 * Every error code the service can answer with, in one place. The HTTP layer
 * maps each to a status in an exhaustive table (src/http/problem.ts), so a new
 * code does not compile until it has one.
 */
export const ERROR_CODES = [
  "malformed_body",
  "validation_failed",
  "unsupported_media_type",
  "payload_too_large",
  "not_found",
  "method_not_allowed",
  "unauthenticated",
  "invalid_token",
  "invalid_credentials",
  "invalid_grant",
  "invalid_link_token",
  "forbidden",
  "email_not_verified",
  "last_admin",
  "email_taken",
  "registration_closed",
  "conflict",
  "password_breached",
  "rate_limited",
  "unavailable",
  "internal_error",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** One failed field, as a JSON pointer into the request body. */
export interface FieldError {
  path: string;
  message: string;
}

/**
 * The one error class the core throws; `code` is stable and safe to show.
 * `reason` is for the log and metrics only: a short machine-readable word
 * (`unknown_kid`, `session_ended` …) that the client is never told.
 */
export class AuthError extends Error {
  readonly reason?: string;
  /** Whole seconds the client should wait (429 `rate_limited`): `Retry-After`. */
  readonly retryAfter?: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly errors?: FieldError[],
    options?: { cause?: unknown; reason?: string; retryAfter?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AuthError";
    if (options?.reason !== undefined) this.reason = options.reason;
    if (options?.retryAfter !== undefined) this.retryAfter = options.retryAfter;
  }
}

export const isAuthError = (e: unknown): e is AuthError => e instanceof AuthError;

/** A 422 for one field, the shape clients get from schema validation too. */
export const fieldError = (path: string, message: string): AuthError =>
  new AuthError("validation_failed", message, [{ path, message }]);

/**
 * Every rejected access token gets this one detail, whatever the cause: a
 * different wording per cause would tell an attacker whether a kid exists or
 * whether a stolen token's session was ended. The cause is the `reason`.
 */
export const INVALID_TOKEN_DETAIL = "the access token is invalid or expired";

/** A 401 invalid_token; `reason` goes to the debug log, never to the client. */
export const invalidToken = (reason: string, cause?: unknown): AuthError =>
  new AuthError("invalid_token", INVALID_TOKEN_DETAIL, undefined, { cause, reason });
