/**
 * The HTTP server: Elysia routes plus the few things around them that every
 * request gets — a request id, a child logger, one access-log line, strict
 * JSON body parsing, and problem+json for every error.
 */
import { type AnyElysia, Elysia, ValidationError } from "elysia";
import type { Container } from "../container.ts";
import { AuthError, isAuthError } from "../core/errors.ts";
import { accessLogger } from "../infra/logger.ts";
import { describeStorageError } from "../infra/resilience.ts";
import { parseJsonBody, readBody } from "./body.ts";
import {
  isOAuthRoute,
  OAuthError,
  oauthErrorResponse,
  parseOAuthForm,
} from "./oauth-protocol.ts";
import { openApiRoutes } from "./openapi.ts";
import type { DocumentInfo } from "./openapi-document.ts";
import { problemResponse } from "./problem.ts";
import {
  bindContext,
  contextOf,
  createContext,
  REQUEST_ID_PATTERN,
  type RequestContext,
} from "./request-context.ts";
import { createRouteMatcher } from "./route-matcher.ts";
import { adminUserRoutes } from "./routes/admin-users.ts";
import { auditRoutes } from "./routes/audit.ts";
import { authRoutes } from "./routes/auth.ts";
import { emailRoutes } from "./routes/email.ts";
import {
  createForwardAuth,
  FORWARD_AUTH_ROUTE,
  forwardAuthRoutes,
} from "./routes/forward-auth.ts";
import { healthRoutes } from "./routes/health.ts";
import { meRoutes } from "./routes/me.ts";
import { METRICS_PATH, metricsRoutes } from "./routes/metrics.ts";
import { oauthRoutes } from "./routes/oauth.ts";
import { wellKnownRoutes } from "./routes/well-known.ts";
import { applySecurityHeaders, createCors } from "./security.ts";
import { swaggerUiRoutes } from "./swagger-ui.ts";
import { validationErrors } from "./validation.ts";

// Codes a storage error that is not an outage becomes (src/infra/resilience.ts).
const STORAGE_ANSWERS = new Set(["internal_error", "conflict", "validation_failed"]);

/**
 * POSTs under these prefixes spend the per-IP budget. By prefix, not by
 * route, so routes added later under /auth and /oauth are covered unchanged.
 */
const IP_BUDGETED = /^\/(auth|oauth)(\/|$)/;

/** What the OpenAPI document says of itself (./openapi.ts, at /swagger/json). */
const DOCUMENT_INFO: DocumentInfo = {
  title: "authd",
  version: "1.1",
  description:
    "Self-hosted authentication: accounts, JWT access tokens (verify with /.well-known/jwks.json) and rotating refresh tokens. Errors are RFC 9457 application/problem+json with a stable `code`; every response carries X-Request-Id.",
  tags: [
    { name: "auth", description: "Register, sign in, refresh and end sessions" },
    { name: "me", description: "The signed-in user's account, password and sessions" },
    { name: "admin", description: "Users and the audit log, for the `admin` role" },
    { name: "discovery", description: "Public keys and discovery documents" },
    { name: "health", description: "Liveness and readiness" },
    {
      name: "oauth",
      description: "OAuth 2.0 token, revocation and introspection; OpenID userinfo",
    },
    {
      name: "forward-auth",
      description: "For reverse proxies: is this bearer token good?",
    },
    { name: "operations", description: "Prometheus metrics" },
  ],
  ipBudgeted: IP_BUDGETED,
};

/**
 * The answer to an AuthError, logged as it deserves: problem+json (with
 * Retry-After when it names one), or the RFC 6749 §5.2 shape on the /oauth
 * routes (./oauth-protocol.ts).
 */
function authErrorResponse(error: AuthError, ctx: RequestContext): Response {
  // The cause of a refusal the client is not told (which check rejected an
  // access token): for the operator and metrics. Never the token.
  if (error.reason !== undefined)
    ctx.log.debug({ code: error.code, reason: error.reason }, "request refused");
  if (error.code === "unavailable" && error.cause !== undefined)
    ctx.log.error({ cause: describeStorageError(error.cause) }, "storage unavailable");
  else if (error.code === "unavailable")
    // No storage cause: an overload the daemon refused on purpose (a full hash queue).
    ctx.log.warn({ detail: error.message }, "request refused: overloaded");
  else if (error.cause !== undefined && STORAGE_ANSWERS.has(error.code))
    ctx.log[error.code === "internal_error" ? "error" : "warn"](
      { cause: describeStorageError(error.cause) },
      "storage error",
    );
  if (isOAuthRoute(ctx.route))
    return oauthErrorResponse(error, ctx.requestId, error.retryAfter);
  return problemResponse({
    code: error.code,
    detail: error.message,
    requestId: ctx.requestId,
    errors: error.errors,
    ...(error.retryAfter !== undefined
      ? { headers: { "retry-after": String(error.retryAfter) } }
      : {}),
  });
}

