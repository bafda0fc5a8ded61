/**
 * The EmailTokenStore and OutboxStore contracts, run against every dialect:
 * what core/email-flows.ts and core/outbox.ts rely on — newest-only tokens
 * spent once, a reset token that dies with the password, and claims that
 * never hand one row to two workers.
 */
import { describe, expect, test } from "bun:test";
import type { IssuedMail, OutboxRecord, UserRecord } from "../../src/core/ports.ts";
import { DIALECTS } from "../helpers/databases.ts";
import { useMigratedStore } from "../helpers/store.ts";

const T0 = new Date("2026-01-01T00:00:00.000Z");
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

let seq = 0;
const unique = (prefix: string) => `${prefix}-${String(++seq).padStart(5, "0")}`;

function userRecord(): UserRecord {
  const id = unique("u");
  return {
    id,
    email: `${id}@example.com`,
    emailVerified: false,
    name: null,
    roles: ["user"],
    disabled: false,
    passwordHash: "old-hash",
    createdAt: T0,
    updatedAt: T0,
  };
}

function mailRow(overrides: Partial<OutboxRecord> = {}): OutboxRecord {
  return {
    id: unique("m"),
    kind: "reset",
    recipient: "someone@example.com",
    payloadSealed: "sealed",
    status: "pending",
    attempts: 0,
    nextAttemptAt: T0,
    claimedUntil: null,
    lastError: null,
    createdAt: T0,
    sentAt: null,
    ...overrides,
  };
}

function issued(
  userId: string,
  kind: "reset" | "verify",
  hash: string,
  expires = at(1800),
): IssuedMail {
  return {
    token: { userId, kind, tokenHash: hash, createdAt: T0, expiresAt: expires },
    mail: mailRow({ kind }),
  };
}

