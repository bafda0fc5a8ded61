/**
 * The outbox worker's own loop and housekeeping, in process with the real
 * container and a real SMTP server: start → a queued mail is delivered
 * without anyone draining, a local insert wakes the idle loop, stop returns;
 * a row whose sealed message cannot be opened is given up; sent rows are
 * pruned after SENT_RETENTION_DAYS.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SENT_RETENTION_DAYS } from "../../src/core/outbox.ts";
import { DIALECTS } from "../helpers/databases.ts";
import {
  createTestApp,
  registerUser,
  type TestApp,
  uniqueEmail,
} from "../helpers/harness.ts";
import { post } from "../helpers/http.ts";
import { startSmtp, type TestSmtp } from "../helpers/smtp.ts";

for (const dialect of DIALECTS) {
  describe(`outbox worker [${dialect}]`, () => {
    let smtp: TestSmtp;
    let app: TestApp;
    beforeAll(async () => {
      smtp = await startSmtp();
      app = await createTestApp(dialect, { SMTP_URL: smtp.url });
    });
    afterAll(async () => {
      await app?.close();
      await smtp?.close();
    });

    test("started, it delivers what is queued, woken by the insert; stop ends the loop", async () => {
      const worker = app.container.outbox;
      worker.start();
      worker.start(); // idempotent
      try {
        const reg = await registerUser(app);
        expect(
          (await post(app, "/auth/password/forgot", { email: reg.email })).status,
        ).toBe(202);
        const mails = await smtp.waitFor(1);
        expect(mails.map((m) => m.to[0])).toEqual([reg.email]);
      } finally {
        await worker.stop();
      }
      // Stopped: a new mail stays queued until someone delivers it.
      const other = await registerUser(app);
      await post(app, "/auth/password/forgot", { email: other.email });
      expect(await worker.depth()).toEqual({ pending: 1, failed: 0 });
      expect(await worker.drain()).toBe(1);
      expect(smtp.mails.map((m) => m.to[0])).toContain(other.email);
    });

    test("a message that cannot be opened (another KEY_ENCRYPTION_KEY) is given up", async () => {
      const store = app.container.store;
      const user = await app.container.userAdmin.create(
        { email: uniqueEmail("sealed") },
        { actorId: "cli" },
      );
      const now = app.clock.now();
      await store.issueEmailToken({
        token: {
          userId: user.id,
          kind: "verify",
          tokenHash: `h-${user.id}`,
          createdAt: now,
          expiresAt: new Date(now.getTime() + 60_000),
        },
        mail: {
          id: Bun.randomUUIDv7(),
          kind: "verify",
          recipient: user.email,
          payloadSealed: "c2VhbGVkIHdpdGggYW5vdGhlciBrZXkgLSBub3QgdGhpcyBvbmUh",
          status: "pending",
          attempts: 0,
          nextAttemptAt: now,
          claimedUntil: null,
          lastError: null,
          createdAt: now,
          sentAt: null,
        },
      });
      const before = smtp.mails.length;
      expect(await app.container.outbox.drain()).toBe(1);
      expect(smtp.mails.length).toBe(before);
      const [failed] = await app.container.outbox.list({ status: "failed", limit: 1 });
      expect(failed).toMatchObject({ recipient: user.email, status: "failed" });
      expect(failed?.lastError).toMatch(/cannot be opened/);
      expect(await app.container.outbox.retry()).toBe(1);
      await app.container.outbox.drain();
    });

    test(`sent mail is pruned after ${SENT_RETENTION_DAYS} days`, async () => {
      const sent = await app.container.outbox.list({ status: "sent", limit: 100 });
      expect(sent.length).toBeGreaterThan(0);
      expect(await app.container.outbox.prune()).toBe(0);
      app.clock.advance(SENT_RETENTION_DAYS * 86_400_000 + 1000);
      expect(await app.container.outbox.prune()).toBe(sent.length);
      expect(await app.container.outbox.list({ status: "sent", limit: 100 })).toEqual(
        [],
      );
    });
  });
}
