/**
 * Sessions and the token lifecycle: a session starts at register or login,
 * its refresh token rotates on every refresh, and it ends at logout, on
 * reuse of a spent token, or when the user or an operator ends it. Access
 * tokens are checked against the live session on every request.
 */
import { createAuditor } from "./audit.ts";
import { randomToken, seal, sha256, tokenHash, unseal } from "./crypto.ts";
import { AuthError, invalidToken } from "./errors.ts";
import { batchPerTurn, type Defer, settledPerTurn } from "./per-turn.ts";
import type {
  AccessClaims,
  Actor,
  AuditStore,
  Clock,
  EndedSession,
  LiveSession,
  LiveSessionLookup,
  RotateInput,
  RotateResult,
  Session,
  SessionStore,
  TokenRevocation,
  TokenSigner,
  User,
  UserRecord,
} from "./ports.ts";
import type { RefreshOutcome } from "./telemetry.ts";
import { toPublicUser } from "./users.ts";

export interface SessionSettings {
  accessTokenTtl: number;
  refreshIdleTtl: number;
  refreshAbsoluteTtl: number;
  refreshReuseInterval: number;
}

export interface SessionDeps {
  sessions: SessionStore;
  audit: AuditStore;
  signer: TokenSigner;
  clock: Clock;
  newId: () => string;
  settings: SessionSettings;
  /** Told how every refresh ended (metrics). */
  onRefresh?: (outcome: RefreshOutcome) => void;
  /** When a turn of the event loop is done (default `setImmediate`; see ./per-turn.ts). */
  defer?: Defer;
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

/** A session about to be created, with its first refresh token. */
export interface NewSession {
  session: Session;
  refreshToken: string;
  refreshTokenHash: string;
  refreshTokenId: string;
  refreshExpiresAt: Date;
}

// The key that seals a successor refresh token is derived from the token it
// replaces: only a caller presenting that token can open it, and the stored
// SHA-256 of the token (no domain prefix) reveals nothing about this key.
const SUCCESSOR_DOMAIN = "authd/refresh-successor\0";

/**
 * How many session lookup batches may be out at once, and how long the
 * lookups wait for one of them before they are sent beside them; a lookup
 * batch takes well under a millisecond when storage is healthy.
 */
const LOOKUP_BATCHES = 2;
const LOOKUP_WAIT_MS = 50;

const invalidGrant = () =>
  new AuthError("invalid_grant", "the refresh token is invalid, expired or revoked");

export function createSessions(deps: SessionDeps) {
  const { sessions, signer, clock, settings } = deps;
  const audit = createAuditor(deps.audit, clock, deps.newId, deps.defer);
  // The session lookups of one turn of the event loop are one store call:
  // one query on PostgreSQL (its round trip, and the storage policy's
  // timeout, shared by dozens of requests under load), one read transaction
  // on SQLite (docs/performance.md). Each request still gets its own answer.
  // At most two lookup batches out at once: the lookups that arrive while
  // both are out go together the moment one is back (on PostgreSQL the
  // query's socket write cost the daemon four times as much with batches
  // sent every turn, and the daemon idled waiting with only one out, since
  // PostgreSQL stopped planning each batch; docs/performance.md; on SQLite a
  // batch is done before the next turn anyway). Batches out for longer than
  // LOOKUP_WAIT_MS no longer hold the next one back, so a slow storage call
  // delays the others by that much, not by its timeout.
  const findLive = batchPerTurn<LiveSessionLookup, LiveSession | null>(
    (lookups) => sessions.findLiveSessions(lookups),
    deps.defer,
    { batches: LOOKUP_BATCHES, waitMs: LOOKUP_WAIT_MS },
  );
  // The rotations and the logouts of one turn are one store call each too:
  // on SQLite one transaction (group commit: the pages they share are
  // written once), on PostgreSQL each its own transaction, as before. One
  // that fails fails alone.
  const rotate = settledPerTurn<RotateInput, RotateResult>(
    (inputs) => sessions.rotateRefreshTokens(inputs),
    deps.defer,
  );
  const revokeByToken = settledPerTurn<TokenRevocation, EndedSession | null>(
    (revocations) => sessions.revokeSessionsByTokens(revocations),
    deps.defer,
  );
  const seconds = (until: Date, now: Date) =>
    Math.max(0, Math.floor((until.getTime() - now.getTime()) / 1000));

  async function tokens(
    user: UserRecord,
    sessionId: string,
    refresh: string,
    refreshExpiresAt: Date,
  ): Promise<TokenResult> {
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
    };
  }

