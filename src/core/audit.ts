/**
 * The audit log: every change to an account, a session or a key, and every
 * login attempt, with who did it and from where. Details never hold secrets:
 * no password, token, hash or key material is ever passed to `audit`.
 */
import { type Defer, settledPerTurn } from "./per-turn.ts";
import type { Actor, AuditEvent, AuditStore, Clock } from "./ports.ts";

export interface AuditEntry {
  userId?: string | null;
  outcome?: "success" | "failure";
  detail?: Record<string, unknown>;
}

/** One audit event, built but not stored (for a store method that writes it with more). */
export function auditEvent(
  clock: Clock,
  newId: () => string,
  actor: Actor,
  action: string,
  entry: AuditEntry = {},
): AuditEvent {
  return {
    id: newId(),
    at: clock.now(),
    action,
    actorId: actor.actorId ?? null,
    userId: entry.userId ?? null,
    ip: actor.ip ?? null,
    userAgent: actor.userAgent ?? null,
    requestId: actor.requestId ?? null,
    outcome: entry.outcome ?? "success",
    detail: entry.detail ?? null,
  };
}

/**
 * Returns a function that appends one event; the core's only way to audit.
 * The events of one turn of the event loop are one store call (on SQLite one
 * transaction: group commit, core/per-turn.ts); each caller still learns
 * whether its own event was stored.
 */
export function createAuditor(
  store: AuditStore,
  clock: Clock,
  newId: () => string,
  defer?: Defer,
) {
  const append = settledPerTurn<AuditEvent, void>(
    (events) => store.appendAudits(events),
    defer,
  );
  return (actor: Actor, action: string, entry: AuditEntry = {}): Promise<void> =>
    append(auditEvent(clock, newId, actor, action, entry));
}

export type Auditor = ReturnType<typeof createAuditor>;

export interface AuditQuery {
  userId?: string;
  action?: string;
  /** Only events at or after this time. */
  since?: Date;
  limit: number;
  /** Keyset: events older than this id (ids are UUIDv7, time-ordered). */
  before?: string;
}

export interface AuditLogDeps {
  audit: AuditStore;
  clock: Clock;
  newId: () => string;
  /** AUDIT_RETENTION_DAYS: how long events are kept before `prune` deletes them. */
  retentionDays: number;
}

// Small enough that each delete is a short transaction, large enough that
// pruning a million events is a thousand round trips, not a million.
const PRUNE_BATCH = 1000;
const DAY_MS = 86_400_000;

/** Reading and pruning the audit log: `GET /audit` and `authctl audit …`. */
export function createAuditLog(deps: AuditLogDeps) {
  const audit = createAuditor(deps.audit, deps.clock, deps.newId);
  return {
    /** One page, newest first, with the id to continue before (null on the last). */
    async list(
      query: AuditQuery,
    ): Promise<{ items: AuditEvent[]; next: string | null }> {
      const rows = await deps.audit.listAudit({
        userId: query.userId,
        action: query.action,
        since: query.since,
        limit: query.limit + 1,
        beforeId: query.before,
      });
      const items = rows.slice(0, query.limit);
      const more = rows.length > query.limit;
      return { items, next: more ? (items.at(-1)?.id ?? null) : null };
    },

    /**
     * Deletes every event older than the retention period, in batches, and
     * records that it did (the prune itself is an event, kept like any other).
     */
    async prune(actor: Actor): Promise<{ deleted: number; before: Date }> {
      const before = new Date(deps.clock.now().getTime() - deps.retentionDays * DAY_MS);
      let deleted = 0;
      for (;;) {
        const n = await deps.audit.pruneAudit(before, PRUNE_BATCH);
        deleted += n;
        if (n < PRUNE_BATCH) break;
      }
      await audit(actor, "audit.prune", {
        detail: {
          deleted,
          before: before.toISOString(),
          retention_days: deps.retentionDays,
        },
      });
      return { deleted, before };
    },
  };
}

export type AuditLog = ReturnType<typeof createAuditLog>;
