/**
 * The two mails the service sends, as small templates: a text part with
 * exactly one link (API.md: its query has `token=`) and an HTML part saying
 * the same. Links are built from PUBLIC_URL only — never from a request's
 * Host header, which a client chooses (a forged Host would otherwise mail
 * a victim a reset link pointing at the attacker's server).
 */
import type { EmailTokenKind, MailMessage } from "./ports.ts";

export interface MailSettings {
  /** Base of every link, without a trailing slash. */
  publicUrl: string;
  productName: string;
}

/** Where each kind of link points, under PUBLIC_URL. */
export const LINK_PATHS: Record<EmailTokenKind, string> = {
  reset: "/reset-password",
  verify: "/verify-email",
};

export const linkFor = (settings: MailSettings, kind: EmailTokenKind, token: string) =>
  `${settings.publicUrl}${LINK_PATHS[kind]}?token=${encodeURIComponent(token)}`;

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) =>
      ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c,
  );

/** "30 minutes", "1 hour", "24 hours": how long the link works, in words. */
export function lifetime(seconds: number): string {
  const [n, unit] =
    seconds % 3600 === 0 && seconds >= 3600
      ? [seconds / 3600, "hour"]
      : [Math.max(1, Math.round(seconds / 60)), "minute"];
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}

const COPY: Record<
  EmailTokenKind,
  { subject: string; intro: string; action: string; ignore: string }
> = {
  reset: {
    subject: "Reset your {product} password",
    intro:
      "Someone, hopefully you, asked to reset the password of the {product} account {email}.",
    action: "Choose a new password with this link within {ttl}:",
    ignore:
      "If you did not ask for this, ignore this mail: your password stays as it is.",
  },
  verify: {
    subject: "Confirm your email address for {product}",
    intro: "Please confirm that {email} is your address for {product}.",
    action: "Confirm it with this link within {ttl}:",
    ignore: "If you did not sign up for {product}, ignore this mail.",
  },
};

/** The mail that carries `token` to `email`. */
export function renderMail(
  settings: MailSettings,
  kind: EmailTokenKind,
  input: { email: string; token: string; ttlSeconds: number },
): MailMessage {
  const link = linkFor(settings, kind, input.token);
  const fill = (s: string, esc: (v: string) => string) =>
    s
      .replaceAll("{product}", esc(settings.productName))
      .replaceAll("{email}", esc(input.email))
      .replaceAll("{ttl}", lifetime(input.ttlSeconds));
  const copy = COPY[kind];
  const plain = (s: string) => fill(s, (v) => v);
  const html = (s: string) => fill(s, escapeHtml);
  return {
    to: input.email,
    subject: plain(copy.subject),
    text: [
      plain(copy.intro),
      "",
      plain(copy.action),
      "",
      link,
      "",
      plain(copy.ignore),
      "",
      `— ${settings.productName}`,
      "",
    ].join("\n"),
    html: [
      "<!doctype html>",
      '<html><body style="font-family: sans-serif; line-height: 1.5">',
      `<p>${html(copy.intro)}</p>`,
      `<p>${html(copy.action)}</p>`,
      `<p><a href="${escapeHtml(link)}">${escapeHtml(link)}</a></p>`,
      `<p>${html(copy.ignore)}</p>`,
      `<p>— ${escapeHtml(settings.productName)}</p>`,
      "</body></html>",
      "",
    ].join("\n"),
  };
}
