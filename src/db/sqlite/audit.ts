/** The audit part of the SQLite store. */
import { and, desc, eq, gte, inArray, lt, sql } from "drizzle-orm";
import type { AuditEvent, AuditStore, Settled } from "../../core/ports.ts";
import type { SqliteDb } from "../connect.ts";
import { toAudit } from "../mappers.ts";
import { auditEvents } from "../schema/sqlite.ts";
import { groupCommit } from "./tx.ts";

export function createSqliteAuditStore(db: SqliteDb): AuditStore {
  const p = sql.placeholder;
  // Every login, refresh-reuse and logout appends one event: prepared on first use.
  const prepareAppend = () =>
    db
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
        // Serialised here: a NULL detail must stay SQL NULL, not the text "null".
        detail: sql`${p("detail")}`,
      })
      .prepare();
  // One group commit (./tx.ts) per batch, made on first use (the table
  // exists only after migrations).
  let appendAll: ((events: AuditEvent[]) => Settled<void>[]) | undefined;
  return {
    async appendAudits(events) {
      if (!appendAll) {
        const append = prepareAppend();
        appendAll = groupCommit(db.$client, (event: AuditEvent) => {
          append.run({
            ...event,
            detail: event.detail === null ? null : JSON.stringify(event.detail),
          });
        });
      }
      return appendAll(events);
    },
    async listAudit(f) {
      return db
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
        .limit(f.limit)
        .all()
        .map(toAudit);
    },
    async pruneAudit(before, batch) {
      // In batches (the caller loops), so other writers get the lock between them.
      const doomed = db
        .select({ id: auditEvents.id })
        .from(auditEvents)
        .where(lt(auditEvents.at, before))
        .limit(batch);
      return db
        .delete(auditEvents)
        .where(inArray(auditEvents.id, doomed))
        .returning({ id: auditEvents.id })
        .all().length;
    },
  };
}