for (const dialect of DIALECTS) {
  describe(`EmailTokenStore contract [${dialect}]`, () => {
    const { store } = useMigratedStore(dialect);

    async function newUser() {
      const u = userRecord();
      await store.insertUser(u);
      return u;
    }

    test("issue stores the token and queues its mail; a new one replaces the old", async () => {
      const u = await newUser();
      const first = issued(u.id, "reset", unique("h"));
      await store.issueEmailToken(first);
      expect(
        (await store.findEmailTokenUser("reset", first.token.tokenHash, T0))?.id,
      ).toBe(u.id);
      expect(
        await store.findEmailTokenUser("verify", first.token.tokenHash, T0),
      ).toBeNull();
      const second = issued(u.id, "reset", unique("h"));
      await store.issueEmailToken(second);
      expect(
        await store.findEmailTokenUser("reset", first.token.tokenHash, T0),
      ).toBeNull();
      expect(
        (await store.findEmailTokenUser("reset", second.token.tokenHash, T0))?.id,
      ).toBe(u.id);
      const queued = await store.listOutbox({ limit: 100 });
      expect(queued.map((r) => r.id)).toContain(first.mail.id);
      expect(queued.map((r) => r.id)).toContain(second.mail.id);
    });

    test("a reset token is spent once, with the password, and verifies the address", async () => {
      const u = await newUser();
      const i = issued(u.id, "reset", unique("h"));
      await store.issueEmailToken(i);
      expect(await store.verifyEmailWithToken(i.token.tokenHash, at(1))).toBeNull();
      const [a, b] = await Promise.all([
        store.resetPasswordWithToken(i.token.tokenHash, "new-hash-a", at(1)),
        store.resetPasswordWithToken(i.token.tokenHash, "new-hash-b", at(1)),
      ]);
      const winners = [a, b].filter((x) => x !== null);
      expect(winners).toHaveLength(1);
      const stored = await store.findUserById(u.id);
      expect(stored?.passwordHash).toBe(winners[0]?.passwordHash ?? "missing");
      expect(stored?.emailVerified).toBe(true);
      expect(stored?.updatedAt).toEqual(at(1));
      expect(
        await store.findEmailTokenUser("reset", i.token.tokenHash, at(1)),
      ).toBeNull();
    });

    test("an expired token is not live, exactly at its expiry", async () => {
      const u = await newUser();
      const i = issued(u.id, "verify", unique("h"), at(60));
      await store.issueEmailToken(i);
      expect(
        await store.findEmailTokenUser("verify", i.token.tokenHash, at(59)),
      ).not.toBeNull();
      expect(await store.verifyEmailWithToken(i.token.tokenHash, at(60))).toBeNull();
      expect(await store.verifyEmailWithToken(i.token.tokenHash, at(59))).toMatchObject(
        {
          id: u.id,
          emailVerified: true,
        },
      );
      expect(await store.verifyEmailWithToken(i.token.tokenHash, at(59))).toBeNull();
    });

    test("a new password hash by any updateUser kills the reset token, not the verify one", async () => {
      const u = await newUser();
      const reset = issued(u.id, "reset", unique("h"));
      const verify = issued(u.id, "verify", unique("h"));
      await store.issueEmailToken(reset);
      await store.issueEmailToken(verify);
      await store.updateUser(u.id, { name: "Ada" }, at(1));
      expect(
        await store.findEmailTokenUser("reset", reset.token.tokenHash, at(1)),
      ).not.toBeNull();
      await store.updateUser(u.id, { passwordHash: "changed" }, at(2));
      expect(
        await store.findEmailTokenUser("reset", reset.token.tokenHash, at(2)),
      ).toBeNull();
      expect(
        await store.resetPasswordWithToken(reset.token.tokenHash, "x", at(2)),
      ).toBeNull();
      expect(
        await store.findEmailTokenUser("verify", verify.token.tokenHash, at(2)),
      ).not.toBeNull();
    });

    test("deleting the user deletes its tokens", async () => {
      const u = await newUser();
      const i = issued(u.id, "reset", unique("h"));
      await store.issueEmailToken(i);
      await store.deleteUserKeepingAdmin(u.id);
      expect(await store.findEmailTokenUser("reset", i.token.tokenHash, T0)).toBeNull();
    });
  });

  describe(`OutboxStore contract [${dialect}]`, () => {
    const { store } = useMigratedStore(dialect);

    /** Marks every row sent, so each test starts with an empty queue. */
    async function settleAll() {
      for (;;) {
        const rows = await store.claimOutbox(at(10_000_000), at(10_000_060), 100);
        if (rows.length === 0) break;
        for (const r of rows) await store.markOutboxSent(r.id, r.attempts, at(0));
      }
      await store.retryOutbox(at(10_000_000));
      for (const r of await store.claimOutbox(at(10_000_000), at(10_000_060), 100))
        await store.markOutboxSent(r.id, r.attempts, at(0));
    }

    async function queue(...rows: OutboxRecord[]) {
      const u = userRecord();
      await store.insertUser(u);
      for (const row of rows) {
        await store.issueEmailToken({
          token: {
            userId: u.id,
            kind: "verify",
            tokenHash: unique("h"),
            createdAt: T0,
            expiresAt: at(60),
          },
          mail: row,
        });
      }
    }

    test("claims only due rows, oldest due first, and holds them for the lease", async () => {
      await settleAll();
      const later = mailRow({ nextAttemptAt: at(30) });
      const due = mailRow({ nextAttemptAt: at(5) });
      const first = mailRow({ nextAttemptAt: at(1) });
      await queue(later, due, first);
      const claimed = await store.claimOutbox(at(10), at(70), 10);
      expect(claimed.map((r) => r.id)).toEqual([first.id, due.id]);
      expect(claimed.map((r) => [r.attempts, r.claimedUntil])).toEqual([
        [1, at(70)],
        [1, at(70)],
      ]);
      // Held: nobody else gets them before the lease ends.
      expect((await store.claimOutbox(at(69), at(129), 10)).map((r) => r.id)).toEqual([
        later.id,
      ]);
      // A lost claim: after the lease anyone may claim again, and the old
      // holder can no longer settle the row (attempts fences it).
      const again = await store.claimOutbox(at(70), at(130), 10);
      expect(again.map((r) => [r.id, r.attempts])).toEqual([
        [first.id, 2],
        [due.id, 2],
      ]);
      expect(await store.markOutboxSent(first.id, 1, at(71))).toBe(false);
      expect(await store.markOutboxSent(first.id, 2, at(71))).toBe(true);
      expect(await store.markOutboxSent(first.id, 2, at(72))).toBe(false);
      expect(
        await store.markOutboxFailed(due.id, 2, {
          error: "ECONNREFUSED",
          nextAttemptAt: at(75),
          final: false,
        }),
      ).toBe(true);
      expect(await store.claimOutbox(at(74), at(134), 10)).toEqual([]);
      const [retried] = await store.claimOutbox(at(75), at(135), 10);
      expect(retried).toMatchObject({
        id: due.id,
        attempts: 3,
        lastError: "ECONNREFUSED",
      });
      expect(await store.countOutbox()).toEqual({ pending: 2, failed: 0 });
    });

    test("concurrent claims never return one row twice", async () => {
      await settleAll();
      const rows = Array.from({ length: 40 }, () => mailRow());
      await queue(...rows);
      const claims = await Promise.all(
        Array.from({ length: 8 }, () => store.claimOutbox(at(1), at(61), 7)),
      );
      const ids = claims.flat().map((r) => r.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.length).toBe(40);
    });

    test("failed rows: counted, listed, retried (only failed, or by id), pruned once sent", async () => {
      await settleAll();
      while ((await store.pruneOutbox(at(10_000_000), 1000)) > 0) {}
      const bad = mailRow();
      const waiting = mailRow();
      await queue(bad, waiting);
      const claimed = await store.claimOutbox(at(1), at(61), 10);
      expect(claimed).toHaveLength(2);
      await store.markOutboxFailed(bad.id, 1, {
        error: "550 no such user",
        nextAttemptAt: at(2),
        final: true,
      });
      await store.markOutboxFailed(waiting.id, 1, {
        error: "ECONNREFUSED",
        nextAttemptAt: at(500),
        final: false,
      });
      expect(await store.countOutbox()).toEqual({ pending: 1, failed: 1 });
      const failed = await store.listOutbox({ status: "failed", limit: 10 });
      expect(failed.map((r) => [r.id, r.lastError])).toEqual([
        [bad.id, "550 no such user"],
      ]);
      expect(await store.claimOutbox(at(100), at(160), 10)).toEqual([]);
      expect(await store.retryOutbox(at(100))).toBe(1);
      expect(await store.retryOutbox(at(100), [waiting.id])).toBe(1);
      const now = await store.claimOutbox(at(100), at(160), 10);
      expect(now.map((r) => r.id).sort()).toEqual([bad.id, waiting.id].sort());
      // A claimed row is not pulled from its holder by a retry.
      expect(await store.retryOutbox(at(101), [bad.id])).toBe(0);
      for (const r of now) await store.markOutboxSent(r.id, r.attempts, at(100));
      expect(await store.pruneOutbox(at(100), 10)).toBe(0);
      expect(await store.pruneOutbox(at(101), 1)).toBe(1);
      expect(await store.pruneOutbox(at(101), 10)).toBeGreaterThanOrEqual(1);
      expect((await store.listOutbox({ limit: 100 })).map((r) => r.id)).not.toContain(
        bad.id,
      );
    });
  });
}
