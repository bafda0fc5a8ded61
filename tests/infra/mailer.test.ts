/**
 * The SMTP mailer against a real SMTP server: a message goes out with both
 * parts and the configured sender; transient refusals open the circuit (then
 * no connection is even tried) and it closes again after its pause; a
 * permanent refusal is reported as such and never opens it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BrokenCircuitError } from "cockatiel";
import { createSmtpMailer } from "../../src/infra/mailer.ts";
import { startSmtp, type TestSmtp } from "../helpers/smtp.ts";

const message = {
  to: "ada@example.com",
  subject: "Hello",
  text: "Open https://id.example.com/verify-email?token=abc",
  html: "<p>hi</p>",
};

describe("SMTP mailer", () => {
  let smtp: TestSmtp;
  beforeAll(async () => {
    smtp = await startSmtp();
  });
  afterAll(() => smtp?.close());

  test("sends text and HTML from MAIL_FROM", async () => {
    const mailer = createSmtpMailer({
      url: smtp.url,
      from: "Acme <no-reply@acme.test>",
    });
    await mailer.send(message);
    const [mail] = smtp.mails.slice(-1);
    expect(mail?.to).toEqual(["ada@example.com"]);
    expect(mail?.subject).toBe("Hello");
    expect(mail?.raw).toMatch(/^from: Acme <no-reply@acme\.test>/im);
    expect(mail?.text).toContain("https://id.example.com/verify-email?token=abc");
    expect(mail?.html).toContain("<p>hi</p>");
  });

  test("transient failures open the breaker; it lets a trial through after its pause", async () => {
    const mailer = createSmtpMailer({
      url: smtp.url,
      from: "authd <no-reply@localhost>",
      threshold: 2,
      halfOpenAfterMs: 200,
    });
    smtp.refuseWith(451);
    try {
      for (let i = 0; i < 2; i++) {
        const err = await mailer.send(message).then(
          () => null,
          (e: unknown) => e as { responseCode?: number; permanent?: boolean },
        );
        expect(err?.responseCode).toBe(451);
        expect(err?.permanent).toBe(false);
      }
      const connections = smtp.connections;
      const open = await mailer.send(message).then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(open).toBeInstanceOf(BrokenCircuitError);
      expect(smtp.connections).toBe(connections); // not even tried
    } finally {
      smtp.refuseWith(null);
    }
    const before = smtp.mails.length;
    // The pause is the breaker's own (real) timer; wait it out, then a trial goes through.
    await Bun.sleep(300);
    await mailer.send(message);
    expect(smtp.mails.length).toBe(before + 1);
  });

  test("a permanent refusal is marked permanent and does not open the breaker", async () => {
    const mailer = createSmtpMailer({
      url: smtp.url,
      from: "authd <no-reply@localhost>",
      threshold: 2,
      halfOpenAfterMs: 60_000,
    });
    smtp.refuseWith(550);
    try {
      for (let i = 0; i < 4; i++) {
        const err = await mailer.send(message).then(
          () => null,
          (e: unknown) => e as { responseCode?: number; permanent?: boolean },
        );
        expect(err).toMatchObject({ responseCode: 550, permanent: true });
      }
    } finally {
      smtp.refuseWith(null);
    }
    const before = smtp.mails.length;
    await mailer.send(message);
    expect(smtp.mails.length).toBe(before + 1);
  });
});
