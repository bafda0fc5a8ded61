/** GET /audit: the audit log, newest first, for admins. */
import { Elysia } from "elysia";
import type { Container } from "../../container.ts";
import { fieldError } from "../../core/errors.ts";
import { parseIsoTime } from "../../core/time.ts";
import { AuditPage, AuditQuery, auditDto } from "../admin-models.ts";
import { decodeCursor, encodeCursor, pageLimit } from "../cursor.ts";
import { authGuard, bearerSecurity } from "../guard.ts";
import { Problem } from "../models.ts";

function parseSince(since: string): Date {
  const date = parseIsoTime(since);
  if (!date) throw fieldError("/query/since", "is not a valid ISO 8601 time");
  return date;
}

export const auditRoutes = (c: Container) =>
  new Elysia({
    name: "audit-routes",
    detail: { tags: ["admin"], security: bearerSecurity },
  })
    .use(authGuard(c))
    .get(
      "/audit",
      async ({ query }) => {
        const page = await c.auditLog.list({
          limit: pageLimit(query.limit),
          before: query.cursor ? decodeCursor("audit", query.cursor) : undefined,
          userId: query.user_id,
          action: query.action,
          since: query.since ? parseSince(query.since) : undefined,
        });
        return {
          items: page.items.map(auditDto),
          next_cursor: page.next ? encodeCursor("audit", page.next) : null,
        };
      },
      {
        admin: true,
        query: AuditQuery,
        response: { 200: AuditPage, 401: Problem, 403: Problem, 422: Problem },
        detail: {
          summary: "The audit log, newest first, a page at a time",
          description:
            "Every login, session and account change, with actor, target user, ip, user agent, request id and outcome. `detail` never holds a password, token or hash.",
        },
      },
    );
