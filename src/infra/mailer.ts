/**
 * The Mailer port: SMTP through nodemailer, behind a cockatiel timeout and
 * circuit breaker, or — with SMTP_URL unset, for development — the log.
 *
 * nodemailer is imported on the first send, so a daemon that never mails
 * never loads it. While the breaker is open (SMTP failed several times in a
 * row) a send fails at once and the outbox backs off, instead of every row
 * waiting out a connection timeout.
 */
import {
  ConsecutiveBreaker,
  circuitBreaker,
  handleWhen,
  TimeoutStrategy,
  timeout,
  wrap,
} from "cockatiel";
import type { Mailer, MailMessage } from "../core/ports.ts";
import type { Logger } from "./logger.ts";

export interface SmtpOptions {
  /** smtp://user:pass@host:port or smtps://… */
  url: string;
  /** The From header (MAIL_FROM). */
  from: string;
  /** Longest one send may take, connection included (must be under the outbox lease). */
  timeoutMs?: number;
  /** Consecutive failures that open the breaker. */
  threshold?: number;
  /** How long the open breaker waits before a trial send. */
  halfOpenAfterMs?: number;
}

/** 30 s: a slow but working relay finishes; the outbox lease (60 s) is longer. */
export const SMTP_TIMEOUT_MS = 30_000;

/** A refusal that retrying cannot change (5xx to the recipient or the message). */
const isPermanent = (e: unknown) => (e as { permanent?: unknown })?.permanent === true;

export function createSmtpMailer(o: SmtpOptions): Mailer {
  const timeoutMs = o.timeoutMs ?? SMTP_TIMEOUT_MS;
  // A permanent refusal is about one message, not about the relay's health.
  const breaker = circuitBreaker(
    handleWhen((e) => !isPermanent(e)),
    {
      halfOpenAfter: o.halfOpenAfterMs ?? 10_000,
      breaker: new ConsecutiveBreaker(o.threshold ?? 5),
    },
  );
  const policy = wrap(breaker, timeout(timeoutMs, TimeoutStrategy.Aggressive));
  let transport: Promise<import("nodemailer").Transporter> | undefined;
  const transporter = () => {
    transport ??= import("nodemailer").then((nodemailer) =>
      nodemailer.createTransport(
        {
          url: o.url,
          // Each below the whole-send timeout, so a dead relay fails with its own cause.
          connectionTimeout: Math.min(10_000, timeoutMs),
          greetingTimeout: Math.min(10_000, timeoutMs),
          socketTimeout: timeoutMs,
        },
        { from: o.from },
      ),
    );
    return transport;
  };
  return {
    async send(message: MailMessage) {
      await policy.execute(async () => {
        const t = await transporter();
        await t.sendMail({
          to: message.to,
          subject: message.subject,
          text: message.text,
          html: message.html,
        });
      });
    },
  };
}

/**
 * SMTP_URL unset: the mail is "sent" to the log. At info only who it is
 * for and its subject; the text, with its live link, only at debug — so a
 * production daemon that forgot SMTP_URL (LOG_LEVEL=info) never writes a
 * usable reset link to its logs, and a developer sets LOG_LEVEL=debug.
 */
export function createLogMailer(logger: Logger): Mailer {
  return {
    async send(message: MailMessage) {
      logger.info(
        { to: message.to, subject: message.subject },
        "mail not sent: SMTP_URL is unset (development); its text is logged at debug",
      );
      logger.debug({ to: message.to, text: message.text }, "mail text (development)");
    },
  };
}
