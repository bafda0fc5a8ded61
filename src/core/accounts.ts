/**
 * Accounts and the token lifecycle: register, login, refresh rotation, logout,
 * and what a signed-in user can do to their own account and sessions.
 */
import { createAuditor } from "./audit.ts";
import { randomToken, seal, sha256, tokenHash, unseal } from "./crypto.ts";
import { normalizeEmail } from "./email.ts";
import { AuthError } from "./errors.ts";
import type { PasswordPolicy } from "./password-policy.ts";
import type {
  AccessClaims,
  Actor,
  AuditStore,
  Clock,
  Hasher,
  Session,
  SessionStore,
  TokenSigner,
  User,
  UserRecord,
  UserStore,
} from "./ports.ts";
import { createUserRecord, toPublicUser } from "./users.ts";

export interface AccountSettings {
  accessTokenTtl: number;
  refreshIdleTtl: number;
  refreshAbsoluteTtl: number;
  refreshReuseInterval: number;
  registrationOpen: boolean;
}

export interface AccountDeps {
  users: UserStore;
  sessions: SessionStore;
  audit: AuditStore;
  hasher: Hasher;
  signer: TokenSigner;
  clock: Clock;
  newId: () => string;
  policy: PasswordPolicy;
  settings: AccountSettings;
}

export interface TokenResult {
  accessToken: string;
  expiresIn: number;
  refreshToken: string;
  refreshExpiresIn: number;
  user: User;
}

/** Who is calling, once their access token and session have been checked. */
export interface Principal {
  user: UserRecord;
  session: Session;
  claims: AccessClaims;
}

export interface SessionView extends Omit<Session, "revokedAt" | "userId"> {
  current: boolean;
}

// The key that seals a successor refresh token is derived from the token it
// replaces: only a caller presenting that token can open it, and the stored
// SHA-256 of the token (no domain prefix) reveals nothing about this key.
const SUCCESSOR_DOMAIN = "authd/refresh-successor\0";

const invalidCredentials = () =>
  new AuthError("invalid_credentials", "the email or password is not correct");
const invalidGrant = () =>
  new AuthError("invalid_grant", "the refresh token is invalid, expired or revoked");

