/**
 * What every response carries for the browser's sake: security headers, a
 * Content-Security-Policy per route, and CORS for an exact-origin allowlist
 * (API.md "Abuse protection"). Applied once, in the handler (./app.ts).
 */

/** On every response, whatever route or error produced it. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

/**
 * The API serves JSON, never a document: nothing may load from it or frame
 * it. A route that serves a page names its own policy in ROUTE_CSP.
 */
export const DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'";

/**
 * Per-route policies, by route pattern. Swagger UI is a page: its script,
 * stylesheet and icon are served by this daemon (./swagger-ui.ts), it starts
 * from a script file rather than an inline one, and it fetches the document
 * from this origin; so 'self' is the only source. `data:` images are the
 * icons inlined in Swagger UI's stylesheet. No 'unsafe-inline' or
 * 'unsafe-eval': the browser test (tests/e2e/swagger-ui.test.ts) fails on
 * any violation of this policy.
 */
export const ROUTE_CSP: Readonly<Record<string, string>> = {
  "/swagger": [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; "),
};

/** Request headers a browser may send cross-origin. */
const ALLOW_HEADERS = "authorization, content-type, x-request-id";
/** Response headers a cross-origin script may read. */
const EXPOSE_HEADERS = "x-request-id, retry-after";
/** Seconds a browser may cache a preflight answer. */
const PREFLIGHT_MAX_AGE = "600";

export interface Cors {
  /**
   * The answer to a preflight (OPTIONS with Origin and
   * Access-Control-Request-Method) from an allowed origin to a path that
   * serves `allowedMethods`; null when it is not one (the router answers).
   */
  preflight(request: Request, allowedMethods: string[]): Response | null;
  /** Adds the CORS headers an allowed origin gets, and `Vary: Origin`. */
  decorate(request: Request, headers: Headers): void;
}

export function createCors(origins: readonly string[]): Cors {
  const allowed = new Set(origins);
  const originOf = (request: Request): string | null => {
    const origin = request.headers.get("origin");
    return origin && allowed.has(origin) ? origin : null;
  };
  return {
    preflight(request, allowedMethods) {
      if (request.method !== "OPTIONS" || allowedMethods.length === 0) return null;
      const origin = originOf(request);
      if (!origin || !request.headers.has("access-control-request-method")) return null;
      return new Response(null, {
        status: 204,
        headers: {
          "access-control-allow-origin": origin,
          "access-control-allow-methods": allowedMethods.join(", "),
          "access-control-allow-headers": ALLOW_HEADERS,
          "access-control-max-age": PREFLIGHT_MAX_AGE,
        },
      });
    },
    decorate(request, headers) {
      if (allowed.size === 0) return;
      // Whether the CORS headers are present depends on Origin, so shared
      // caches must key on it — also for the answers without them.
      headers.append("vary", "Origin");
      const origin = originOf(request);
      if (!origin) return;
      headers.set("access-control-allow-origin", origin);
      if (request.method !== "OPTIONS")
        headers.set("access-control-expose-headers", EXPOSE_HEADERS);
    },
  };
}

/** SECURITY_HEADERS as pairs, listed once rather than on every response. */
const SECURITY_ENTRIES = Object.entries(SECURITY_HEADERS);

/** The security headers and the route's CSP, onto a response's headers. */
export function applySecurityHeaders(headers: Headers, route: string | null): void {
  for (const [name, value] of SECURITY_ENTRIES) headers.set(name, value);
  if (!headers.has("content-security-policy")) {
    headers.set("content-security-policy", (route && ROUTE_CSP[route]) || DEFAULT_CSP);
  }
}
