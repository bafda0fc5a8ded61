/** The audit part of the PostgreSQL store. */
import { and, desc, eq, gte, inArray, lt, sql } from "drizzle-orm";
import { settle } from "../../core/per-turn.ts";
import type { AuditStore } from "../../core/ports.ts";
import type { PgDb } from "../connect.ts";
import { toAudit } from "../mappers.ts";
import { auditEvents } from "../schema/pg.ts";

export function createPgAuditStore(db: PgDb): AuditStore {
  const p = sql.placeholder;
  // Every login, refresh-reuse and logout appends one event: prepared once, by name.
  const append = db
    .insert(auditEvents)
    .values({
      id: p("id"),
      at: p("at"),
      action: p("action"),
      actorId: p("actorId"),
      userId: p("userId"),
      ip: p("ip"),
      userAgent: p("userAgent"),
      requestId: p("requestId"),
      outcome: p("outcome"),
      // Serialised here: a NULL detail must stay SQL NULL, not JSON null.
      detail: sql`${p("detail")}`,
    })
    .prepare("append_audit");
  return {
    // Each its own statement, side by side.
    async appendAudits(events) {
      return Promise.all(
        events.map((event) =>
          settle(
            append
              .execute({
                ...event,
                detail: event.detail === null ? null : JSON.stringify(event.detail),
              })
              .then(() => undefined),
          ),
        ),
      );
    },
    async listAudit(f) {
      const rows = await db
        .select()
        .from(auditEvents)
        .where(
          and(
            f.userId !== undefined ? eq(auditEvents.userId, f.userId) : undefined,
            f.action !== undefined ? eq(auditEvents.action, f.action) : undefined,
            f.since !== undefined ? gte(auditEvents.at, f.since) : undefined,
            f.beforeId !== undefined ? lt(auditEvents.id, f.beforeId) : undefined,
          ),
        )
        .orderBy(desc(auditEvents.id))
        .limit(f.limit);
      return rows.map(toAudit);
    },
    async pruneAudit(before, batch) {
      // In batches (the caller loops), so a first prune of years of events
      // is many short transactions rather than one long one.
      const doomed = db
        .select({ id: auditEvents.id })
        .from(auditEvents)
        .where(lt(auditEvents.at, before))
        .limit(batch);
      const rows = await db
        .delete(auditEvents)
        .where(inArray(auditEvents.id, doomed))
        .returning({ id: auditEvents.id });
      return rows.length;
    },
  };
}
