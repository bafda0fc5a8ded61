/**
 * SQLite tables. Mirrors ./pg.ts table for table, column for column
 * (timestamps as integer milliseconds, booleans as 0/1, JSON as text).
 */
import { sql } from "drizzle-orm";
import {
  index,
  integer,
  primaryKey,
  sqliteTable,
  text,
  uniqueIndex,
} from "drizzle-orm/sqlite-core";

const ts = (name: string) => integer(name, { mode: "timestamp_ms" });
const bool = (name: string) => integer(name, { mode: "boolean" });

export const users = sqliteTable(
  "users",
  {
    id: text("id").primaryKey(),
    email: text("email").notNull().unique(),
    emailVerified: bool("email_verified").notNull().default(false),
    name: text("name"),
    passwordHash: text("password_hash"),
    roles: text("roles", { mode: "json" }).$type<string[]>().notNull(),
    disabled: bool("disabled").notNull().default(false),
    createdAt: ts("created_at").notNull(),
    updatedAt: ts("updated_at").notNull(),
  },
  (t) => [
    // The admin list's `q` (a prefix of email or name): SQLite's LIKE ignores
    // case, so it can use only NOCASE indexes for a prefix range. The role
    // filter reads JSON and has no index (SQLite deployments are small).
    index("users_email_prefix_idx").on(sql`${t.email} collate nocase`),
    index("users_name_prefix_idx").on(sql`${t.name} collate nocase`),
  ],
);

export const sessions = sqliteTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    createdAt: ts("created_at").notNull(),
    lastUsedAt: ts("last_used_at").notNull(),
    expiresAt: ts("expires_at").notNull(),
    revokedAt: ts("revoked_at"),
    revokeReason: text("revoke_reason"),
    ip: text("ip"),
    userAgent: text("user_agent"),
  },
  (t) => [index("sessions_user_idx").on(t.userId, t.createdAt)],
);

export const refreshTokens = sqliteTable(
  "refresh_tokens",
  {
    id: text("id").primaryKey(),
    sessionId: text("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    tokenHash: text("token_hash").notNull().unique(),
    createdAt: ts("created_at").notNull(),
    expiresAt: ts("expires_at").notNull(),
    usedAt: ts("used_at"),
    revokedAt: ts("revoked_at"),
    successorId: text("successor_id"),
    successorSealed: text("successor_sealed"),
  },
  (t) => [
    uniqueIndex("refresh_tokens_one_live_idx")
      .on(t.sessionId)
      .where(sql`used_at is null and revoked_at is null`),
    // Ending a session revokes all of its tokens, spent ones too: without this
    // index that is a scan of every refresh token (logout was the slowest route).
    index("refresh_tokens_session_idx").on(t.sessionId),
  ],
);

export const signingKeys = sqliteTable(
  "signing_keys",
  {
    kid: text("kid").primaryKey(),
    alg: text("alg").notNull(),
    state: text("state").$type<"next" | "current" | "retired">().notNull(),
    publicJwk: text("public_jwk", { mode: "json" })
      .$type<Record<string, unknown>>()
      .notNull(),
    privateKeySealed: text("private_key_sealed").notNull(),
    createdAt: ts("created_at").notNull(),
    activatedAt: ts("activated_at"),
    retiredAt: ts("retired_at"),
  },
  (t) => [
    uniqueIndex("signing_keys_one_active_idx")
      .on(t.state)
      .where(sql`state in ('next', 'current')`),
  ],
);

export const auditEvents = sqliteTable(
  "audit_events",
  {
    id: text("id").primaryKey(),
    at: ts("at").notNull(),
    action: text("action").notNull(),
    actorId: text("actor_id"),
    userId: text("user_id"),
    ip: text("ip"),
    userAgent: text("user_agent"),
    requestId: text("request_id"),
    outcome: text("outcome").$type<"success" | "failure">().notNull(),
    detail: text("detail", { mode: "json" }).$type<Record<string, unknown>>(),
  },
  (t) => [
    index("audit_user_idx").on(t.userId, t.id),
    index("audit_action_idx").on(t.action, t.id),
    index("audit_at_idx").on(t.at),
  ],
);

/** Request budgets shared by every daemon: one fixed-window counter per key. */
export const rateLimits = sqliteTable(
  "rate_limits",
  {
    /** Which budget and whom it counts, e.g. `ip:203.0.113.7` (see core/limits). */
    key: text("key").primaryKey(),
    windowStart: ts("window_start").notNull(),
    count: integer("count").notNull(),
    /** When the window ends; expired rows are swept. */
    expiresAt: ts("expires_at").notNull(),
  },
  // No index on expires_at here (PostgreSQL has one): every hit sets the
  // column, and on SQLite rewriting that index entry was a third of a hit's
  // cost. The sweep scans instead; one daemon's table is small.
);

/** IPs that signed in to an account: they keep working while it is under attack. */
export const knownIps = sqliteTable(
  "known_ips",
  {
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    ip: text("ip").notNull(),
    lastSuccessAt: ts("last_success_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.userId, t.ip] }),
    index("known_ips_last_success_idx").on(t.lastSuccessAt),
  ],
);

/**
 * Single-use tokens sent by mail (password reset, email verification), stored
 * as hashes. One row per user and kind: issuing a new one replaces the old,
 * so only the newest works.
 */
export const emailTokens = sqliteTable(
  "email_tokens",
  {
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    kind: text("kind").$type<"reset" | "verify">().notNull(),
    tokenHash: text("token_hash").notNull().unique(),
    createdAt: ts("created_at").notNull(),
    expiresAt: ts("expires_at").notNull(),
    usedAt: ts("used_at"),
  },
  (t) => [primaryKey({ columns: [t.userId, t.kind] })],
);

/** Mail waiting to be delivered; written in the transaction that makes its token. */
export const outbox = sqliteTable(
  "outbox",
  {
    id: text("id").primaryKey(),
    kind: text("kind").notNull(),
    recipient: text("recipient").notNull(),
    /** The message (subject, text, html), sealed with the key-encryption key. */
    payloadSealed: text("payload_sealed").notNull(),
    status: text("status").$type<"pending" | "sent" | "failed">().notNull(),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: ts("next_attempt_at").notNull(),
    /** A worker's claim: nobody else sends this row before then. */
    claimedUntil: ts("claimed_until"),
    lastError: text("last_error"),
    createdAt: ts("created_at").notNull(),
    sentAt: ts("sent_at"),
  },
  (t) => [index("outbox_due_idx").on(t.status, t.nextAttemptAt)],
);
