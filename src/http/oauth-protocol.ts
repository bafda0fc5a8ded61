/**
 * The protocol shape of the /oauth routes (API.md "Standard clients"):
 * form-encoded request bodies (RFC 6749 §3.2, Appendix B) and errors as
 * `{"error", "error_description"}` (RFC 6749 §5.2) instead of problem+json.
 * Only the four /oauth routes answer this way; everything else stays
 * problem+json through src/http/problem.ts.
 */
import type { AuthError, ErrorCode } from "../core/errors.ts";
import { decodeUtf8 } from "./body.ts";

/** The routes (Elysia patterns) that speak the RFC shapes. */
export const OAUTH_ROUTES: ReadonlySet<string> = new Set([
  "/oauth/token",
  "/oauth/revoke",
  "/oauth/introspect",
  "/oauth/userinfo",
]);

export const isOAuthRoute = (route: string | null): boolean =>
  route !== null && OAUTH_ROUTES.has(route);

/**
 * The parameters any /oauth route reads. Others are dropped (RFC 6749 §3.2:
 * "The authorization server MUST ignore unrecognized request parameters"),
 * e.g. the `client_id` a public client sends (RFC 6749 §2.3, auth method
 * "none").
 */
const KNOWN_PARAMS = ["grant_type", "refresh_token", "token", "token_type_hint"];

/** An error the protocol names and the core has no code for. */
export class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
  ) {
    super(description);
    this.name = "OAuthError";
  }
}

interface OAuthKind {
  status: number;
  /** RFC 6749 §5.2 / RFC 6750 §3.1 / RFC 7009 / OIDC error code. */
  error: string;
}

const BAD_REQUEST: OAuthKind = { status: 400, error: "invalid_request" };

/**
 * Every core code as an RFC error, in one exhaustive table (a new core code
 * does not compile until it has a row). Bearer-authenticated routes
 * (introspect, userinfo) use RFC 6750 §3.1's codes; 429 and 503 are the
 * registered `temporarily_unavailable`, told apart by status and Retry-After.
 */
const OAUTH_STATUS: Record<ErrorCode, OAuthKind> = {
  malformed_body: BAD_REQUEST,
  validation_failed: BAD_REQUEST,
  unsupported_media_type: BAD_REQUEST,
  payload_too_large: { status: 413, error: "invalid_request" },
  not_found: { status: 404, error: "invalid_request" },
  method_not_allowed: { status: 405, error: "invalid_request" },
  unauthenticated: { status: 401, error: "invalid_request" },
  invalid_token: { status: 401, error: "invalid_token" },
  invalid_credentials: { status: 401, error: "invalid_request" },
  invalid_grant: { status: 400, error: "invalid_grant" },
  invalid_link_token: BAD_REQUEST,
  forbidden: { status: 403, error: "insufficient_scope" },
  email_not_verified: { status: 403, error: "access_denied" },
  last_admin: { status: 409, error: "invalid_request" },
  email_taken: { status: 409, error: "invalid_request" },
  registration_closed: { status: 403, error: "access_denied" },
  conflict: { status: 409, error: "invalid_request" },
  password_breached: BAD_REQUEST,
  rate_limited: { status: 429, error: "temporarily_unavailable" },
  unavailable: { status: 503, error: "temporarily_unavailable" },
  internal_error: { status: 500, error: "server_error" },
};

/** Seconds a client should wait after a 503 (as problem.ts answers). */
const UNAVAILABLE_RETRY_AFTER = "5";

/** RFC 6749 §5.2 error response (with RFC 6750 §3 challenges on 401/403). */
export function oauthErrorResponse(
  e: AuthError | OAuthError,
  requestId: string,
  retryAfter?: number,
): Response {
  const { status, error } =
    e instanceof OAuthError ? e : (OAUTH_STATUS[e.code] ?? BAD_REQUEST);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "cache-control": "no-store",
    pragma: "no-cache",
    "x-request-id": requestId,
  };
  if (status === 401) {
    // RFC 6750 §3.1: a request without a token gets a bare challenge.
    headers["www-authenticate"] =
      error === "invalid_token" ? 'Bearer error="invalid_token"' : "Bearer";
  }
  if (status === 403) headers["www-authenticate"] = 'Bearer error="insufficient_scope"';
  if (retryAfter !== undefined) headers["retry-after"] = String(retryAfter);
  else if (status === 503) headers["retry-after"] = UNAVAILABLE_RETRY_AFTER;
  return new Response(JSON.stringify({ error, error_description: e.message }), {
    status,
    headers,
  });
}

export type OAuthParams = Partial<Record<(typeof KNOWN_PARAMS)[number], string>>;

/**
 * An application/x-www-form-urlencoded body: strict UTF-8, each parameter at
 * most once (RFC 6749 §3.2), empty values treated as absent (§3.1), unknown
 * parameters dropped. An empty body is no parameters at all.
 */
export function parseOAuthForm(bytes: Uint8Array, contentType: string): OAuthParams {
  if (bytes.length === 0) return {};
  const type = contentType.split(";")[0]?.trim().toLowerCase() ?? "";
  if (type !== "application/x-www-form-urlencoded") {
    throw new OAuthError(
      400,
      "invalid_request",
      "send the parameters as application/x-www-form-urlencoded",
    );
  }
  const params = new URLSearchParams(decodeUtf8(bytes));
  const seen = new Set<string>();
  const out: OAuthParams = {};
  for (const [name, value] of params) {
    if (seen.has(name))
      throw new OAuthError(400, "invalid_request", `${name} is sent more than once`);
    seen.add(name);
    if (value !== "" && KNOWN_PARAMS.includes(name)) out[name] = value;
  }
  return out;
}

/** A parameter the route needs; missing is `invalid_request`. */
export function required(params: OAuthParams, name: keyof OAuthParams): string {
  const value = params[name];
  if (value === undefined)
    throw new OAuthError(400, "invalid_request", `the ${name} parameter is missing`);
  return value;
}
