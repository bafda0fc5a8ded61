/**
 * Password reset and email verification end to end in one process: the real
 * handler, the real stores on each dialect, the real outbox worker and
 * nodemailer, and a real SMTP server (smtp-server) on a random port. Only the
 * clock is fake. The worker is driven with `outbox.drain()` so each step is
 * deterministic; tests/e2e/mail.test.ts runs the daemon's own worker loop.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import * as pgSchema from "../../src/db/schema/pg.ts";
import * as sqliteSchema from "../../src/db/schema/sqlite.ts";
import { DIALECTS } from "../helpers/databases.ts";
import {
  createTestApp,
  GOOD_PASSWORD,
  registerUser,
  type TestApp,
  uniqueEmail,
} from "../helpers/harness.ts";
import {
  auditOf,
  CLI,
  expectProblem,
  expectValidation,
  liveSessionIds,
  login,
  loginOk,
  me,
  post,
  refresh,
} from "../helpers/http.ts";
import {
  type ReceivedMail,
  startSmtp,
  type TestSmtp,
  tokenOf,
} from "../helpers/smtp.ts";

const PUBLIC_URL = "https://id.example.com/portal";
const NEW_PASSWORD = "a brand new passphrase 42";

/** Every outbox row, as stored. */
async function outboxRows(app: TestApp) {
  const d = app.container.database;
  if (d.dialect === "pg") return d.db.select().from(pgSchema.outbox);
  return d.db.select().from(sqliteSchema.outbox).all();
}

/** Every email-token row of a user, as stored. */
async function tokenRows(app: TestApp, userId: string) {
  const d = app.container.database;
  if (d.dialect === "pg")
    return d.db
      .select()
      .from(pgSchema.emailTokens)
      .where(eq(pgSchema.emailTokens.userId, userId));
  return d.db
    .select()
    .from(sqliteSchema.emailTokens)
    .where(eq(sqliteSchema.emailTokens.userId, userId))
    .all();
}

