/**
 * `authctl outbox list|retry` and doctor's outbox check, run as an operator
 * would, against mail the core queued and a real SMTP server that refused it.
 * Also: `authctl admin create` makes a verified account, so it can sign in
 * with REQUIRE_EMAIL_VERIFICATION on.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/config.ts";
import { type Container, createContainer } from "../../src/container.ts";
import { createLogger } from "../../src/infra/logger.ts";
import { DIALECTS } from "../helpers/databases.ts";
import { GOOD_PASSWORD, uniqueEmail } from "../helpers/harness.ts";
import { startSmtp, type TestSmtp } from "../helpers/smtp.ts";
import { type CliDatabase, createCliDatabase } from "./authctl-process.ts";

interface OutboxJson {
  id: string;
  kind: string;
  recipient: string;
  status: string;
  attempts: number;
  last_error: string | null;
}

interface DoctorJson {
  ok: boolean;
  checks: { check: string; ok: boolean; detail: string }[];
}

for (const dialect of DIALECTS) {
  describe(`authctl outbox [${dialect}]`, () => {
    let db: CliDatabase;
    let c: Container;
    let smtp: TestSmtp;
    let withSmtp: Container;

    beforeAll(async () => {
      db = await createCliDatabase(dialect);
      expect((await db.run(["migrate", "up"])).code).toBe(0);
      smtp = await startSmtp();
      c = await db.containerWith({});
      withSmtp = await mailingContainer(db, smtp.url);
    });
    afterAll(async () => {
      await withSmtp?.close();
      await db?.drop();
      await smtp?.close();
    });

    /** doctor --json (its exit code is 1 while any check fails, e.g. no keys yet). */
    const doctorJson = async () =>
      JSON.parse((await db.run(["doctor", "--json"])).stdout) as DoctorJson;

    test("list shows queued mail without its message; retry requeues failed mail; doctor counts them", async () => {
      const empty = await db.run(["outbox", "list"]);
      expect(empty).toEqual({ code: 0, stdout: "no mail\n", stderr: "" });

      const email = uniqueEmail("cli");
      await c.userAdmin.create({ email }, { actorId: "cli" });
      await c.emailFlows.forgotPassword(email, { actorId: null });
      const pending = await db.json<OutboxJson[]>(["outbox", "list"]);
      expect(pending.map((r) => [r.kind, r.recipient, r.status, r.attempts])).toEqual([
        ["reset", email, "pending", 0],
      ]);
      expect(Object.keys(pending[0] ?? {})).not.toContain("payload_sealed");

      // The relay refuses it for good: failed, and doctor says so. (The CLI's
      // containers have no SMTP_URL; a daemon-like one on the database sends.)
      smtp.refuseWith(550);
      await withSmtp.outbox.drain();
      smtp.refuseWith(null);
      const failed = await db.json<OutboxJson[]>([
        "outbox",
        "list",
        "--status",
        "failed",
      ]);
      expect(failed).toHaveLength(1);
      expect(failed[0]?.last_error).toMatch(/550/);
      const text = await db.run(["outbox", "list", "--status", "failed"]);
      expect(text.stdout).toMatch(/^ID\s+KIND\s+RECIPIENT\s+STATUS\s+ATTEMPTS/);
      expect(text.stdout).toContain(email);
      const doctor = await doctorJson();
      expect(doctor.ok).toBe(false);
      expect(doctor.checks.find((x) => x.check === "outbox")).toEqual({
        check: "outbox",
        ok: false,
        detail: "0 pending, 1 failed: see `authctl outbox list --status failed`",
      });
      const text2 = await db.run(["doctor"]);
      expect(text2.stdout).toMatch(/^FAIL\s+outbox\s+0 pending, 1 failed/m);

      const retried = await db.run(["outbox", "retry"]);
      expect(retried).toEqual({
        code: 0,
        stdout: "queued 1 mail(s) again\n",
        stderr: "",
      });
      expect(await c.outbox.depth()).toEqual({ pending: 1, failed: 0 });
      await withSmtp.outbox.drain();
      expect(smtp.mails.map((m) => m.to[0])).toEqual([email]);
      const sent = await db.json<OutboxJson[]>(["outbox", "list", "--status", "sent"]);
      expect(sent.map((r) => r.attempts)).toEqual([2]);
      const ok = await doctorJson();
      expect(ok.checks.find((x) => x.check === "outbox")?.detail).toBe(
        "0 pending, 0 failed",
      );
      expect(await db.json(["outbox", "retry"])).toEqual({ retried: 0 });
    });

    test("usage errors exit 2", async () => {
      const bad = await db.run(["outbox", "list", "--status", "lost"]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain("--status must be one of pending, sent, failed");
    });

    test("authctl admin create makes a verified account (REQUIRE_EMAIL_VERIFICATION)", async () => {
      const email = uniqueEmail("root");
      const created = await db.json<{ email_verified: boolean }>(
        ["admin", "create", "--email", email, "--password-stdin"],
        { stdin: `${GOOD_PASSWORD}\n` },
      );
      expect(created.email_verified).toBe(true);
      const user = await c.store.findUserByEmail(email);
      expect(user?.emailVerified).toBe(true);
    });
  });
}

/** A container on the CLI's database that sends through this SMTP server. */
async function mailingContainer(db: CliDatabase, smtpUrl: string): Promise<Container> {
  const base = (await db.container()).config;
  return await createContainer(
    loadConfig({
      DATABASE_URL: base.DATABASE_URL,
      KEY_ENCRYPTION_KEY: base.KEY_ENCRYPTION_KEY,
      SMTP_URL: smtpUrl,
      DB_TIMEOUT_MS: "60000",
    }),
    { logger: createLogger("silent") },
  );
}
