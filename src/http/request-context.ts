/**
 * What the server knows about one request beyond Elysia's context: its id,
 * its child logger and the client address. Kept in a WeakMap keyed by the
 * Request, so hooks that run before Elysia builds its context (body parsing,
 * errors) see it too.
 */
import type { Actor } from "../core/ports.ts";
import type { Logger } from "../infra/logger.ts";

export interface RequestContext {
  requestId: string;
  log: Logger;
  ip: string | null;
  /** The matched route pattern, once known. */
  route: string | null;
  userId?: string;
}

const contexts = new WeakMap<Request, RequestContext>();

/** API.md: a client id is echoed when it matches this; otherwise a fresh id is used. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * A request's context. Its child logger is made on first use: most requests
 * log nothing but their access line, which the handler writes itself.
 */
export function createContext(
  logger: Logger,
  requestId: string,
  ip: string | null,
  route: string | null,
): RequestContext {
  let log: Logger | undefined;
  return {
    requestId,
    ip,
    route,
    get log() {
      log ??= logger.child({ request_id: requestId });
      return log;
    },
  };
}

export function bindContext(request: Request, ctx: RequestContext): void {
  contexts.set(request, ctx);
}

export function contextOf(request: Request): RequestContext {
  const ctx = contexts.get(request);
  if (!ctx)
    throw new Error(
      "request context missing: requests must go through the server's handle()",
    );
  return ctx;
}

/** Who is acting, for the audit log. */
export function actorOf(request: Request, actorId?: string): Actor {
  const ctx = contextOf(request);
  return {
    actorId: actorId ?? null,
    ip: ctx.ip,
    userAgent: request.headers.get("user-agent"),
    requestId: ctx.requestId,
  };
}
