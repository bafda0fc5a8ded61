/**
 * Password reset and email verification by mailed link (API.md "Email
 * flows"). A request never talks to SMTP: it stores the token's hash and
 * queues the mail in one transaction, and answers; the outbox worker
 * (./outbox.ts) delivers. Tokens are 256 random bits, stored only as
 * SHA-256, single use, newest-only per user and kind, and they expire.
 */
import { createAuditor } from "./audit.ts";
import { randomToken, seal, tokenHash } from "./crypto.ts";
import { lookupEmail } from "./email.ts";
import { AuthError } from "./errors.ts";
import type { Limits } from "./limits.ts";
import { type MailSettings, renderMail } from "./mail-templates.ts";
import { hashPassword } from "./password-hashing.ts";
import type { PasswordPolicy } from "./password-policy.ts";
import type {
  Actor,
  AuditStore,
  Clock,
  EmailTokenKind,
  EmailTokenStore,
  Hasher,
  IssuedMail,
  SessionStore,
  UserStore,
} from "./ports.ts";
import type { Principal } from "./sessions.ts";

export interface EmailFlowSettings extends MailSettings {
  /** Seconds a reset token lives (RESET_TOKEN_TTL). */
  resetTtl: number;
  /** Seconds a verification token lives (VERIFY_TOKEN_TTL). */
  verifyTtl: number;
}

export interface EmailFlowDeps {
  users: UserStore;
  tokens: EmailTokenStore;
  sessions: SessionStore;
  audit: AuditStore;
  hasher: Hasher;
  policy: PasswordPolicy;
  clock: Clock;
  newId: () => string;
  limits: Pick<Limits, "allowMail" | "clearLoginFailures">;
  /** The key the outbox payload is sealed with (derived from the KEK). */
  /** The outbox payload key (derived from the KEK on first use). */
  mailKey: () => Uint8Array;
  settings: EmailFlowSettings;
  /** Told after a mail was queued: wakes this daemon's outbox worker. */
  onQueued?: () => void;
}

/** The queued message as sealed in the outbox; `expires_at` ends its use. */
export interface SealedMail {
  to: string;
  subject: string;
  text: string;
  html: string;
  /** ISO time the link stops working: delivering it later is pointless. */
  expires_at: string;
}

/** One answer for every refused link, whatever the cause (unknown, used, expired…). */
const invalidLink = () =>
  new AuthError(
    "invalid_link_token",
    "the link is invalid, expired or already used; ask for a new one",
  );

