/**
 * The narrow ports the core needs. Stores are implemented once per dialect in
 * src/db; hasher, token signer and key factory in src/infra. The core never
 * sees a driver, a transaction or the environment. Abuse protection and
 * email have their own files (limit-ports.ts, mail-ports.ts), re-exported here.
 */
import type { IssuedMail } from "./mail-ports.ts";

export interface User {
  id: string;
  email: string;
  emailVerified: boolean;
  name: string | null;
  roles: string[];
  disabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

/** A user as stored: with the password hash, which never leaves the core. */
export interface UserRecord extends User {
  passwordHash: string | null;
}

export interface Session {
  id: string;
  userId: string;
  createdAt: Date;
  lastUsedAt: Date;
  /** Absolute end of the session, however often it is refreshed. */
  expiresAt: Date;
  revokedAt: Date | null;
  ip: string | null;
  userAgent: string | null;
}

/** One lookup of the authentication fast path: is this session live for this user at `now`? */
export interface LiveSessionLookup {
  sessionId: string;
  userId: string;
  now: Date;
}

/** A session that is live now, with its enabled user. */
export interface LiveSession {
  session: Session;
  user: UserRecord;
}

export interface NewRefreshToken {
  id: string;
  tokenHash: string;
  expiresAt: Date;
}

export type UserPatch = Partial<
  Pick<UserRecord, "name" | "roles" | "disabled" | "emailVerified" | "passwordHash">
>;

export interface UserFilter {
  /** Exact, already normalised email. */
  email?: string;
  /** Prefix of the email or of the name, case-insensitive. */
  q?: string;
  role?: string;
  disabled?: boolean;
  limit: number;
  /** Keyset cursor: return users whose id sorts after this one. */
  afterId?: string;
}

/**
 * The outcome of a change that must leave an active admin behind: applied
 * (`after` is null for a delete), refused because it would take away the
 * last active admin (nothing changed), or no such user.
 */
export type GuardedChange =
  | { kind: "done"; before: UserRecord; after: UserRecord | null }
  | { kind: "last_admin"; before: UserRecord }
  | { kind: "not_found" };

export interface UserStore {
  /** Throws AuthError("email_taken") when the normalised email exists. */
  insertUser(user: UserRecord): Promise<void>;
  findUserByEmail(email: string): Promise<UserRecord | null>;
  findUserById(id: string): Promise<UserRecord | null>;
  /**
   * Returns the updated user, or null when there is none with that id. Not
   * for roles or `disabled`: those go through `updateUserKeepingAdmin`. A new
   * password hash deletes the user's reset token in the same transaction: a
   * reset link dies whenever the password changes, by whatever route.
   */
  updateUser(id: string, patch: UserPatch, now: Date): Promise<UserRecord | null>;
  /** Inserts in one transaction, skipping existing emails; returns the emails created. */
  insertUsersIfAbsent(users: UserRecord[]): Promise<string[]>;
  /**
   * Registration in one transaction: the user, their first session and
   * refresh token, and the audit event — all of them or none (a crash after
   * the user row must not leave an account nobody signed in to). Throws
   * AuthError("email_taken") when the normalised email exists.
   */
  createUserWithSession(
    user: UserRecord,
    session: Session,
    token: NewRefreshToken,
    event: AuditEvent,
    /** The verification mail, when one is required: in the same transaction. */
    mail?: IssuedMail,
  ): Promise<void>;
  /**
   * Changes a user's email from `from` to `to` only if it is still `from`:
   * "taken" when another account has `to`, "changed" when the row is gone
   * or holds another email by now. Used by the email data step.
   */
  renameUserEmail(
    id: string,
    from: string,
    to: string,
    now: Date,
  ): Promise<"renamed" | "taken" | "changed">;
  listUsers(filter: UserFilter): Promise<UserRecord[]>;
}

/**
 * Changes that could take away the last active admin (enabled, with the
 * admin role). Each is one atomic step that serialises with every other
 * such step — on PostgreSQL across daemons and the CLI — so two admins
 * demoting each other at once never leave zero.
 */
export interface UserAdminStore {
  /** Applies the patch (stamping updatedAt) unless it leaves no active admin. */
  updateUserKeepingAdmin(
    id: string,
    patch: UserPatch,
    now: Date,
  ): Promise<GuardedChange>;
  /** Deletes the user (sessions go by cascade) unless it is the last active admin. */
  deleteUserKeepingAdmin(id: string): Promise<GuardedChange>;
}

export type RotateResult =
  | { kind: "rotated"; session: Session; user: UserRecord; expiresAt: Date }
  | {
      kind: "reused";
      session: Session;
      user: UserRecord;
      successorSealed: string;
      expiresAt: Date;
    }
  | { kind: "reuse_detected"; sessionId: string; userId: string }
  | { kind: "invalid" };

/** One outcome of a batch: its value, or the error that call alone met. */
export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

export interface TokenRevocation {
  tokenHash: string;
  reason: string;
  now: Date;
}

export interface EndedSession {
  sessionId: string;
  userId: string;
}

export interface RotateInput {
  tokenHash: string;
  now: Date;
  reuseIntervalMs: number;
  idleTtlMs: number;
  successor: { id: string; tokenHash: string };
  /** The successor token sealed with a key derived from the presented token. */
  successorSealed: string;
}

export interface SessionStore {
  /** Creates a session and its first refresh token atomically. */
  createSession(session: Session, token: NewRefreshToken): Promise<void>;
  /**
   * Rotates refresh tokens, each under a row lock and as if alone: the only
   * place refresh tokens change hands. See RotateResult for the outcomes.
   * Each outcome or error comes back in the order given, and one failing
   * does not undo the others: SQLite commits the batch in one transaction,
   * each rotation in its own savepoint; PostgreSQL runs each in its own
   * transaction, side by side.
   */
  rotateRefreshTokens(inputs: RotateInput[]): Promise<Settled<RotateResult>[]>;
  /**
   * The authentication fast path: for each lookup, in order, the live
   * session of that user and the enabled user, or null. One query on
   * PostgreSQL for up to 64 distinct sessions (one more for each 64 past
   * that, side by side), one read transaction on SQLite, however many
   * lookups (the core hands it those of one turn of the event loop, see
   * core/per-turn.ts).
   */
  findLiveSessions(lookups: LiveSessionLookup[]): Promise<(LiveSession | null)[]>;
  listLiveSessions(userId: string, now: Date): Promise<Session[]>;
  /** Ends one session (of that user, when given); false if none was live. */
  revokeSession(
    sessionId: string,
    userId: string | null,
    reason: string,
    now: Date,
  ): Promise<boolean>;
  /**
   * Ends the session each refresh token belongs to: the session ended, or
   * null if the token is unknown or its session had already ended. Each
   * outcome or error in the order given, one failing does not undo the
   * others; SQLite commits them together, PostgreSQL runs each on its own.
   */
  revokeSessionsByTokens(
    revocations: TokenRevocation[],
  ): Promise<Settled<EndedSession | null>[]>;
  /** Ends every live session of a user, except one; returns how many. */
  revokeUserSessions(
    userId: string,
    reason: string,
    now: Date,
    exceptSessionId?: string,
  ): Promise<number>;
}

export type KeyState = "next" | "current" | "retired";

export interface SigningKeyRecord {
  kid: string;
  alg: string;
  state: KeyState;
  publicJwk: Record<string, unknown>;
  privateKeySealed: string;
  createdAt: Date;
  activatedAt: Date | null;
  retiredAt: Date | null;
}

export interface KeyStore {
  listKeys(): Promise<SigningKeyRecord[]>;
  /** Stores a current and a next key if there is no current key yet (locked). */
  insertInitialKeys(
    current: SigningKeyRecord,
    next: SigningKeyRecord,
  ): Promise<boolean>;
  /**
   * next → current, current → retired, newNext → next, atomically — only if the
   * next key is still `expectedNext` (the one the caller checked); false if a
   * concurrent rotation got there first, and then nothing changes.
   */
  rotateKeys(
    expectedNext: string,
    newNext: SigningKeyRecord,
    now: Date,
  ): Promise<boolean>;
  deleteKeys(kids: string[]): Promise<number>;
}

export interface AuditEvent {
  id: string;
  at: Date;
  action: string;
  actorId: string | null;
  userId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  outcome: "success" | "failure";
  detail: Record<string, unknown> | null;
}

export interface AuditFilter {
  userId?: string;
  action?: string;
  /** Only events at or after this time. */
  since?: Date;
  limit: number;
  /** Keyset cursor: events older than this id (ids are time-ordered). */
  beforeId?: string;
}

export interface AuditStore {
  /**
   * Stores events, each on its own: its outcome or error in the order given
   * (SQLite commits them together, PostgreSQL writes each side by side).
   */
  appendAudits(events: AuditEvent[]): Promise<Settled<void>[]>;
  /** Newest first (by id, which is time-ordered). */
  listAudit(filter: AuditFilter): Promise<AuditEvent[]>;
  /** Deletes up to `batch` events older than `before`; returns how many. */
  pruneAudit(before: Date, batch: number): Promise<number>;
}

/**
 * `signal` is the request's: once it aborts (the client has gone), a check
 * still waiting for a hashing slot is dropped and rejects with `unavailable`.
 */
export interface Hasher {
  hash(password: string, signal?: AbortSignal): Promise<string>;
  verify(password: string, hash: string, signal?: AbortSignal): Promise<boolean>;
  /** True when the hash was made with other parameters or another algorithm. */
  needsRehash(hash: string): boolean;
}

export interface Clock {
  now(): Date;
}

export interface AccessClaims {
  sub: string;
  sid: string;
  jti: string;
  roles: string[];
  iat: number;
  exp: number;
}

/** Signs and verifies access tokens with the published signing keys. */
export interface TokenSigner {
  sign(claims: { sub: string; sid: string; roles: string[] }): Promise<string>;
  /** Throws AuthError("invalid_token") for anything it does not accept. */
  verify(token: string): Promise<AccessClaims>;
}

/** Makes signing keys; the private half comes back already sealed. */
export interface KeyFactory {
  generate(alg: string, now: Date): Promise<SigningKeyRecord>;
}

/** Who did something, and from where: goes to the audit log. */
export interface Actor {
  /** A user id, or "cli" for the operator CLI. */
  actorId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
}

/** The few log calls the core makes, structurally a pino logger. */
export interface EventLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export type * from "./limit-ports.ts";
export type * from "./mail-ports.ts";
