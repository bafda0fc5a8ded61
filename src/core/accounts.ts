/**
 * Accounts: register, login, and what a signed-in user may change about
 * their own account. Sessions and tokens are ./sessions.ts; passwords are
 * ./passwords.ts.
 */
import { auditEvent, createAuditor } from "./audit.ts";
import { randomToken } from "./crypto.ts";
import { lookupEmail } from "./email.ts";
import type { EmailFlows } from "./email-flows.ts";
import { AuthError, invalidToken } from "./errors.ts";
import type { Limits } from "./limits.ts";
import { hashPassword, verifyPassword } from "./password-hashing.ts";
import type { PasswordPolicy } from "./password-policy.ts";
import type { Actor, AuditStore, Clock, Hasher, User, UserStore } from "./ports.ts";
import type { Principal, Sessions, TokenResult } from "./sessions.ts";
import { createUserRecord, toPublicUser } from "./users.ts";

export interface AccountSettings {
  registrationOpen: boolean;
  /** REQUIRE_EMAIL_VERIFICATION: login needs a verified address; register mails one. */
  requireEmailVerification?: boolean;
}

export interface AccountDeps {
  users: UserStore;
  audit: AuditStore;
  hasher: Hasher;
  sessions: Sessions;
  clock: Clock;
  newId: () => string;
  policy: PasswordPolicy;
  /** The failed-login budgets (./limits.ts). */
  limits: Pick<Limits, "beforeLogin">;
  /** The verification mail register queues (./email-flows.ts). */
  verification?: Pick<EmailFlows, "verificationForNewUser" | "newUserMailQueued">;
  settings: AccountSettings;
}

const invalidCredentials = () =>
  new AuthError("invalid_credentials", "the email or password is not correct");

export function createAccounts(deps: AccountDeps) {
  const { users, hasher, clock, settings } = deps;
  const audit = createAuditor(deps.audit, clock, deps.newId);
  let dummyHash: Promise<string> | undefined;
  // Unknown emails are verified against a hash with the live parameters, so a
  // login costs the same whether or not the account exists.
  const getDummyHash = () => {
    dummyHash ??= hasher.hash(randomToken());
    return dummyHash;
  };

  return {
    /** Computes the dummy hash ahead of the first login for an unknown email. */
    warmUp: () => getDummyHash().then(() => undefined),

    /**
     * Creates an account with the `user` role and signs it in. `signal` is
     * the request's: a client gone while its hash waits for a slot is dropped.
     */
    async register(
      input: { email: string; password: string; name?: string | null },
      actor: Actor,
      signal?: AbortSignal,
    ): Promise<TokenResult> {
      if (!settings.registrationOpen) {
        throw new AuthError(
          "registration_closed",
          "registration is closed on this server",
        );
      }
      await deps.policy.screen(input.password, input.email);
      const user = createUserRecord(
        { email: input.email, name: input.name ?? null, roles: ["user"] },
        await hashPassword(hasher, input.password, signal),
        deps.newId(),
        clock.now(),
      );
      // With verification required, the mail is queued in the same transaction.
      const mail =
        settings.requireEmailVerification && deps.verification
          ? deps.verification.verificationForNewUser(user.id, user.email)
          : null;
      // The user, their first session and the audit event in one transaction.
      const s = deps.sessions.prepare(user.id, actor);
      await users.createUserWithSession(
        user,
        s.session,
        {
          id: s.refreshTokenId,
          tokenHash: s.refreshTokenHash,
          expiresAt: s.refreshExpiresAt,
        },
        auditEvent(clock, deps.newId, { ...actor, actorId: user.id }, "user.register", {
          userId: user.id,
          ...(mail ? { detail: { verification_outbox_id: mail.mail.id } } : {}),
        }),
        mail ?? undefined,
      );
      if (mail) await deps.verification?.newUserMailQueued(user.email);
      return deps.sessions.issue(user, s);
    },

    /**
     * Same answer and the same work for an unknown email, a wrong password or
     * a disabled account. The failed-login budgets come first, so a 429 costs
     * no hash; then the verification; then the count. `signal` as for
     * register: a login whose client has gone is not verified (nor counted).
     */
    async login(
      input: { email: string; password: string },
      actor: Actor,
      signal?: AbortSignal,
    ): Promise<TokenResult> {
      const attempt = await deps.limits.beforeLogin(input.email, actor.ip ?? null);
      const user = await users.findUserByEmail(lookupEmail(input.email));
      const hash = user?.passwordHash ?? (await getDummyHash());
      const { ok, rehash } = await verifyPassword(hasher, input.password, hash, signal);
      if (!user?.passwordHash || !ok || user.disabled) {
        const reason = !user
          ? "unknown_email"
          : user.disabled
            ? "disabled"
            : "wrong_password";
        await attempt.failed();
        await audit(actor, "user.login", {
          userId: user?.id,
          outcome: "failure",
          detail: { reason },
        });
        throw invalidCredentials();
      }
      if (settings.requireEmailVerification && !user.emailVerified) {
        // Only after the right password: a guesser learns nothing from a 403.
        // Not a failed login (the password was right), and not a success.
        await audit(actor, "user.login", {
          userId: user.id,
          outcome: "failure",
          detail: { reason: "email_not_verified" },
        });
        throw new AuthError(
          "email_not_verified",
          "confirm your email address first: use the link we mailed, or ask for a new one",
        );
      }
      let current = user;
      if (rehash) {
        const passwordHash = await hashPassword(hasher, input.password);
        current =
          (await users.updateUser(user.id, { passwordHash }, clock.now())) ?? user;
      }
      await attempt.succeeded(user.id);
      await audit({ ...actor, actorId: user.id }, "user.login", { userId: user.id });
      return deps.sessions.start(current, actor);
    },

    async updateMe(
      p: Principal,
      patch: { name?: string | null },
      actor: Actor,
    ): Promise<User> {
      // PATCH semantics: an absent field is left alone; only `null` clears it.
      if (patch.name === undefined) return toPublicUser(p.user);
      const updated = await users.updateUser(
        p.user.id,
        { name: patch.name },
        clock.now(),
      );
      if (!updated) throw invalidToken("account_gone");
      await audit(actor, "user.update", {
        userId: p.user.id,
        detail: { fields: ["name"] },
      });
      return toPublicUser(updated);
    },
  };
}

export type Accounts = ReturnType<typeof createAccounts>;
