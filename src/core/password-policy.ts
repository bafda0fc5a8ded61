/**
 * NIST SP 800-63B style policy: length counted in code points, no truncation,
 * no composition rules, and a deny-list of the most common passwords, plus
 * what an attacker tries first for one account: its email address or the
 * part before the @, and one character repeated. Everything is judged on the
 * NFKC form that is hashed (./password-hashing.ts). Every failure is a 422 on
 * the field that was sent. With a breached-password check, `screen` also
 * refuses passwords found in public breach corpora (SP 800-63B §5.1.1.2).
 */
import { legacyEmail } from "./email.ts";
import { AuthError, fieldError } from "./errors.ts";
import { normalizePassword } from "./password-hashing.ts";
import type { BreachedPasswordCheck } from "./ports.ts";

export interface PasswordPolicy {
  /** Throws a 422 AuthError on `field` when the password is not acceptable. */
  check(password: string, email: string, field?: string): void;
  /**
   * `check`, then the breached-password lookup: every route that sets a new
   * password (register, change, reset, authctl) calls this, before hashing.
   * Throws 422 `password_breached` for a breached password.
   */
  screen(password: string, email: string, field?: string): Promise<void>;
}

export interface PasswordPolicyOptions {
  minLength: number;
  maxLength: number;
  /** Lower-cased common passwords to refuse. */
  common: { has(password: string): boolean };
  /** Unset: no breached-password lookup (BREACHED_PASSWORD_CHECK=off). */
  breached?: BreachedPasswordCheck;
}

/**
 * A local part this short ("al", "bob") is too likely to occur by chance in
 * a good passphrase to forbid; from four characters it is a guess.
 */
export const MIN_LOCAL_PART_IN_PASSWORD = 4;

export function createPasswordPolicy(options: PasswordPolicyOptions): PasswordPolicy {
  const policy: PasswordPolicy = {
    async screen(password, email, field = "/password") {
      policy.check(password, email, field);
      if (options.breached && (await options.breached.isBreached(password))) {
        const message =
          "appears in a public data breach (Have I Been Pwned); choose another";
        throw new AuthError("password_breached", message, [{ path: field, message }]);
      }
    },
    check(password, email, field = "/password") {
      const normalized = normalizePassword(password);
      const length = [...normalized].length;
      if (length < options.minLength) {
        throw fieldError(field, `must be at least ${options.minLength} characters`);
      }
      if (length > options.maxLength) {
        throw fieldError(field, `must be at most ${options.maxLength} characters`);
      }
      const lowered = normalized.toLowerCase();
      if (options.common.has(lowered)) {
        throw fieldError(field, "is one of the most common passwords; choose another");
      }
      if (/^(.)\1*$/su.test(lowered)) {
        throw fieldError(field, "must not be one character repeated");
      }
      const address = legacyEmail(email).normalize("NFKC").toLowerCase();
      const local = address.slice(0, Math.max(0, address.lastIndexOf("@")));
      if (lowered === address || (local.length > 0 && lowered === local)) {
        throw fieldError(field, "must not be the email address");
      }
      if ([...local].length >= MIN_LOCAL_PART_IN_PASSWORD && lowered.includes(local)) {
        throw fieldError(field, "must not contain the part of the email before the @");
      }
    },
  };
  return policy;
}
