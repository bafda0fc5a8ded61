/**
 * Ports of the email flows: mailed single-use tokens, the outbox that carries
 * their mail, and the mailer that sends it (re-exported by ports.ts).
 */
import type { UserRecord } from "./ports.ts";

/** The two kinds of mailed single-use tokens. */
export type EmailTokenKind = "reset" | "verify";

/** A mailed token as stored: only its hash. One per user and kind. */
export interface EmailTokenRecord {
  userId: string;
  kind: EmailTokenKind;
  tokenHash: string;
  createdAt: Date;
  expiresAt: Date;
}

export type OutboxStatus = "pending" | "sent" | "failed";

/** A queued mail. The message itself is sealed (it carries a live link). */
export interface OutboxRecord {
  id: string;
  kind: string;
  recipient: string;
  payloadSealed: string;
  status: OutboxStatus;
  attempts: number;
  nextAttemptAt: Date;
  claimedUntil: Date | null;
  lastError: string | null;
  createdAt: Date;
  sentAt: Date | null;
}

/** A new token and the mail that carries it, written in one transaction. */
export interface IssuedMail {
  token: EmailTokenRecord;
  mail: OutboxRecord;
}

/**
 * Mailed single-use tokens. Every method that decides on a token is one
 * atomic store step: two requests with one token cannot both succeed.
 */
export interface EmailTokenStore {
  /**
   * Stores the token — replacing the user's previous one of that kind, so
   * only the newest works — and queues its mail, in one transaction.
   */
  issueEmailToken(issued: IssuedMail): Promise<void>;
  /** The user a live (unused, unexpired) token of that kind belongs to; no change. */
  findEmailTokenUser(
    kind: EmailTokenKind,
    tokenHash: string,
    now: Date,
  ): Promise<UserRecord | null>;
  /**
   * Spends a live reset token and sets the user's password hash (and marks
   * the address verified: the mail was read) in one transaction. Null when
   * the token is not live by then (used, replaced, expired, or its user gone).
   */
  resetPasswordWithToken(
    tokenHash: string,
    passwordHash: string,
    now: Date,
  ): Promise<UserRecord | null>;
  /** Spends a live verify token and marks the address verified; null if not live. */
  verifyEmailWithToken(tokenHash: string, now: Date): Promise<UserRecord | null>;
}

export interface OutboxFilter {
  status?: OutboxStatus;
  limit: number;
}

/**
 * The mail queue. A claim is a lease (`claimedUntil`) taken in one atomic
 * statement and fenced by `attempts`, which every claim increments: a worker
 * only settles a row it still holds.
 */
export interface OutboxStore {
  /** Claims up to `limit` due rows until `leaseUntil`; every daemon may call it at once. */
  claimOutbox(now: Date, leaseUntil: Date, limit: number): Promise<OutboxRecord[]>;
  /** Marks a claimed row sent; false when the claim was lost (fence: `attempts`). */
  markOutboxSent(id: string, attempts: number, now: Date): Promise<boolean>;
  /** After a failed attempt: due again at `nextAttemptAt`, or `failed` for good. */
  markOutboxFailed(
    id: string,
    attempts: number,
    failure: { error: string; nextAttemptAt: Date; final: boolean },
  ): Promise<boolean>;
  listOutbox(filter: OutboxFilter): Promise<OutboxRecord[]>;
  /** Pending and failed rows, for `authctl doctor` and metrics. */
  countOutbox(): Promise<{ pending: number; failed: number }>;
  /** Makes failed rows (all, or those ids) pending and due at `now`; returns how many. */
  retryOutbox(now: Date, ids?: string[]): Promise<number>;
  /** Deletes up to `batch` sent rows sent before `before`; returns how many. */
  pruneOutbox(before: Date, batch: number): Promise<number>;
}

/** One mail as the outbox holds it (sealed) and the mailer sends it. */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/**
 * Sends one mail (src/infra/mailer.ts). Throws on failure; an error with
 * `permanent: true` means retrying cannot help (the server refused the
 * recipient or the message for good).
 */
export interface Mailer {
  send(message: MailMessage): Promise<void>;
}
