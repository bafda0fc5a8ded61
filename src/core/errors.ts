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
  "forbidden",
  "email_taken",
  "registration_closed",
  "conflict",
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

/** The one error class the core throws; `code` is stable and safe to show. */
export class AuthError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly errors?: FieldError[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "AuthError";
  }
}

export const isAuthError = (e: unknown): e is AuthError => e instanceof AuthError;

/** A 422 for one field, the shape clients get from schema validation too. */
export const fieldError = (path: string, message: string): AuthError =>
  new AuthError("validation_failed", message, [{ path, message }]);