export function createEmailFlows(deps: EmailFlowDeps) {
  const { users, tokens, clock, settings } = deps;
  const audit = createAuditor(deps.audit, clock, deps.newId);
  const ttlOf = (kind: EmailTokenKind) =>
    kind === "reset" ? settings.resetTtl : settings.verifyTtl;

  /**
   * A new token and the sealed mail that carries it, not yet stored. The
   * same work whoever it is for: forgot runs it for unknown addresses too.
   */
  function prepare(kind: EmailTokenKind, userId: string, email: string): IssuedMail {
    const now = clock.now();
    const token = randomToken();
    const expiresAt = new Date(now.getTime() + ttlOf(kind) * 1000);
    const message = renderMail(settings, kind, {
      email,
      token,
      ttlSeconds: ttlOf(kind),
    });
    const payload: SealedMail = { ...message, expires_at: expiresAt.toISOString() };
    return {
      token: { userId, kind, tokenHash: tokenHash(token), createdAt: now, expiresAt },
      mail: {
        id: deps.newId(),
        kind,
        recipient: email,
        payloadSealed: seal(deps.mailKey(), JSON.stringify(payload)),
        status: "pending",
        attempts: 0,
        nextAttemptAt: now,
        claimedUntil: null,
        lastError: null,
        createdAt: now,
        sentAt: null,
      },
    };
  }

  const queued = () => deps.onQueued?.();

  return {
    /**
     * The verification mail for a new account, for register to store in its
     * own transaction (with REQUIRE_EMAIL_VERIFICATION). Not held back by the
     * address's mail budget: an address gets this mail once, when its account
     * is made (a refused register — the address is taken — must not spend the
     * owner's budget either). `newUserMailQueued` counts it once stored.
     */
    verificationForNewUser: (userId: string, email: string): IssuedMail =>
      prepare("verify", userId, email),

    /** After register stored its verification mail: count it, wake the worker. */
    async newUserMailQueued(email: string): Promise<void> {
      await deps.limits.allowMail("verify", email);
      queued();
    },

    /**
     * POST /auth/password/forgot. Known and unknown addresses take the same
     * steps — the budget, the lookup, a token, a rendered and sealed mail, an
     * audit event — and differ only in the one insert that queues the mail.
     * Nothing is sent to an unknown or disabled account, or past the
     * address's hourly budget; the caller answers 202 either way.
     */
    async forgotPassword(email: string, actor: Actor): Promise<void> {
      const address = lookupEmail(email);
      const allowed = await deps.limits.allowMail("reset", address);
      const user = await users.findUserByEmail(address);
      const issued = prepare("reset", user?.id ?? "", user?.email ?? address);
      const reason = !user
        ? "unknown_email"
        : user.disabled
          ? "disabled"
          : !allowed
            ? "mail_budget"
            : null;
      if (reason === null) await tokens.issueEmailToken(issued);
      await audit(actor, "password.forgot", {
        userId: user?.id ?? null,
        outcome: reason === null ? "success" : "failure",
        detail: reason === null ? { outbox_id: issued.mail.id } : { reason },
      });
      queued();
    },

    /**
     * POST /auth/password/reset. The token is checked before any hashing,
     * the new password goes through the register policy (breached check
     * included), and the token is spent in the same transaction that sets
     * the password: of two resets with one token, exactly one succeeds.
     * Then every session ends and the account's failed logins are forgotten.
     */
    async resetPassword(
      input: { token: string; newPassword: string },
      actor: Actor,
    ): Promise<void> {
      const hash = tokenHash(input.token);
      const user = await tokens.findEmailTokenUser("reset", hash, clock.now());
      if (!user || user.disabled) {
        await audit(actor, "password.reset", {
          userId: user?.id ?? null,
          outcome: "failure",
          detail: { reason: user ? "disabled" : "invalid_token" },
        });
        throw invalidLink();
      }
      await deps.policy.screen(input.newPassword, user.email, "/new_password");
      const passwordHash = await hashPassword(deps.hasher, input.newPassword);
      const now = clock.now();
      const updated = await tokens.resetPasswordWithToken(hash, passwordHash, now);
      if (!updated) {
        // Spent by a concurrent reset (or expired) while the hash was computed.
        await audit(actor, "password.reset", {
          userId: user.id,
          outcome: "failure",
          detail: { reason: "invalid_token" },
        });
        throw invalidLink();
      }
      const ended = await deps.sessions.revokeUserSessions(
        user.id,
        "password_reset",
        now,
      );
      await deps.limits.clearLoginFailures(user.email, actor.ip ?? null);
      await audit(actor, "password.reset", {
        userId: user.id,
        detail: { sessions_ended: ended },
      });
    },

    /**
     * POST /auth/email/verify/request: queues a verification mail for the
     * signed-in user. Nothing is sent when the address is already verified
     * or its hourly budget is spent; the caller answers 202 either way.
     */
    async requestVerification(p: Principal, actor: Actor): Promise<void> {
      const { user } = p;
      const reason = user.emailVerified
        ? "already_verified"
        : !(await deps.limits.allowMail("verify", user.email))
          ? "mail_budget"
          : null;
      const issued = reason === null ? prepare("verify", user.id, user.email) : null;
      if (issued) await tokens.issueEmailToken(issued);
      await audit(actor, "email.verify_request", {
        userId: user.id,
        outcome: issued ? "success" : "failure",
        detail: issued ? { outbox_id: issued.mail.id } : { reason },
      });
      if (issued) queued();
    },

    /** POST /auth/email/verify: spends the token and marks the address verified. */
    async verifyEmail(token: string, actor: Actor): Promise<void> {
      const user = await tokens.verifyEmailWithToken(tokenHash(token), clock.now());
      await audit(actor, "email.verify", {
        userId: user?.id ?? null,
        outcome: user ? "success" : "failure",
        detail: user ? { email: user.email } : { reason: "invalid_token" },
      });
      if (!user) throw invalidLink();
    },
  };
}

export type EmailFlows = ReturnType<typeof createEmailFlows>;
