/**
 * Mail delivered by the real daemon's own outbox worker (`bun src/main.ts`)
 * to a real SMTP server in this process: the reset link works over HTTP; an
 * SMTP outage never slows a request and loses nothing; a daemon killed with
 * mail queued delivers it after a restart; and two daemons on one PostgreSQL
 * deliver 50 queued mails exactly once between them.
 */
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config.ts";
import { createContainer } from "../../src/container.ts";
import { createLogger } from "../../src/infra/logger.ts";
import { postJson, registerOver } from "../helpers/daemon-http.ts";
import {
  createPgDatabase,
  DIALECTS,
  PG_URL,
  type TestDatabase,
} from "../helpers/databases.ts";
import { TEST_KEK, uniqueEmail } from "../helpers/harness.ts";
import { startSmtp, type TestSmtp, tokenOf } from "../helpers/smtp.ts";
import { type Daemon, startDaemon } from "./daemon-process.ts";

// Daemons, databases and an SMTP server on a shared 2-core machine.
setDefaultTimeout(300_000);

const NEW_PASSWORD = "a brand new passphrase 42";

for (const dialect of DIALECTS) {
  describe(`the daemon delivers mail [${dialect}]`, () => {
    let dir: string | undefined;
    let pg: TestDatabase | undefined;
    let smtp: TestSmtp | undefined;
    let daemons: Daemon[] = [];

    afterEach(async () => {
      for (const d of daemons) if (d.proc.exitCode === null) d.proc.kill("SIGKILL");
      await Promise.all(daemons.map((d) => d.proc.exited));
      daemons = [];
      await smtp?.close();
      await pg?.drop();
      pg = undefined;
      if (dir) rmSync(dir, { recursive: true, force: true });
      dir = undefined;
    });

    async function setup(): Promise<Record<string, string>> {
      smtp = await startSmtp();
      dir = mkdtempSync(join(tmpdir(), "authd-mail-"));
      const env: Record<string, string> = {
        DATABASE_URL: `sqlite:${join(dir, "auth.db")}`,
        KEY_ENCRYPTION_KEY: TEST_KEK,
        ARGON2_MEMORY_KIB: "1024",
        ARGON2_TIME_COST: "1",
        LOG_LEVEL: "info",
        ISSUER: "http://authd.e2e",
        PUBLIC_URL: "https://accounts.example.com",
        SMTP_URL: smtp.url,
        OUTBOX_MAX_BACKOFF: "1",
      };
      if (dialect === "pg") {
        pg = await createPgDatabase();
        env.DATABASE_URL = pg.url;
      }
      return env;
    }

    test("forgot → mail → reset over HTTP; SMTP down answers 202 at once and delivers once back", async () => {
      const env = await setup();
      const daemon = await startDaemon({ env });
      daemons.push(daemon);
      const reg = await registerOver(daemon.url);
      const res = await postJson(daemon.url, "/auth/password/forgot", {
        email: reg.email,
      });
      expect(res.status).toBe(202);
      const [mail] = (await smtp?.waitFor(1)) ?? [];
      if (!mail) throw new Error("no mail");
      expect(mail.text).toContain("https://accounts.example.com/reset-password?token=");
      const reset = await postJson(daemon.url, "/auth/password/reset", {
        token: tokenOf(mail),
        new_password: NEW_PASSWORD,
      });
      expect(reset.status).toBe(204);
      const login = await postJson(daemon.url, "/auth/login", {
        email: reg.email,
        password: NEW_PASSWORD,
      });
      expect(login.status).toBe(200);

      // SMTP goes away: requests still answer at once, nothing is lost.
      await smtp?.down();
      const other = await registerOver(daemon.url);
      const down = await postJson(daemon.url, "/auth/password/forgot", {
        email: other.email,
      });
      expect(down.status).toBe(202);
      // The request made no SMTP call (tests/http/email-flows.test.ts counts the
      // server's connections); here: the answer came while SMTP was down.
      await daemon.waitForLine((l) => l.msg === "mail not delivered yet; will retry");
      await smtp?.up();
      const mails = (await smtp?.waitFor(2)) ?? [];
      expect(mails.map((m) => m.to[0])).toEqual([reg.email, other.email]);
      // The log holds neither token.
      const logs = JSON.stringify(daemon.lines);
      for (const m of mails) expect(logs).not.toContain(tokenOf(m));
      expect(await daemon.stop()).toBe(0);
      expect(daemon.lines.at(-1)).toMatchObject({ msg: "stopped" });
    });

    test("a daemon killed with mail queued: the next daemon delivers it", async () => {
      const env = await setup();
      const first = await startDaemon({ env });
      daemons.push(first);
      await smtp?.down();
      const users = [await registerOver(first.url), await registerOver(first.url)];
      for (const u of users) {
        const res = await postJson(first.url, "/auth/password/forgot", {
          email: u.email,
        });
        expect(res.status).toBe(202);
      }
      await first.waitForLine((l) => l.msg === "mail not delivered yet; will retry");
      first.proc.kill("SIGKILL");
      await first.exited();
      expect(smtp?.mails).toEqual([]);

      await smtp?.up();
      const second = await startDaemon({ env });
      daemons.push(second);
      // The kill may land while the first daemon held a claim on a mail: that
      // one waits for its lease (60 s) to end, then goes out. Nothing is lost.
      const mails = (await smtp?.waitFor(2, 150_000)) ?? [];
      expect(mails.map((m) => m.to[0]).sort()).toEqual(
        users.map((u) => u.email).sort(),
      );
      for (const [i, m] of mails.entries()) {
        const res = await postJson(second.url, "/auth/password/reset", {
          token: tokenOf(m),
          new_password: `${NEW_PASSWORD} ${i}`,
        });
        expect(res.status).toBe(204);
      }
      expect(await second.stop()).toBe(0);
    });
  });
}