  /** A new session for a user, not yet stored (see `start` and `issue`). */
  function prepare(userId: string, actor: Actor): NewSession {
    const now = clock.now();
    const session: Session = {
      id: deps.newId(),
      userId,
      createdAt: now,
      lastUsedAt: now,
      expiresAt: new Date(now.getTime() + settings.refreshAbsoluteTtl * 1000),
      revokedAt: null,
      ip: actor.ip ?? null,
      userAgent: actor.userAgent?.slice(0, 512) ?? null,
    };
    const refreshToken = randomToken();
    return {
      session,
      refreshToken,
      refreshTokenHash: tokenHash(refreshToken),
      refreshTokenId: deps.newId(),
      refreshExpiresAt: new Date(
        Math.min(
          now.getTime() + settings.refreshIdleTtl * 1000,
          session.expiresAt.getTime(),
        ),
      ),
    };
  }

  /** The token response for a session that has just been stored. */
  const issue = (user: UserRecord, s: NewSession): Promise<TokenResult> =>
    tokens(user, s.session.id, s.refreshToken, s.refreshExpiresAt);

  return {
    prepare,
    issue,

    /** Starts a session for a user who has just proven who they are. */
    async start(user: UserRecord, actor: Actor): Promise<TokenResult> {
      const s = prepare(user.id, actor);
      await sessions.createSession(s.session, {
        id: s.refreshTokenId,
        tokenHash: s.refreshTokenHash,
        expiresAt: s.refreshExpiresAt,
      });
      return issue(user, s);
    },

    /**
     * Exchanges a refresh token for a new pair. The old token is spent; a
     * repeat within REFRESH_REUSE_INTERVAL gets the same successor, a later
     * one revokes the whole session (the token was probably stolen).
     */
    async refresh(presented: string, actor: Actor): Promise<TokenResult> {
      const successor = randomToken();
      const sealKey = sha256(presented, SUCCESSOR_DOMAIN);
      const result = await rotate({
        tokenHash: tokenHash(presented),
        now: clock.now(),
        reuseIntervalMs: settings.refreshReuseInterval * 1000,
        idleTtlMs: settings.refreshIdleTtl * 1000,
        successor: { id: deps.newId(), tokenHash: tokenHash(successor) },
        successorSealed: seal(sealKey, successor),
      });
      deps.onRefresh?.(result.kind);
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
      const ended = await revokeByToken({
        tokenHash: tokenHash(presented),
        reason: "logout",
        now: clock.now(),
      });
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
      const live = await findLive({
        sessionId: claims.sid,
        userId: claims.sub,
        now: clock.now(),
      });
      if (!live) throw invalidToken("session_ended");
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

    /** The caller's own live sessions, marking the one they call from. */
    async list(p: Principal): Promise<SessionView[]> {
      const list = await sessions.listLiveSessions(p.user.id, clock.now());
      return list.map(({ revokedAt: _, userId: __, ...s }) => ({
        ...s,
        current: s.id === p.session.id,
      }));
    },

    /** Ends one of the caller's own sessions; 404 when it is not theirs or not live. */
    async revoke(p: Principal, sessionId: string, actor: Actor): Promise<void> {
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

export type Sessions = ReturnType<typeof createSessions>;
