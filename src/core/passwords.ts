/**
 * Changing a password: by its owner with the current one. Every change ends
 * the user's other sessions, so a stolen session does not outlive it.
 */
import { createAuditor } from "./audit.ts";
import { AuthError } from "./errors.ts";
import { hashPassword, verifyPassword } from "./password-hashing.ts";
import type { PasswordPolicy } from "./password-policy.ts";
import type {
  Actor,
  AuditStore,
  Clock,
  Hasher,
  SessionStore,
  UserStore,
} from "./ports.ts";
import type { Principal } from "./sessions.ts";

export interface PasswordDeps {
  users: UserStore;
  sessions: SessionStore;
  audit: AuditStore;
  hasher: Hasher;
  clock: Clock;
  newId: () => string;
  policy: PasswordPolicy;
}

export function createPasswords(deps: PasswordDeps) {
  const { users, sessions, hasher, clock } = deps;
  const audit = createAuditor(deps.audit, clock, deps.newId);

  return {
    /** Needs the current password; ends every other session of the user. */
    async change(
      p: Principal,
      input: { currentPassword: string; newPassword: string },
      actor: Actor,
    ): Promise<void> {
      const ok = p.user.passwordHash
        ? (await verifyPassword(hasher, input.currentPassword, p.user.passwordHash)).ok
        : false;
      if (!ok) {
        await audit(actor, "user.password_change", {
          userId: p.user.id,
          outcome: "failure",
        });
        throw new AuthError(
          "invalid_credentials",
          "the current password is not correct",
        );
      }
      await deps.policy.screen(input.newPassword, p.user.email, "/new_password");
      // The new hash replaces the old one, so a pre-NFKC hash needs no rehash here.
      const passwordHash = await hashPassword(hasher, input.newPassword);
      const now = clock.now();
      await users.updateUser(p.user.id, { passwordHash }, now);
      const ended = await sessions.revokeUserSessions(
        p.user.id,
        "password_change",
        now,
        p.session.id,
      );
      await audit(actor, "user.password_change", {
        userId: p.user.id,
        detail: { sessions_ended: ended },
      });
    },
  };
}

export type Passwords = ReturnType<typeof createPasswords>;