for (const dialect of DIALECTS) {
  describe(`email flows [${dialect}]`, () => {
    let smtp: TestSmtp;
    let app: TestApp;
    beforeAll(async () => {
      smtp = await startSmtp();
      app = await createTestApp(dialect, {
        SMTP_URL: smtp.url,
        PUBLIC_URL,
        PRODUCT_NAME: "Acme <ID>",
        OUTBOX_MAX_BACKOFF: "4",
        MAIL_PER_ADDRESS_PER_HOUR: "50",
      });
    });
    afterAll(async () => {
      await app?.close();
      await smtp?.close();
    });

    /** Runs the outbox until nothing is due; returns the mails that arrived meanwhile. */
    async function deliver(): Promise<ReceivedMail[]> {
      const before = smtp.mails.length;
      await app.container.outbox.drain();
      return smtp.mails.slice(before);
    }

    const forgot = (email: string, headers: Record<string, string> = {}) =>
      app.request("POST", "/auth/password/forgot", { json: { email }, headers });

    /** Registers a user, asks for a reset and returns the mailed token. */
    async function resetToken() {
      const reg = await registerUser(app);
      expect((await forgot(reg.email)).status).toBe(202);
      const [mail, ...more] = await deliver();
      expect(more).toEqual([]);
      if (!mail) throw new Error("no mail arrived");
      return { reg, mail, token: tokenOf(mail) };
    }

    test("forgot: 202 at once with an empty body; the mail arrives with one working link", async () => {
      const reg = await registerUser(app);
      const connections = smtp.connections;
      const res = await forgot(reg.email.toUpperCase());
      expect(res.status).toBe(202);
      expect(await res.text()).toBe("");
      // The request only queued the mail: no SMTP connection was made.
      expect(smtp.connections).toBe(connections);
      const queued = (await outboxRows(app)).filter((r) => r.recipient === reg.email);
      expect(queued.map((r) => [r.kind, r.status, r.attempts])).toEqual([
        ["reset", "pending", 0],
      ]);

      const [mail, ...more] = await deliver();
      expect(more).toEqual([]);
      if (!mail) throw new Error("no mail");
      expect(mail.to).toEqual([reg.email]);
      expect(mail.subject).toBe("Reset your Acme <ID> password");
      expect(mail.raw).toMatch(/^from: authd <no-reply@localhost>/im);
      const token = tokenOf(mail);
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/); // 256 bits
      expect(mail.text).toContain(`${PUBLIC_URL}/reset-password?token=${token}`);
      expect(mail.text).toContain("30 minutes");
      expect(mail.html).toContain(`href="${PUBLIC_URL}/reset-password?token=${token}"`);
      expect(mail.html).toContain("Acme &lt;ID&gt;");
      const [row] = (await outboxRows(app)).filter((r) => r.id === queued[0]?.id);
      expect(row).toMatchObject({ status: "sent", attempts: 1, lastError: null });
      expect(row?.sentAt).toEqual(app.clock.now());

      const other = await loginOk(app, reg.email, reg.password);
      const reset = await post(app, "/auth/password/reset", {
        token,
        new_password: NEW_PASSWORD,
      });
      expect(reset.status).toBe(204);
      // Every session ended: access tokens refused at once, refresh tokens dead.
      expect(await liveSessionIds(app, reg.user.id)).toEqual([]);
      expect((await me(app, reg.access_token)).status).toBe(401);
      await expectProblem(
        await refresh(app, other.refresh_token),
        401,
        "invalid_grant",
      );
      await expectProblem(
        await login(app, reg.email, reg.password),
        401,
        "invalid_credentials",
      );
      const after = await loginOk(app, reg.email, NEW_PASSWORD);
      // The mail was read: the address counts as verified.
      expect(after.user.email_verified).toBe(true);
      const [event] = await auditOf(app, "password.reset", reg.user.id);
      expect(event).toMatchObject({
        outcome: "success",
        detail: { sessions_ended: 2 },
      });
      const [forgotEvent] = await auditOf(app, "password.forgot", reg.user.id);
      expect(forgotEvent).toMatchObject({ outcome: "success" });

      // Single use.
      const again = await post(app, "/auth/password/reset", {
        token,
        new_password: "yet another passphrase 7",
      });
      const problem = await expectProblem(again, 400, "invalid_token");
      expect(problem.detail).toMatch(/invalid, expired or already used/);
      await loginOk(app, reg.email, NEW_PASSWORD);
      // Only the hash is stored.
      const [stored] = await tokenRows(app, reg.user.id);
      expect(stored?.tokenHash).not.toContain(token);
      expect(stored?.usedAt).toEqual(app.clock.now());
    });

    test("forgot for an unknown address: the same 202 and body, nothing queued or sent", async () => {
      const before = (await outboxRows(app)).length;
      const res = await forgot(uniqueEmail("nobody"));
      expect(res.status).toBe(202);
      expect(await res.text()).toBe("");
      expect([...res.headers.keys()].sort()).toEqual(
        [...(await forgot((await registerUser(app)).email)).headers.keys()].sort(),
      );
      const rows = await outboxRows(app);
      expect(rows.length).toBe(before + 1); // only the known address's mail
      await deliver();
      const [event] = await auditOf(app, "password.forgot");
      expect(event).toBeDefined();
      const unknown = (await auditOf(app, "password.forgot")).find(
        (e) => e.userId === null,
      );
      expect(unknown).toMatchObject({
        outcome: "failure",
        detail: { reason: "unknown_email" },
      });
    });

    test("a disabled account gets no mail", async () => {
      const reg = await registerUser(app);
      await app.container.userAdmin.setDisabled(reg.email, true, CLI);
      expect((await forgot(reg.email)).status).toBe(202);
      expect(await deliver()).toEqual([]);
    });

    test("links come from PUBLIC_URL, never from the request's Host", async () => {
      const reg = await registerUser(app);
      const res = await forgot(reg.email, {
        host: "evil.example",
        "x-forwarded-host": "evil.example",
      });
      expect(res.status).toBe(202);
      const [mail] = await deliver();
      if (!mail) throw new Error("no mail");
      expect(mail.text).not.toContain("evil.example");
      expect(mail.html).not.toContain("evil.example");
      expect(mail.text).toContain(`${PUBLIC_URL}/reset-password?token=`);
    });

    test("only the newest reset token works", async () => {
      const { reg, token: first } = await resetToken();
      expect((await forgot(reg.email)).status).toBe(202);
      const [second] = await deliver();
      if (!second) throw new Error("no second mail");
      const newest = tokenOf(second);
      expect(newest).not.toBe(first);
      await expectProblem(
        await post(app, "/auth/password/reset", {
          token: first,
          new_password: NEW_PASSWORD,
        }),
        400,
        "invalid_token",
      );
      expect(
        (
          await post(app, "/auth/password/reset", {
            token: newest,
            new_password: NEW_PASSWORD,
          })
        ).status,
      ).toBe(204);
      expect(await tokenRows(app, reg.user.id)).toHaveLength(1);
    });

    test("an expired reset token is refused (RESET_TOKEN_TTL)", async () => {
      const { reg, token } = await resetToken();
      app.clock.advance(1800 * 1000);
      await expectProblem(
        await post(app, "/auth/password/reset", { token, new_password: NEW_PASSWORD }),
        400,
        "invalid_token",
      );
      await loginOk(app, reg.email, reg.password);
      const [event] = await auditOf(app, "password.reset", undefined);
      expect(event).toMatchObject({
        outcome: "failure",
        detail: { reason: "invalid_token" },
      });
    });

    test("a reset token dies when the password changes by another route", async () => {
      const own = await resetToken();
      const change = await post(
        app,
        "/users/me/password",
        { current_password: own.reg.password, new_password: NEW_PASSWORD },
        own.reg.access_token,
      );
      expect(change.status).toBe(204);
      await expectProblem(
        await post(app, "/auth/password/reset", {
          token: own.token,
          new_password: "one more passphrase 9",
        }),
        400,
        "invalid_token",
      );
      await loginOk(app, own.reg.email, NEW_PASSWORD);

      const byOperator = await resetToken();
      await app.container.userAdmin.setPassword(
        byOperator.reg.email,
        NEW_PASSWORD,
        CLI,
      );
      await expectProblem(
        await post(app, "/auth/password/reset", {
          token: byOperator.token,
          new_password: "one more passphrase 9",
        }),
        400,
        "invalid_token",
      );
      await loginOk(app, byOperator.reg.email, NEW_PASSWORD);
    });

    test("reset goes through the password policy; a refused password leaves the token usable", async () => {
      const { reg, token } = await resetToken();
      await expectValidation(
        await post(app, "/auth/password/reset", { token, new_password: "short" }),
        "/new_password",
      );
      await expectValidation(
        await post(app, "/auth/password/reset", { token, new_password: "password123" }),
        "/new_password",
      );
      await expectValidation(
        await post(app, "/auth/password/reset", { token, new_password: reg.email }),
        "/new_password",
      );
      await loginOk(app, reg.email, reg.password);
      const ok = await post(app, "/auth/password/reset", {
        token,
        new_password: NEW_PASSWORD,
      });
      expect(ok.status).toBe(204);
    });

    test("malformed bodies are 422, unknown tokens 400", async () => {
      await expectValidation(
        await post(app, "/auth/password/reset", { token: "x" }),
        "/new_password",
      );
      await expectValidation(
        await post(app, "/auth/password/reset", {
          token: "",
          new_password: NEW_PASSWORD,
        }),
        "/token",
      );
      await expectValidation(
        await post(app, "/auth/email/verify", { token: "a\u0000b" }),
        "/token",
      );
      await expectValidation(await post(app, "/auth/password/forgot", {}), "/email");
      await expectProblem(
        await post(app, "/auth/email/verify", { token: "not-a-real-token" }),
        400,
        "invalid_token",
      );
      await expectProblem(
        await post(app, "/auth/password/reset", {
          token: "x".repeat(512),
          new_password: NEW_PASSWORD,
        }),
        400,
        "invalid_token",
      );
      // A garbage address is not an error: 202 and nothing else.
      expect((await forgot("not an email")).status).toBe(202);
    });

    test("concurrent resets with one token: exactly one succeeds", async () => {
      const { reg, token } = await resetToken();
      const passwords = Array.from(
        { length: 8 },
        (_, i) => `concurrent passphrase ${i}x`,
      );
      const results = await Promise.all(
        passwords.map((p) =>
          post(app, "/auth/password/reset", { token, new_password: p }),
        ),
      );
      const statuses = results.map((r) => r.status).sort();
      expect(statuses).toEqual([204, 400, 400, 400, 400, 400, 400, 400]);
      const winner = passwords[results.findIndex((r) => r.status === 204)] ?? "";
      await loginOk(app, reg.email, winner);
      for (const p of passwords.filter((p) => p !== winner)) {
        expect((await login(app, reg.email, p)).status).toBe(401);
      }
      const events = await auditOf(app, "password.reset", reg.user.id);
      expect(events.filter((e) => e.outcome === "success")).toHaveLength(1);
    });

    test("email verification: request (Bearer), the mailed link, single use", async () => {
      const reg = await registerUser(app);
      expect(reg.user.email_verified).toBe(false);
      await expectProblem(
        await app.request("POST", "/auth/email/verify/request"),
        401,
        "unauthenticated",
      );
      const res = await app.request("POST", "/auth/email/verify/request", {
        token: reg.access_token,
      });
      expect(res.status).toBe(202);
      expect(await res.text()).toBe("");
      const [mail, ...more] = await deliver();
      expect(more).toEqual([]);
      if (!mail) throw new Error("no mail");
      expect(mail.to).toEqual([reg.email]);
      expect(mail.subject).toBe("Confirm your email address for Acme <ID>");
      const token = tokenOf(mail);
      expect(mail.text).toContain(`${PUBLIC_URL}/verify-email?token=${token}`);
      expect(mail.text).toContain("24 hours");

      expect((await post(app, "/auth/email/verify", { token })).status).toBe(204);
      const body = (await (await me(app, reg.access_token)).json()) as {
        email_verified: boolean;
      };
      expect(body.email_verified).toBe(true);
      await expectProblem(
        await post(app, "/auth/email/verify", { token }),
        400,
        "invalid_token",
      );
      const [event] = await auditOf(app, "email.verify", reg.user.id);
      expect(event).toMatchObject({ outcome: "success" });

      // Already verified: 202, and nothing is sent.
      const again = await app.request("POST", "/auth/email/verify/request", {
        token: reg.access_token,
      });
      expect(again.status).toBe(202);
      expect(await deliver()).toEqual([]);
    });

    test("verification: only the newest token works, and it expires (VERIFY_TOKEN_TTL)", async () => {
      const reg = await registerUser(app);
      const ask = () =>
        app.request("POST", "/auth/email/verify/request", { token: reg.access_token });
      await ask();
      const [first] = await deliver();
      await ask();
      const [second] = await deliver();
      if (!first || !second) throw new Error("mails missing");
      await expectProblem(
        await post(app, "/auth/email/verify", { token: tokenOf(first) }),
        400,
        "invalid_token",
      );
      app.clock.advance(86_400 * 1000);
      await expectProblem(
        await post(app, "/auth/email/verify", { token: tokenOf(second) }),
        400,
        "invalid_token",
      );
      const user = await app.container.store.findUserById(reg.user.id);
      expect(user?.emailVerified).toBe(false);
      // A reset token cannot verify, nor a verify token reset.
      const { token: resetTok } = await resetToken();
      await expectProblem(
        await post(app, "/auth/email/verify", { token: resetTok }),
        400,
        "invalid_token",
      );
    });

    test("SMTP down: 202 at once; retried with capped backoff; delivered once it is back", async () => {
      const reg = await registerUser(app);
      await smtp.down();
      try {
        const res = await forgot(reg.email);
        expect(res.status).toBe(202);
        const attempts: number[] = [];
        for (let i = 0; i < 4; i++) {
          await app.container.outbox.drain();
          const [row] = (await outboxRows(app)).filter(
            (r) => r.recipient === reg.email && r.status !== "sent",
          );
          if (!row) throw new Error("the mail is gone");
          expect(row.status).toBe("pending");
          expect(row.lastError).toMatch(/ECONNREFUSED|ESOCKET|connect/i);
          const wait = row.nextAttemptAt.getTime() - app.clock.now().getTime();
          // 2^(n-1) s scaled into [0.5, 1], never above OUTBOX_MAX_BACKOFF (4 s).
          expect(wait).toBeGreaterThan(0);
          expect(wait).toBeLessThanOrEqual(Math.min(4, 2 ** i) * 1000);
          expect(wait).toBeGreaterThanOrEqual(Math.min(4, 2 ** i) * 500);
          attempts.push(row.attempts);
          // Not due yet: a drain now does nothing.
          expect(await app.container.outbox.drain()).toBe(0);
          app.clock.advance(wait);
        }
        expect(attempts).toEqual([1, 2, 3, 4]);
      } finally {
        await smtp.up();
      }
      const mails = await deliver();
      expect(mails.map((m) => m.to[0])).toEqual([reg.email]);
      const token = tokenOf(mails[0] as ReceivedMail);
      expect(
        (await post(app, "/auth/password/reset", { token, new_password: NEW_PASSWORD }))
          .status,
      ).toBe(204);
      const [row] = (await outboxRows(app)).filter((r) => r.recipient === reg.email);
      expect(row).toMatchObject({ status: "sent", attempts: 5, lastError: null });
      expect(await deliver()).toEqual([]);
    });

    test("a permanent refusal (5xx) marks the mail failed; `retry` queues it again", async () => {
      const reg = await registerUser(app);
      smtp.refuseWith(550);
      try {
        await forgot(reg.email);
        await app.container.outbox.drain();
      } finally {
        smtp.refuseWith(null);
      }
      const [row] = (await outboxRows(app)).filter((r) => r.recipient === reg.email);
      expect(row).toMatchObject({ status: "failed", attempts: 1 });
      expect(row?.lastError).toMatch(/550/);
      expect(await app.container.outbox.depth()).toMatchObject({ failed: 1 });
      app.clock.advance(60_000);
      expect(await deliver()).toEqual([]); // failed rows are not retried by themselves
      const listed = await app.container.outbox.list({ status: "failed", limit: 10 });
      expect(listed.map((r) => r.id)).toEqual([row?.id ?? ""]);
      expect(listed[0]).not.toHaveProperty("payloadSealed");
      expect(await app.container.outbox.retry()).toBe(1);
      const mails = await deliver();
      expect(mails.map((m) => m.to[0])).toEqual([reg.email]);
      expect(await app.container.outbox.depth()).toEqual({ pending: 0, failed: 0 });
    });

    test("a mail whose link expired before delivery is given up, not sent", async () => {
      const reg = await registerUser(app);
      await smtp.down();
      try {
        await forgot(reg.email);
        await app.container.outbox.drain();
      } finally {
        await smtp.up();
      }
      app.clock.advance(1801 * 1000);
      expect(await deliver()).toEqual([]);
      const [row] = (await outboxRows(app)).filter((r) => r.recipient === reg.email);
      expect(row).toMatchObject({ status: "failed" });
      expect(row?.lastError).toMatch(/expired/);
    });

    test("the outbox holds no usable token; no token reaches the logs", async () => {
      const { token } = await resetToken();
      for (const row of await outboxRows(app)) {
        expect(row.payloadSealed).not.toContain(token);
        expect(row.payloadSealed).not.toContain("reset-password");
      }
      const logs = app.rawLogs();
      expect(logs).not.toContain(token);
      for (const mail of smtp.mails) {
        const t = tokenOf(mail);
        expect(logs).not.toContain(t);
      }
      expect(logs).toContain('"msg":"mail sent"');
    });
  });

  describe(`per-address mail budget [${dialect}]`, () => {
    let smtp: TestSmtp;
    let app: TestApp;
    beforeAll(async () => {
      smtp = await startSmtp();
      app = await createTestApp(dialect, {
        SMTP_URL: smtp.url,
        MAIL_PER_ADDRESS_PER_HOUR: "2",
      });
    });
    afterAll(async () => {
      await app?.close();
      await smtp?.close();
    });

    test("past MAIL_PER_ADDRESS_PER_HOUR: still 202, nothing sent; the next hour sends again", async () => {
      const reg = await registerUser(app);
      for (let i = 0; i < 4; i++) {
        const res = await post(app, "/auth/password/forgot", { email: reg.email });
        expect(res.status).toBe(202);
      }
      await app.container.outbox.drain();
      expect(smtp.mails.filter((m) => m.to[0] === reg.email)).toHaveLength(2);
      // Verification mail has a budget of its own.
      const ask = () =>
        app.request("POST", "/auth/email/verify/request", { token: reg.access_token });
      for (let i = 0; i < 3; i++) expect((await ask()).status).toBe(202);
      await app.container.outbox.drain();
      expect(smtp.mails.filter((m) => m.to[0] === reg.email)).toHaveLength(4);
      const refused = (await auditOf(app, "password.forgot", reg.user.id)).filter(
        (e) => e.outcome === "failure",
      );
      expect(refused.map((e) => e.detail)).toEqual([
        { reason: "mail_budget" },
        { reason: "mail_budget" },
      ]);
      app.clock.advance(3600 * 1000);
      await post(app, "/auth/password/forgot", { email: reg.email });
      await app.container.outbox.drain();
      expect(smtp.mails.filter((m) => m.to[0] === reg.email)).toHaveLength(5);
    });
  });

  describe(`REQUIRE_EMAIL_VERIFICATION [${dialect}]`, () => {
    let smtp: TestSmtp;
    let app: TestApp;
    beforeAll(async () => {
      smtp = await startSmtp();
      app = await createTestApp(dialect, {
        SMTP_URL: smtp.url,
        REQUIRE_EMAIL_VERIFICATION: "true",
        LOGIN_FAILURES_PER_ACCOUNT_IP: "3",
      });
    });
    afterAll(async () => {
      await app?.close();
      await smtp?.close();
    });

    test("register mails a link; login is 403 only after the right password; verified, it works", async () => {
      const reg = await registerUser(app);
      const queued = (await outboxRows(app)).filter((r) => r.recipient === reg.email);
      expect(queued.map((r) => r.kind)).toEqual(["verify"]);
      await app.container.outbox.drain();
      const mail = smtp.mails.find((m) => m.to[0] === reg.email);
      if (!mail) throw new Error("no verification mail");

      const refused = await expectProblem(
        await login(app, reg.email, reg.password),
        403,
        "email_not_verified",
      );
      expect(refused.detail).toMatch(/confirm your email/);
      // A wrong password still gets the uniform 401: the 403 reveals nothing.
      await expectProblem(
        await login(app, reg.email, "wrong password!!"),
        401,
        "invalid_credentials",
      );
      await expectProblem(
        await login(app, uniqueEmail(), "wrong password!!"),
        401,
        "invalid_credentials",
      );

      expect(
        (await post(app, "/auth/email/verify", { token: tokenOf(mail) })).status,
      ).toBe(204);
      const ok = await loginOk(app, reg.email, reg.password);
      expect(ok.user.email_verified).toBe(true);
    });

    test("a refused register (address taken) does not spend the owner's mail budget", async () => {
      const reg = await registerUser(app);
      for (let i = 0; i < 5; i++) {
        const taken = await post(app, "/auth/register", {
          email: reg.email,
          password: GOOD_PASSWORD,
        });
        await expectProblem(taken, 409, "email_taken");
      }
      // One mail counted (register's) of the 5 an hour: a request still mails.
      const ask = await app.request("POST", "/auth/email/verify/request", {
        token: reg.access_token,
      });
      expect(ask.status).toBe(202);
      const queued = (await outboxRows(app)).filter((r) => r.recipient === reg.email);
      expect(queued.map((r) => r.kind)).toEqual(["verify", "verify"]);
    });

    test("a reset proves the mailbox: it verifies, and clears the failed-login count", async () => {
      const email = uniqueEmail();
      await app.container.userAdmin.create({ email, password: GOOD_PASSWORD }, CLI);
      for (let i = 0; i < 3; i++) {
        expect((await login(app, email, "wrong password!!")).status).toBe(401);
      }
      await expectProblem(await login(app, email, GOOD_PASSWORD), 429, "rate_limited");
      await post(app, "/auth/password/forgot", { email });
      await app.container.outbox.drain();
      const mail = smtp.mails.find((m) => m.to[0] === email);
      if (!mail) throw new Error("no reset mail");
      const res = await post(app, "/auth/password/reset", {
        token: tokenOf(mail),
        new_password: NEW_PASSWORD,
      });
      expect(res.status).toBe(204);
      const ok = await loginOk(app, email, NEW_PASSWORD);
      expect(ok.user.email_verified).toBe(true);
    });

    test("an admin-created user (authctl admin create) counts as verified", async () => {
      const email = uniqueEmail("admin");
      await app.container.userAdmin.create(
        { email, password: GOOD_PASSWORD, roles: ["admin"], emailVerified: true },
        CLI,
      );
      await loginOk(app, email, GOOD_PASSWORD);
    });
  });
}

for (const dialect of DIALECTS) {
  describe(`the per-IP budget covers the email routes [${dialect}]`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(dialect, {
        RATE_LIMIT_PER_IP: "2",
        TRUST_PROXY: "true",
      });
    });
    afterAll(() => app?.close());

    test("past RATE_LIMIT_PER_IP: 429 with Retry-After on every email route", async () => {
      const headers = { "x-forwarded-for": "198.51.100.7" };
      const forgotOnce = () =>
        app.request("POST", "/auth/password/forgot", {
          json: { email: uniqueEmail() },
          headers,
        });
      expect((await forgotOnce()).status).toBe(202);
      expect((await forgotOnce()).status).toBe(202);
      for (const [path, json] of [
        ["/auth/password/forgot", { email: uniqueEmail() }],
        ["/auth/password/reset", { token: "t", new_password: NEW_PASSWORD }],
        ["/auth/email/verify", { token: "t" }],
        ["/auth/email/verify/request", {}],
      ] as const) {
        const res = await app.request("POST", path, { json, headers });
        await expectProblem(res, 429, "rate_limited");
        expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
      }
      expect(await outboxRows(app)).toEqual([]);
    });
  });
}