export function createApp(c: Container) {
  const maxBody = c.config.MAX_BODY_BYTES;

  const app = new Elysia({ normalize: false })
    .use(swaggerUiRoutes(DOCUMENT_INFO.title))
    .use(openApiRoutes({ ...DOCUMENT_INFO, app: (): AnyElysia => app }))
    .onParse(async ({ request, contentType }) => {
      const bytes = await readBody(request, maxBody);
      // The /oauth routes speak form-encoding (RFC 6749 §3.2), nothing else.
      if (isOAuthRoute(contextOf(request).route))
        return parseOAuthForm(bytes, contentType);
      const type = contentType.split(";")[0]?.trim().toLowerCase() ?? "";
      if (bytes.length === 0 && type !== "application/json") return {};
      if (type !== "application/json" && !type.endsWith("+json")) {
        throw new AuthError(
          "unsupported_media_type",
          "send the body as application/json",
        );
      }
      return parseJsonBody(
        bytes,
        validatedBodies.has(`${request.method} ${contextOf(request).route}`),
      );
    })
    .onError(({ code, error, request }) => {
      const ctx = contextOf(request);
      const { requestId } = ctx;
      if (code === "NOT_FOUND") {
        const allowed = matcher.allowed(pathOf(request.url));
        if (allowed.length > 0) {
          return problemResponse({
            code: "method_not_allowed",
            detail: `${request.method} is not allowed here`,
            requestId,
            headers: { allow: allowed.join(", ") },
          });
        }
        return problemResponse({
          code: "not_found",
          detail: "no such route",
          requestId,
        });
      }
      if (code === "PARSE") {
        // Our body parser's own verdicts (413, 415, 400) arrive wrapped.
        const cause = (error as { cause?: unknown }).cause;
        if (cause instanceof OAuthError) return oauthErrorResponse(cause, requestId);
        const e = isAuthError(cause)
          ? cause
          : new AuthError("malformed_body", "the body is not valid JSON");
        return authErrorResponse(e, ctx);
      }
      if (error instanceof OAuthError) return oauthErrorResponse(error, requestId);
      if (
        error instanceof ValidationError &&
        error.type !== "response" &&
        isOAuthRoute(ctx.route)
      ) {
        const name = validationErrors(error)[0]?.path.replace(/^\//, "") ?? "";
        return oauthErrorResponse(
          new OAuthError(
            400,
            "invalid_request",
            `the ${name || "request"} parameter is missing or invalid`,
          ),
          requestId,
        );
      }
      if (error instanceof ValidationError && error.type !== "response") {
        return problemResponse({
          code: "validation_failed",
          detail: "the request is not valid",
          requestId,
          errors: validationErrors(error),
        });
      }
      if (isAuthError(error)) return authErrorResponse(error, ctx);
      ctx.log.error({ err: error }, "unhandled error");
      return authErrorResponse(
        new AuthError(
          "internal_error",
          "an unexpected error occurred; quote the request id when reporting it",
        ),
        ctx,
      );
    })
    // Before the JSON guard below: the /oauth routes document (and take)
    // form-encoded bodies only.
    .use(oauthRoutes(c))
    // Never reached (the parser above always returns or throws), but a named
    // parser is how the OpenAPI generator learns that bodies are
    // application/json; with only a function it documents bodies without schema.
    .guard({ parse: ["json"] })
    .use(healthRoutes(c))
    .use(wellKnownRoutes(c))
    .use(authRoutes(c))
    .use(forwardAuthRoutes(c))
    .use(emailRoutes(c))
    .use(meRoutes(c))
    .use(adminUserRoutes(c))
    .use(auditRoutes(c))
    .use(metricsRoutes(c));

  const matcher = createRouteMatcher(app.routes);
  // "METHOD pattern" of the routes with a body schema (the parser above).
  const validatedBodies = new Set(
    app.routes.filter((r) => r.hooks.body).map((r) => `${r.method} ${r.path}`),
  );
  return { app, matcher };
}

/**
 * The path of a request URL, without parsing the whole URL: this runs on every
 * request, and `new URL` showed in the profile. Elysia routes on the same slice.
 */
export function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const query = url.indexOf("?", start);
  return query < 0 ? url.slice(start) : url.slice(start, query);
}

/**
 * Adds the headers every response carries, in place when the response allows
 * it: the request id, no-store unless the route said otherwise, the security
 * headers and CORS (./security.ts), and `Connection: close` when the body was
 * refused or left unread.
 */
