/**
 * The audit store's time filter and pruning, on every dialect, on a database
 * of its own (the paging and filters are in store.contract.test.ts).
 */
import { describe, expect, test } from "bun:test";
import type { AuditEvent } from "../../src/core/ports.ts";
import { DIALECTS } from "../helpers/databases.ts";
import { useMigratedStore } from "../helpers/store.ts";

const T0 = new Date("2026-01-01T00:00:00.000Z");
const day = (n: number) => new Date(T0.getTime() + n * 86_400_000);

let seq = 0;
const event = (at: Date, over: Partial<AuditEvent> = {}): AuditEvent => ({
  id: `ev-${String(++seq).padStart(6, "0")}`,
  at,
  action: "user.login",
  actorId: null,
  userId: "u-1",
  ip: null,
  userAgent: null,
  requestId: null,
  outcome: "success",
  detail: null,
  ...over,
});

for (const dialect of DIALECTS) {
  describe(`Audit store contract [${dialect}]`, () => {
    const { store } = useMigratedStore(dialect);

    const all = async () => (await store.listAudit({ limit: 10_000 })).map((e) => e.id);

    test("since keeps the events at or after that time, with the other filters", async () => {
      const events = [
        event(day(0)),
        event(day(1), { action: "user.disable" }),
        event(day(2)),
        event(day(3), { userId: "u-2" }),
      ];
      for (const e of events) await store.appendAudits([e]);
      const ids = (list: AuditEvent[]) => list.map((e) => e.id);
      const [e0, e1, e2, e3] = events.map((e) => e.id) as [
        string,
        string,
        string,
        string,
      ];
      expect(ids(await store.listAudit({ since: day(1), limit: 10 }))).toEqual([
        e3,
        e2,
        e1,
      ]);
      expect(
        ids(await store.listAudit({ since: day(1), userId: "u-1", limit: 10 })),
      ).toEqual([e2, e1]);
      expect(
        ids(await store.listAudit({ since: day(1), action: "user.login", limit: 10 })),
      ).toEqual([e3, e2]);
      expect(await store.listAudit({ since: day(4), limit: 10 })).toEqual([]);
      expect(ids(await store.listAudit({ since: day(0), limit: 10 }))).toContain(e0);
      // Paging backwards inside the window.
      const page1 = await store.listAudit({ since: day(1), limit: 2 });
      const page2 = await store.listAudit({
        since: day(1),
        limit: 2,
        beforeId: page1.at(-1)?.id ?? "",
      });
      expect(ids(page2)).toEqual([e1]);
    });

    test("pruneAudit deletes at most a batch of the events older than the cut-off", async () => {
      const old = Array.from({ length: 7 }, (_, i) => event(day(-100 - i)));
      const edge = event(day(-50));
      const recent = event(day(-10));
      for (const e of [...old, edge, recent]) await store.appendAudits([e]);
      const before = new Set(await all());

      expect(await store.pruneAudit(day(-50), 3)).toBe(3);
      expect(await store.pruneAudit(day(-50), 3)).toBe(3);
      expect(await store.pruneAudit(day(-50), 3)).toBe(1);
      expect(await store.pruneAudit(day(-50), 3)).toBe(0);

      const after = await all();
      for (const e of old) expect(after).not.toContain(e.id);
      // Exactly at the cut-off is not older than it.
      expect(after).toContain(edge.id);
      expect(after).toContain(recent.id);
      // Nothing else went.
      expect(after.sort()).toEqual(
        [...before].filter((id) => !old.some((e) => e.id === id)).sort(),
      );
    });

    test("appendAudits stores each event on its own: a refused one fails alone", async () => {
      const first = event(day(10), { action: "test.batch" });
      const again = { ...first, userId: "u-again" }; // the same id: refused
      const other = event(day(10), { action: "test.batch" });
      const outcomes = await store.appendAudits([first, again, other]);
      // PostgreSQL writes them side by side, so either holder of the id may
      // be the one refused; exactly one is.
      expect(outcomes.filter((o) => !o.ok)).toHaveLength(1);
      expect(outcomes[2]).toEqual({ ok: true, value: undefined });
      const stored = (await store.listAudit({ action: "test.batch", limit: 10 })).map(
        (e) => e.id,
      );
      expect(stored.sort()).toEqual([first.id, other.id].sort());
    });
  });
}