export function createAccounts(deps: AccountDeps) {
  const { users, sessions, hasher, signer, clock, settings } = deps;
  const audit = createAuditor(deps.audit, clock, deps.newId);
  let dummyHash: Promise<string> | undefined;
  // Unknown emails are verified against a hash with the live parameters, so a
  // login costs the same whether or not the account exists.
  const getDummyHash = () => {
    dummyHash ??= hasher.hash(randomToken());
    return dummyHash;
  };
  const seconds = (until: Date, now: Date) =>
    Math.max(0, Math.floor((until.getTime() - now.getTime()) / 1000));

  async function tokens(
    user: UserRecord,
    sessionId: string,
    refresh: string,
    refreshExpiresAt: Date,
  ) {
    const accessToken = await signer.sign({
      sub: user.id,
      sid: sessionId,
      roles: user.roles,
    });
    return {
      accessToken,
      expiresIn: settings.accessTokenTtl,
      refreshToken: refresh,
      refreshExpiresIn: seconds(refreshExpiresAt, clock.now()),
      user: toPublicUser(user),
    } satisfies TokenResult;
  }

  async function startSession(user: UserRecord, actor: Actor): Promise<TokenResult> {
    const now = clock.now();
    const session: Session = {
      id: deps.newId(),
      userId: user.id,
      createdAt: now,
      lastUsedAt: now,
      expiresAt: new Date(now.getTime() + settings.refreshAbsoluteTtl * 1000),
      revokedAt: null,
      ip: actor.ip ?? null,
      userAgent: actor.userAgent?.slice(0, 512) ?? null,
    };
    const refresh = randomToken();
    const expiresAt = new Date(
      Math.min(
        now.getTime() + settings.refreshIdleTtl * 1000,
        session.expiresAt.getTime(),
      ),
    );
    await sessions.createSession(session, {
      id: deps.newId(),
      tokenHash: tokenHash(refresh),
      expiresAt,
    });
    return tokens(user, session.id, refresh, expiresAt);
  }

  return {
    /** Computes the dummy hash ahead of the first login for an unknown email. */
    warmUp: () => getDummyHash().then(() => undefined),

    /** Creates an account with the `user` role and signs it in. */
    async register(
      input: { email: string; password: string; name?: string | null },
      actor: Actor,
    ): Promise<TokenResult> {
      if (!settings.registrationOpen) {
        throw new AuthError(
          "registration_closed",
          "registration is closed on this server",
        );
      }
      deps.policy.check(input.password, input.email);
      const user = createUserRecord(
        { email: input.email, name: input.name ?? null, roles: ["user"] },
        await hasher.hash(input.password),
        deps.newId(),
        clock.now(),
      );
      await users.insertUser(user);
      await audit({ ...actor, actorId: user.id }, "user.register", { userId: user.id });
      return startSession(user, actor);
    },

    /** Same answer and the same work for an unknown email, a wrong password or a disabled account. */
    async login(
      input: { email: string; password: string },
      actor: Actor,
    ): Promise<TokenResult> {
      const user = await users.findUserByEmail(normalizeEmail(input.email));
      const hash = user?.passwordHash ?? (await getDummyHash());
      const ok = await hasher.verify(input.password, hash);
      if (!user?.passwordHash || !ok || user.disabled) {
        const reason = !user
          ? "unknown_email"
          : user.disabled
            ? "disabled"
            : "wrong_password";
        await audit(actor, "user.login", {
          userId: user?.id,
          outcome: "failure",
          detail: { reason },
        });
        throw invalidCredentials();
      }
      let current = user;
      if (hasher.needsRehash(user.passwordHash)) {
        const passwordHash = await hasher.hash(input.password);
        current =
          (await users.updateUser(user.id, { passwordHash }, clock.now())) ?? user;
      }
      await audit({ ...actor, actorId: user.id }, "user.login", { userId: user.id });
      return startSession(current, actor);
    },

    /**
     * Exchanges a refresh token for a new pair. The old token is spent; a
     * repeat within REFRESH_REUSE_INTERVAL gets the same successor, a later
     * one revokes the whole session (the token was probably stolen).
     */
    async refresh(presented: string, actor: Actor): Promise<TokenResult> {
      const successor = randomToken();
      const sealKey = sha256(presented, SUCCESSOR_DOMAIN);
      const result = await sessions.rotateRefreshToken({
        tokenHash: tokenHash(presented),
        now: clock.now(),
        reuseIntervalMs: settings.refreshReuseInterval * 1000,
        idleTtlMs: settings.refreshIdleTtl * 1000,
        successor: { id: deps.newId(), tokenHash: tokenHash(successor) },
        successorSealed: seal(sealKey, successor),
      });
      switch (result.kind) {
        case "rotated":
          return tokens(result.user, result.session.id, successor, result.expiresAt);
        case "reused":
          return tokens(
            result.user,
            result.session.id,
            unseal(sealKey, result.successorSealed),
            result.expiresAt,
          );
        case "reuse_detected":
          await audit(actor, "session.refresh_reuse", {
            userId: result.userId,
            outcome: "failure",
            detail: { session_id: result.sessionId },
          });
          throw invalidGrant();
        case "invalid":
          throw invalidGrant();
      }
    },

    /** Ends the session of a refresh token; unknown tokens are fine (idempotent). */
    async logout(presented: string, actor: Actor): Promise<void> {
      const ended = await sessions.revokeSessionByToken(
        tokenHash(presented),
        "logout",
        clock.now(),
      );
      if (ended) {
        await audit({ ...actor, actorId: ended.userId }, "session.logout", {
          userId: ended.userId,
          detail: { session_id: ended.sessionId },
        });
      }
    },

    /** Checks an access token and that its session and user are still live. */
    async authenticate(accessToken: string): Promise<Principal> {
      const claims = await signer.verify(accessToken);
      const live = await sessions.findLiveSession(claims.sid, claims.sub, clock.now());
      if (!live)
        throw new AuthError(
          "invalid_token",
          "the session of this access token has ended",
        );
      return { ...live, claims };
    },

    async logoutAll(p: Principal, actor: Actor): Promise<number> {
      const count = await sessions.revokeUserSessions(
        p.user.id,
        "logout_all",
        clock.now(),
      );
      await audit(actor, "session.logout_all", {
        userId: p.user.id,
        detail: { sessions: count },
      });
      return count;
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
      if (!updated)
        throw new AuthError("invalid_token", "the account no longer exists");
      await audit(actor, "user.update", {
        userId: p.user.id,
        detail: { fields: ["name"] },
      });
      return toPublicUser(updated);
    },

    /** Needs the current password; ends every other session of the user. */
    async changePassword(
      p: Principal,
      input: { currentPassword: string; newPassword: string },
      actor: Actor,
    ): Promise<void> {
      const ok = p.user.passwordHash
        ? await hasher.verify(input.currentPassword, p.user.passwordHash)
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
      deps.policy.check(input.newPassword, p.user.email, "/new_password");
      const passwordHash = await hasher.hash(input.newPassword);
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

    async listSessions(p: Principal): Promise<SessionView[]> {
      const list = await sessions.listLiveSessions(p.user.id, clock.now());
      return list.map(({ revokedAt: _, userId: __, ...s }) => ({
        ...s,
        current: s.id === p.session.id,
      }));
    },

    async revokeSession(p: Principal, sessionId: string, actor: Actor): Promise<void> {
      const ended = await sessions.revokeSession(
        sessionId,
        p.user.id,
        "revoked_by_user",
        clock.now(),
      );
      if (!ended) throw new AuthError("not_found", "no such session");
      await audit(actor, "session.revoke", {
        userId: p.user.id,
        detail: { session_id: sessionId },
      });
    },
  };
}

export type Accounts = ReturnType<typeof createAccounts>;
