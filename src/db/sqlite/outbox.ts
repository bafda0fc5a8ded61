/**
 * The mail queue on SQLite. A claim is one UPDATE … WHERE id IN (SELECT …)
 * RETURNING: a single statement holds the write lock from its read to its
 * write, across processes too, so two workers never claim the same row.
 */
import { and, count, desc, eq, inArray, isNull, lt, lte, or, sql } from "drizzle-orm";
import type { OutboxRecord, OutboxStore } from "../../core/ports.ts";
import type { SqliteDb } from "../connect.ts";
import { outbox } from "../schema/sqlite.ts";

/** RETURNING has no order: the longest-waiting mail goes first. */
const byDue = (a: OutboxRecord, b: OutboxRecord) =>
  a.nextAttemptAt.getTime() - b.nextAttemptAt.getTime() || a.id.localeCompare(b.id);

/**
 * The row as this claim left it: still pending, and no later claim has
 * counted another attempt (the fencing that keeps a late worker from
 * marking a row another worker now holds).
 */
const stillHeld = (id: string, attempts: number) =>
  and(eq(outbox.id, id), eq(outbox.attempts, attempts), eq(outbox.status, "pending"));

/** Due and not held by a live claim. */
const claimable = (now: Date) =>
  and(
    eq(outbox.status, "pending"),
    lte(outbox.nextAttemptAt, now),
    or(isNull(outbox.claimedUntil), lte(outbox.claimedUntil, now)),
  );

export function createSqliteOutboxStore(db: SqliteDb): OutboxStore {
  return {
    async claimOutbox(now, leaseUntil, limit) {
      const due = db
        .select({ id: outbox.id })
        .from(outbox)
        .where(claimable(now))
        .orderBy(outbox.nextAttemptAt)
        .limit(limit);
      return db
        .update(outbox)
        .set({ claimedUntil: leaseUntil, attempts: sql`${outbox.attempts} + 1` })
        .where(and(inArray(outbox.id, due), claimable(now)))
        .returning()
        .all()
        .sort(byDue);
    },

    async markOutboxSent(id, attempts, now) {
      const rows = db
        .update(outbox)
        .set({ status: "sent", sentAt: now, claimedUntil: null, lastError: null })
        .where(stillHeld(id, attempts))
        .returning({ id: outbox.id })
        .all();
      return rows.length > 0;
    },

    async markOutboxFailed(id, attempts, f) {
      const rows = db
        .update(outbox)
        .set({
          status: f.final ? "failed" : "pending",
          nextAttemptAt: f.nextAttemptAt,
          claimedUntil: null,
          lastError: f.error,
        })
        .where(stillHeld(id, attempts))
        .returning({ id: outbox.id })
        .all();
      return rows.length > 0;
    },

    async listOutbox(f) {
      return db
        .select()
        .from(outbox)
        .where(f.status ? eq(outbox.status, f.status) : undefined)
        .orderBy(desc(outbox.id))
        .limit(f.limit)
        .all();
    },

    async countOutbox() {
      const rows = db
        .select({ status: outbox.status, n: count() })
        .from(outbox)
        .where(inArray(outbox.status, ["pending", "failed"]))
        .groupBy(outbox.status)
        .all();
      const of = (s: string) => rows.find((r) => r.status === s)?.n ?? 0;
      return { pending: of("pending"), failed: of("failed") };
    },

    async retryOutbox(now, ids) {
      const rows = db
        .update(outbox)
        .set({ status: "pending", nextAttemptAt: now, claimedUntil: null })
        .where(
          and(
            ids ? inArray(outbox.id, ids) : eq(outbox.status, "failed"),
            inArray(outbox.status, ["pending", "failed"]),
            or(isNull(outbox.claimedUntil), lte(outbox.claimedUntil, now)),
          ),
        )
        .returning({ id: outbox.id })
        .all();
      return rows.length;
    },

    async pruneOutbox(before, batch) {
      const old = db
        .select({ id: outbox.id })
        .from(outbox)
        .where(and(eq(outbox.status, "sent"), lt(outbox.sentAt, before)))
        .limit(batch);
      return db
        .delete(outbox)
        .where(inArray(outbox.id, old))
        .returning({ id: outbox.id })
        .all().length;
    },
  };
}
