/**
 * The test SMTP server's mail parsing (tests/helpers/smtp.ts) is what every
 * email test reads tokens with, so it is tested itself: through the daemon's
 * real mailer, a link whose token has "--" at the point where
 * quoted-printable wraps the line. Cutting the part at any line that starts
 * with "--" (instead of at the message's boundary) read a truncated token,
 * and a test that looked for its hash in the database failed now and then.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createSmtpMailer } from "../../src/infra/mailer.ts";
import { startSmtp, type TestSmtp, tokenOf } from "../helpers/smtp.ts";

let smtp: TestSmtp;
beforeAll(async () => {
  smtp = await startSmtp();
});
afterAll(() => smtp?.close());

test('a token with "--" at a soft line break is read whole, in text and HTML', async () => {
  const mailer = createSmtpMailer({
    url: smtp.url,
    from: "authd <no-reply@localhost>",
  });
  // Sliding "--" along the token puts it at the wrap in one of the mails.
  const tokens = Array.from(
    { length: 42 },
    (_, i) => `${"a".repeat(i)}--${"b".repeat(41 - i)}`,
  );
  for (const token of tokens) {
    const link = `https://id.example.com/reset-password?token=${token}`;
    await mailer.send({
      to: "someone@example.com",
      subject: "Reset",
      text: `Choose a new password with this link within 30 minutes:\n\n${link}\n\n— authd\n`,
      html: `<p><a href="${link}">${link}</a></p>`,
    });
  }
  const mails = await smtp.waitFor(tokens.length);
  // The test can fail: some mail does put "--" at the start of a line.
  expect(mails.some((m) => /\n--[ab]/.test(m.raw))).toBe(true);
  expect(mails.map(tokenOf)).toEqual(tokens);
  for (const [i, m] of mails.entries()) expect(m.html).toContain(`token=${tokens[i]}"`);
});