describe.skipIf(!PG_URL)("two daemons on one PostgreSQL [pg]", () => {
  let pg: TestDatabase | undefined;
  let smtp: TestSmtp | undefined;
  let daemons: Daemon[] = [];

  afterEach(async () => {
    for (const d of daemons) if (d.proc.exitCode === null) d.proc.kill("SIGKILL");
    await Promise.all(daemons.map((d) => d.proc.exited));
    daemons = [];
    await smtp?.close();
    await pg?.drop();
  });

  test("50 queued mails: 50 deliveries, none twice, shared between the daemons", async () => {
    smtp = await startSmtp();
    pg = await createPgDatabase();
    const env: Record<string, string> = {
      DATABASE_URL: pg.url,
      KEY_ENCRYPTION_KEY: TEST_KEK,
      ARGON2_MEMORY_KIB: "1024",
      ARGON2_TIME_COST: "1",
      LOG_LEVEL: "info",
      ISSUER: "http://authd.e2e",
      SMTP_URL: smtp.url,
      OUTBOX_MAX_BACKOFF: "1",
    };
    const queuer = await createContainer(
      loadConfig({ ...env, DB_TIMEOUT_MS: "60000" }),
      {
        logger: createLogger("silent"),
      },
    );
    await queuer.prepare({ migrate: true });
    const emails = Array.from({ length: 50 }, () => uniqueEmail("bulk"));
    for (const email of emails) {
      await queuer.userAdmin.create({ email }, { actorId: "cli" });
    }
    // Both workers poll while the 50 mails are queued, so their claims race.
    daemons = await Promise.all([startDaemon({ env }), startDaemon({ env })]);
    for (const email of emails) {
      await queuer.emailFlows.forgotPassword(email, { actorId: null });
    }
    const mails = await smtp.waitFor(50);
    // Give a duplicate the chance to show: wait until the queue is empty.
    for (;;) {
      const depth = await queuer.outbox.depth();
      if (depth.pending === 0) break;
      await Bun.sleep(50);
    }
    const sent = await queuer.outbox.list({ status: "sent", limit: 100 });
    expect(sent).toHaveLength(50);
    expect(mails).toHaveLength(50);
    const recipients = mails.map((m) => m.to[0]);
    expect(new Set(recipients).size).toBe(50);
    expect(recipients.sort()).toEqual([...emails].sort());
    // Each row was claimed once, and the daemons' logs account for every send.
    expect(sent.every((r) => r.attempts === 1)).toBe(true);
    // Logs are buffered: a clean stop writes them all out.
    expect(await Promise.all(daemons.map((d) => d.stop()))).toEqual([0, 0]);
    const perDaemon = daemons.map(
      (d) => d.lines.filter((l) => l.msg === "mail sent").length,
    );
    expect(perDaemon.reduce((a, b) => a + b, 0)).toBe(50);
    await queuer.close();
  });
});
