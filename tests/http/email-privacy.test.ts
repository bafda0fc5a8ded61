/**
 * What the email flows must not give away: whether an address has an
 * account (forgot runs the same steps for both, shown with a counting
 * wrapper around the real store, as tests/http/login.test.ts does for the
 * hasher), the token in the database file (SQLite's file and WAL are
 * grepped), and the token in the logs when SMTP_URL is unset.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tokenHash } from "../../src/core/crypto.ts";
import { createEmailFlows } from "../../src/core/email-flows.ts";
import type { Limits } from "../../src/core/limits.ts";
import type { PasswordPolicy } from "../../src/core/password-policy.ts";
import { DIALECTS } from "../helpers/databases.ts";
import {
  createTestApp,
  registerUser,
  type TestApp,
  uniqueEmail,
} from "../helpers/harness.ts";
import { CLI, loginOk, post } from "../helpers/http.ts";
import { startSmtp, type TestSmtp, tokenOf } from "../helpers/smtp.ts";

/** Wraps every method of `target`, recording its name in `calls`. */
function recording<T extends object>(target: T, calls: string[]): T {
  return new Proxy(target, {
    get(t, prop, receiver) {
      const value = Reflect.get(t, prop, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return value.apply(t, args);
      };
    },
  });
}

for (const dialect of DIALECTS) {
  describe(`forgot: the same steps for known and unknown addresses [${dialect}]`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(dialect, { MAIL_PER_ADDRESS_PER_HOUR: "1" });
    });
    afterAll(() => app?.close());

    /** The storage calls one forgot makes, in order. */
    async function stepsOf(email: string): Promise<string[]> {
      const calls: string[] = [];
      const store = recording(app.container.store, calls);
      const limits = recording(app.container.limits, calls) as Limits;
      const c = app.container;
      const flows = createEmailFlows({
        users: store,
        tokens: store,
        sessions: store,
        audit: store,
        hasher: recording(
          { hash: async () => "", verify: async () => false, needsRehash: () => false },
          calls,
        ),
        policy: { screen: async () => {} } as unknown as PasswordPolicy,
        clock: c.clock,
        newId: () => Bun.randomUUIDv7(),
        limits,
        mailKey: () => new Uint8Array(32),
        onQueued: () => calls.push("onQueued"),
        settings: {
          publicUrl: "https://id.example.com",
          productName: "authd",
          resetTtl: 1800,
          verifyTtl: 86400,
        },
      });
      await flows.forgotPassword(email, { ip: "203.0.113.9" });
      return calls;
    }

    test("a known address differs from an unknown one only by the insert that queues the mail", async () => {
      const known = await registerUser(app);
      const disabled = await registerUser(app);
      await app.container.userAdmin.setDisabled(disabled.email, true, CLI);
      const spent = await registerUser(app);
      await stepsOf(spent.email); // the budget of 1 is now used

      const steps = {
        known: await stepsOf(known.email),
        unknown: await stepsOf(uniqueEmail("nobody")),
        disabled: await stepsOf(disabled.email),
        overBudget: await stepsOf(spent.email),
      };
      const prefix = ["allowMail", "findUserByEmail"];
      expect(steps.known).toEqual([
        ...prefix,
        "issueEmailToken",
        "appendAudits",
        "onQueued",
      ]);
      for (const other of [steps.unknown, steps.disabled, steps.overBudget]) {
        expect(other).toEqual([...prefix, "appendAudits", "onQueued"]);
      }
      // No password hashing and no mail sending in any case.
      expect(Object.values(steps).flat()).not.toContain("hash");
      expect(Object.values(steps).flat()).not.toContain("send");
    });
  });
}

describe("the SQLite file holds no raw token (SQLite only)", () => {
  let dir: string;
  let smtp: TestSmtp;
  let app: TestApp;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "authd-mail-"));
    smtp = await startSmtp();
    app = await createTestApp("sqlite", {
      DATABASE_URL: `sqlite:${join(dir, "auth.db")}`,
      SMTP_URL: smtp.url,
    });
  });
  afterAll(async () => {
    await app?.close();
    await smtp?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("grep the database and its WAL for the mailed tokens: only their hashes are there", async () => {
    const reg = await registerUser(app);
    await post(app, "/auth/password/forgot", { email: reg.email });
    await app.request("POST", "/auth/email/verify/request", {
      token: reg.access_token,
    });
    await app.container.outbox.drain();
    const tokens = smtp.mails.map(tokenOf);
    expect(tokens).toHaveLength(2);
    const files = readdirSync(dir).filter((f) => f.startsWith("auth.db"));
    expect(files).toContain("auth.db-wal");
    const bytes = Buffer.concat(files.map((f) => readFileSync(join(dir, f))));
    const content = bytes.toString("latin1");
    for (const token of tokens) {
      expect(content).not.toContain(token);
      // The grep sees the rows: each token's hash is stored.
      expect(content).toContain(tokenHash(token));
    }
    expect(content).not.toContain("reset-password?token=");
    expect(content).not.toContain("verify-email?token=");
    // The tokens work (they are the real ones).
    expect((await post(app, "/auth/email/verify", { token: tokens[1] })).status).toBe(
      204,
    );
  });
});

describe("SMTP_URL unset (development; on SQLite, the log is the point)", () => {
  test("at info the log names the mail but holds no token; at debug the text is logged", async () => {
    const quiet = await createTestApp("sqlite", { LOG_LEVEL: "info" });
    const verbose = await createTestApp("sqlite", { LOG_LEVEL: "debug" });
    try {
      for (const app of [quiet, verbose]) {
        const reg = await registerUser(app);
        expect(
          (await post(app, "/auth/password/forgot", { email: reg.email })).status,
        ).toBe(202);
        expect(await app.container.outbox.drain()).toBe(1);
        const line = app.logs.find((l) => String(l.msg).startsWith("mail not sent"));
        expect(line).toMatchObject({ level: "info", to: reg.email });
        expect(String(line?.subject)).toContain("Reset your authd password");
      }
      expect(quiet.rawLogs()).not.toContain("token=");
      const text = verbose.logs.find((l) => l.msg === "mail text (development)")?.text;
      const token = /token=([A-Za-z0-9_-]+)/.exec(String(text))?.[1] ?? "";
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const email = String(
        verbose.logs.find((l) => l.msg === "mail text (development)")?.to,
      );
      const ok = await post(verbose, "/auth/password/reset", {
        token,
        new_password: "a brand new passphrase 42",
      });
      expect(ok.status).toBe(204);
      await loginOk(verbose, email, "a brand new passphrase 42");
    } finally {
      await quiet.close();
      await verbose.close();
    }
  });
});
