/**
 * The mail queue on PostgreSQL. A claim is one UPDATE whose subquery picks
 * due rows `FOR UPDATE SKIP LOCKED`: daemons claiming at the same moment
 * each take different rows without waiting for one another, and the lease
 * (`claimed_until`) keeps a claimed row away from everyone else afterwards.
 */
import { and, count, desc, eq, inArray, isNull, lt, lte, or, sql } from "drizzle-orm";
import type { OutboxRecord, OutboxStore } from "../../core/ports.ts";
import type { PgDb } from "../connect.ts";
import { outbox } from "../schema/pg.ts";

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

export function createPgOutboxStore(db: PgDb): OutboxStore {
  return {
    async claimOutbox(now, leaseUntil, limit) {
      const due = db
        .select({ id: outbox.id })
        .from(outbox)
        .where(claimable(now))
        .orderBy(outbox.nextAttemptAt)
        .limit(limit)
        .for("update", { skipLocked: true });
      const rows = await db
        .update(outbox)
        .set({ claimedUntil: leaseUntil, attempts: sql`${outbox.attempts} + 1` })
        .where(and(inArray(outbox.id, due), claimable(now)))
        .returning();
      return rows.sort(byDue);
    },

    async markOutboxSent(id, attempts, now) {
      const rows = await db
        .update(outbox)
        .set({ status: "sent", sentAt: now, claimedUntil: null, lastError: null })
        .where(stillHeld(id, attempts))
        .returning({ id: outbox.id });
      return rows.length > 0;
    },

    async markOutboxFailed(id, attempts, f) {
      const rows = await db
        .update(outbox)
        .set({
          status: f.final ? "failed" : "pending",
          nextAttemptAt: f.nextAttemptAt,
          claimedUntil: null,
          lastError: f.error,
        })
        .where(stillHeld(id, attempts))
        .returning({ id: outbox.id });
      return rows.length > 0;
    },

    async listOutbox(f) {
      return db
        .select()
        .from(outbox)
        .where(f.status ? eq(outbox.status, f.status) : undefined)
        .orderBy(desc(outbox.id))
        .limit(f.limit);
    },

    async countOutbox() {
      const rows = await db
        .select({ status: outbox.status, n: count() })
        .from(outbox)
        .where(inArray(outbox.status, ["pending", "failed"]))
        .groupBy(outbox.status);
      const of = (s: string) => Number(rows.find((r) => r.status === s)?.n ?? 0);
      return { pending: of("pending"), failed: of("failed") };
    },

    async retryOutbox(now, ids) {
      const rows = await db
        .update(outbox)
        .set({ status: "pending", nextAttemptAt: now, claimedUntil: null })
        .where(
          and(
            ids ? inArray(outbox.id, ids) : eq(outbox.status, "failed"),
            inArray(outbox.status, ["pending", "failed"]),
            or(isNull(outbox.claimedUntil), lte(outbox.claimedUntil, now)),
          ),
        )
        .returning({ id: outbox.id });
      return rows.length;
    },

    async pruneOutbox(before, batch) {
      const old = db
        .select({ id: outbox.id })
        .from(outbox)
        .where(and(eq(outbox.status, "sent"), lt(outbox.sentAt, before)))
        .limit(batch);
      const rows = await db
        .delete(outbox)
        .where(inArray(outbox.id, old))
        .returning({ id: outbox.id });
      return rows.length;
    },
  };
}
