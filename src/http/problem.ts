/**
 * RFC 9457 problem details. Every error code maps to a status here, in one
 * exhaustive table: a code added to src/core/errors.ts does not compile until
 * it has a row.
 */
import type { ErrorCode, FieldError } from "../core/errors.ts";

export interface ProblemKind {
  status: number;
  title: string;
  /**
   * The `code` clients see, when it differs from the core's: the contract
   * names both a rejected access token (401) and a rejected mailed link token
   * (400) `invalid_token`, and one core code has one status.
   */
  publicCode?: string;
}

export const PROBLEM_STATUS: Record<ErrorCode, ProblemKind> = {
  malformed_body: { status: 400, title: "Bad Request" },
  validation_failed: { status: 422, title: "Unprocessable Content" },
  unsupported_media_type: { status: 415, title: "Unsupported Media Type" },
  payload_too_large: { status: 413, title: "Content Too Large" },
  not_found: { status: 404, title: "Not Found" },
  method_not_allowed: { status: 405, title: "Method Not Allowed" },
  unauthenticated: { status: 401, title: "Unauthorized" },
  invalid_token: { status: 401, title: "Unauthorized" },
  invalid_credentials: { status: 401, title: "Unauthorized" },
  invalid_grant: { status: 401, title: "Unauthorized" },
  invalid_link_token: {
    status: 400,
    title: "Bad Request",
    publicCode: "invalid_token",
  },
  forbidden: { status: 403, title: "Forbidden" },
  email_not_verified: { status: 403, title: "Forbidden" },
  last_admin: { status: 409, title: "Conflict" },
  email_taken: { status: 409, title: "Conflict" },
  registration_closed: { status: 403, title: "Forbidden" },
  conflict: { status: 409, title: "Conflict" },
  password_breached: { status: 422, title: "Unprocessable Content" },
  rate_limited: { status: 429, title: "Too Many Requests" },
  unavailable: { status: 503, title: "Service Unavailable" },
  internal_error: { status: 500, title: "Internal Server Error" },
};

/** Seconds a client should wait after a 503 before trying again. */
export const UNAVAILABLE_RETRY_AFTER = 5;

export interface ProblemInit {
  code: ErrorCode;
  detail: string;
  requestId: string;
  errors?: FieldError[];
  headers?: Record<string, string>;
}

export function problemResponse({
  code,
  detail,
  requestId,
  errors,
  headers,
}: ProblemInit): Response {
  const { status, title, publicCode } = PROBLEM_STATUS[code];
  const body = {
    type: "about:blank",
    title,
    status,
    code: publicCode ?? code,
    detail,
    request_id: requestId,
    ...(errors && (status === 400 || status === 422) ? { errors } : {}),
  };
  const extra: Record<string, string> = { ...headers };
  if (status === 401) {
    // RFC 6750 §3: a missing token gets a bare challenge, a rejected one says why.
    extra["www-authenticate"] =
      code === "invalid_token" ? 'Bearer error="invalid_token"' : "Bearer";
  }
  if (status === 503) extra["retry-after"] ??= String(UNAVAILABLE_RETRY_AFTER);
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      "content-type": "application/problem+json",
      "cache-control": "no-store",
      "x-request-id": requestId,
      ...extra,
    },
  });
}
