/**
 * NIST SP 800-63B style policy: length counted in code points, no truncation,
 * no composition rules, and a deny-list of the most common passwords, plus the
 * account's own email. Every failure is a 422 on the field that was sent.
 */
import { fieldError } from "./errors.ts";

export interface PasswordPolicy {
  /** Throws a 422 AuthError on `field` when the password is not acceptable. */
  check(password: string, email: string, field?: string): void;
}

export interface PasswordPolicyOptions {
  minLength: number;
  maxLength: number;
  /** Lower-cased common passwords to refuse. */
  common: ReadonlySet<string>;
}

export function createPasswordPolicy(options: PasswordPolicyOptions): PasswordPolicy {
  return {
    check(password, email, field = "/password") {
      const length = [...password].length;
      if (length < options.minLength) {
        throw fieldError(field, `must be at least ${options.minLength} characters`);
      }
      if (length > options.maxLength) {
        throw fieldError(field, `must be at most ${options.maxLength} characters`);
      }
      const lowered = password.normalize("NFC").toLowerCase();
      if (options.common.has(lowered)) {
        throw fieldError(field, "is one of the most common passwords; choose another");
      }
      const address = email.trim().normalize("NFC").toLowerCase();
      const local = address.split("@")[0] ?? "";
      if (lowered === address || (local.length > 0 && lowered === local)) {
        throw fieldError(field, "must not be the email address");
      }
    },
  };
}
