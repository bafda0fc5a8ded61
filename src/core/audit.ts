/**
 * The audit log: every change to an account, a session or a key, and every
 * login attempt, with who did it and from where. Details never hold secrets.
 */
import type { Actor, AuditStore, Clock } from "./ports.ts";

export interface AuditEntry {
  userId?: string | null;
  outcome?: "success" | "failure";
  detail?: Record<string, unknown>;
}

/** Returns a function that appends one event; the core's only way to audit. */
export function createAuditor(store: AuditStore, clock: Clock, newId: () => string) {
  return (actor: Actor, action: string, entry: AuditEntry = {}): Promise<void> =>
    store.appendAudit({
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
    });
}

export type Auditor = ReturnType<typeof createAuditor>;