function finish(
  response: Response,
  request: Request,
  requestId: string,
  decorate: (headers: Headers) => void,
): Response {
  // After a 413, or when a streamed body was left unread, close the
  // connection: otherwise Bun reads and discards whatever the client keeps
  // sending, however much that is, to keep the connection alive.
  const close =
    response.status === 413 ||
    (request.body !== null &&
      !request.bodyUsed &&
      !request.headers.has("content-length"));
  const apply = (headers: Headers) => {
    headers.set("x-request-id", requestId);
    if (!headers.has("cache-control")) headers.set("cache-control", "no-store");
    if (close) headers.set("connection", "close");
    decorate(headers);
  };
  try {
    apply(response.headers);
    return response;
  } catch {
    // Immutable headers (a response we did not build): copy them once.
    const headers = new Headers(response.headers);
    apply(headers);
    return new Response(response.body, { status: response.status, headers });
  }
}

/**
 * The server's fetch handler; the daemon and the HTTP tests both call it.
 * Per request it does only what needs the request: the id, the client
 * address, the route name, one access line (a child logger is made only
 * when something else is logged) and the request's metrics.
 */
export function createHandler(c: Container) {
  const { app, matcher } = createApp(c);
  const trustProxy = c.config.TRUST_PROXY;
  const maxBody = c.config.MAX_BODY_BYTES;
  const logger = c.logger;
  const access = accessLogger(logger);
  const cors = createCors(c.config.corsOrigins);
  const metrics = c.metrics;
  const forwardAuth = createForwardAuth(c);

  /**
   * What answers before the router: CORS preflights, the per-IP budget, and a
   * declared body over MAX_BODY_BYTES (refused before any route runs,
   * including the ones that never read a body; Bun's own limit is out of the
   * way, see src/main.ts, so this is where an oversized body is answered).
   */
  async function route(request: Request, ctx: RequestContext, path: string) {
    if (request.method === "OPTIONS") {
      const preflight = cors.preflight(request, matcher.allowed(path));
      if (preflight) return preflight;
    }
    if (request.method === "POST" && IP_BUDGETED.test(path)) {
      try {
        await c.limits.hitIp(ctx.ip);
      } catch (e) {
        if (!isAuthError(e)) throw e;
        return authErrorResponse(e, ctx);
      }
    }
    const declared = Number(request.headers.get("content-length") ?? "0");
    if (declared > maxBody) {
      return authErrorResponse(
        new AuthError(
          "payload_too_large",
          `the request body is larger than ${maxBody} bytes`,
        ),
        ctx,
      );
    }
    // Forward auth is the hottest path: answered here, without the router
    // and the per-route hooks it does not need (the same function as its
    // Elysia route). No body is read.
    if (ctx.route === FORWARD_AUTH_ROUTE && request.method === "GET") {
      try {
        return await forwardAuth(request);
      } catch (e) {
        if (!isAuthError(e)) throw e;
        return authErrorResponse(e, ctx);
      }
    }
    return app.handle(request);
  }

  return async function handle(
    request: Request,
    server?: { requestIP(r: Request): { address: string } | null },
  ): Promise<Response> {
    const started = performance.now();
    const incoming = request.headers.get("x-request-id");
    const requestId =
      incoming && REQUEST_ID_PATTERN.test(incoming) ? incoming : Bun.randomUUIDv7();
    const forwarded = trustProxy
      ? request.headers.get("x-forwarded-for")?.split(",")[0]?.trim()
      : undefined;
    const path = pathOf(request.url);
    const ctx = createContext(
      logger,
      requestId,
      forwarded || server?.requestIP(request)?.address || null,
      matcher.route(request.method, path),
    );
    bindContext(request, ctx);
    let response: Response;
    try {
      response = await route(request, ctx, path);
    } catch (err) {
      ctx.log.error({ err }, "unhandled error");
      response = problemResponse({
        code: "internal_error",
        detail: "unexpected error",
        requestId,
      });
    }
    response = finish(response, request, requestId, (headers) => {
      applySecurityHeaders(headers, ctx.route);
      cors.decorate(request, headers);
    });
    const seconds = (performance.now() - started) / 1000;
    metrics?.observeRequest(request.method, ctx.route, response.status, seconds);
    // A successful scrape is not access-logged: Prometheus asks every few
    // seconds, and the counters above already record it. A refused one is.
    const scraped = ctx.route === METRICS_PATH && response.status === 200;
    if (!scraped && access) {
      access({
        request_id: requestId,
        method: request.method,
        route: ctx.route,
        path,
        status: response.status,
        duration_ms: Math.round(seconds * 100_000) / 100,
      });
    }
    return response;
  };
}

export type Handler = ReturnType<typeof createHandler>;
