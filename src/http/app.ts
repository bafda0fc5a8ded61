/**
 * The HTTP server: Elysia routes plus the few things around them that every
 * request gets — a request id, a child logger, one access-log line, strict
 * JSON body parsing, and problem+json for every error.
 */
import { openapi } from "@elysiajs/openapi";
import { Elysia, ValidationError } from "elysia";
import type { Container } from "../container.ts";
import { AuthError, type FieldError, isAuthError } from "../core/errors.ts";
import { describeStorageError } from "../infra/resilience.ts";
import { problemResponse } from "./problem.ts";
import { bindContext, contextOf, REQUEST_ID_PATTERN } from "./request-context.ts";
import { createRouteMatcher } from "./route-matcher.ts";
import { authRoutes } from "./routes/auth.ts";
import { healthRoutes } from "./routes/health.ts";
import { meRoutes } from "./routes/me.ts";
import { wellKnownRoutes } from "./routes/well-known.ts";

/** Reads at most `limit` bytes of a body; more is a 413, however it is sent. */
async function readBody(request: Request, limit: number): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limit) throw tooLarge(limit);
  if (!request.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body) {
    size += chunk.byteLength;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  return new TextDecoder("utf-8", { fatal: false }).decode(Buffer.concat(chunks));
}

const tooLarge = (limit: number) =>
  new AuthError("payload_too_large", `the request body is larger than ${limit} bytes`);

function validationErrors(error: ValidationError): FieldError[] {
  const seen = new Set<string>();
  const errors: FieldError[] = [];
  for (const e of error.all) {
    const raw = "path" in e ? String(e.path) : "";
    const path = error.type === "body" ? raw || "/" : `/${error.type}${raw}`;
    const message =
      "schema" in e && e.message === "Unexpected property"
        ? "is not a field of this request"
        : String("message" in e ? e.message : "is invalid");
    // One message per field: TypeBox reports a missing property twice
    // ("Expected required property", then "Expected string"); the first says it.
    if (!seen.has(path)) errors.push({ path, message });
    seen.add(path);
  }
  return errors;
}

export function createApp(c: Container) {
  const maxBody = c.config.MAX_BODY_BYTES;

  const app = new Elysia({ normalize: false })
    .use(
      openapi({
        path: "/swagger",
        specPath: "/swagger/json",
        provider: "swagger-ui",
        // By default paths with a dot count as static files and are left out,
        // which would drop /.well-known/*.
        exclude: { staticFile: false },
        documentation: {
          info: {
            title: "authd",
            version: "1",
            description:
              "Self-hosted authentication: accounts, JWT access tokens (verify with /.well-known/jwks.json) and rotating refresh tokens. Errors are RFC 9457 problem+json.",
          },
          components: {
            securitySchemes: {
              bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
            },
          },
        },
      }),
    )
    .onParse(async ({ request, contentType }) => {
      const text = await readBody(request, maxBody);
      const type = contentType.split(";")[0]?.trim().toLowerCase() ?? "";
      if (text.length === 0 && type !== "application/json") return {};
      if (type !== "application/json" && !type.endsWith("+json")) {
        throw new AuthError(
          "unsupported_media_type",
          "send the body as application/json",
        );
      }
      try {
        return JSON.parse(text);
      } catch {
        throw new AuthError("malformed_body", "the body is not valid JSON");
      }
    })
    // Never reached (the parser above always returns or throws), but a named
    // parser is how the OpenAPI generator learns that bodies are
    // application/json; with only a function it documents bodies without schema.
    .guard({ parse: ["json"] })
    .onError(({ code, error, request }) => {
      const ctx = contextOf(request);
      const { requestId } = ctx;
      if (code === "NOT_FOUND") {
        const allowed = matcher.allowed(new URL(request.url).pathname);
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
        const e = isAuthError(cause)
          ? cause
          : new AuthError("malformed_body", "the body is not valid JSON");
        return problemResponse({ code: e.code, detail: e.message, requestId });
      }
      if (error instanceof ValidationError && error.type !== "response") {
        return problemResponse({
          code: "validation_failed",
          detail: "the request is not valid",
          requestId,
          errors: validationErrors(error),
        });
      }
      if (isAuthError(error)) {
        if (error.code === "unavailable")
          ctx.log.error(
            { cause: describeStorageError(error.cause) },
            "storage unavailable",
          );
        return problemResponse({
          code: error.code,
          detail: error.message,
          requestId,
          errors: error.errors,
        });
      }
      ctx.log.error({ err: error }, "unhandled error");
      return problemResponse({
        code: "internal_error",
        detail: "an unexpected error occurred; quote the request id when reporting it",
        requestId,
      });
    })
    .use(healthRoutes(c))
    .use(wellKnownRoutes(c))
    .use(authRoutes(c))
    .use(meRoutes(c));

  const matcher = createRouteMatcher(app.routes);
  return { app, matcher };
}

/**
 * The server's fetch handler; the daemon and the HTTP tests both call it.
 */
export function createHandler(c: Container) {
  const { app, matcher } = createApp(c);
  const trustProxy = c.config.TRUST_PROXY;

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
    const url = new URL(request.url);
    const ctx = {
      requestId,
      log: c.logger.child({ request_id: requestId }),
      ip: forwarded || server?.requestIP(request)?.address || null,
      route: matcher.route(request.method, url.pathname),
    };
    bindContext(request, ctx);
    let response: Response;
    try {
      response = await app.handle(request);
    } catch (err) {
      ctx.log.error({ err }, "unhandled error");
      response = problemResponse({
        code: "internal_error",
        detail: "unexpected error",
        requestId,
      });
    }
    const headers = new Headers(response.headers);
    headers.set("x-request-id", requestId);
    if (!headers.has("cache-control")) headers.set("cache-control", "no-store");
    const final = new Response(response.body, { status: response.status, headers });
    ctx.log.info(
      {
        method: request.method,
        route: ctx.route,
        path: url.pathname,
        status: final.status,
        duration_ms: Math.round((performance.now() - started) * 100) / 100,
      },
      "request",
    );
    return final;
  };
}

export type Handler = ReturnType<typeof createHandler>;
