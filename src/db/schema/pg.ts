/**
 * PostgreSQL tables. Mirrors ./sqlite.ts table for table, column for column:
 * the row types Drizzle infers from both files are identical, so one set of
 * mappers serves both stores.
 */
import { sql } from "drizzle-orm";
import {
  boolean,
  index,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
} from "drizzle-orm/pg-core";

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

export const users = pgTable("users", {
  id: text("id").primaryKey(),
  email: text("email").notNull().unique(),
  emailVerified: boolean("email_verified").notNull().default(false),
  name: text("name"),
  passwordHash: text("password_hash"),
  roles: jsonb("roles").$type<string[]>().notNull(),
  disabled: boolean("disabled").notNull().default(false),
  createdAt: ts("created_at").notNull(),
  updatedAt: ts("updated_at").notNull(),
});

export const sessions = pgTable(
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

export const refreshTokens = pgTable(
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
    /** The successor, sealed with a key only the holder of this token can derive. */
    successorSealed: text("successor_sealed"),
  },
  (t) => [
    // A session never has two live refresh tokens, whatever the code above does.
    uniqueIndex("refresh_tokens_one_live_idx")
      .on(t.sessionId)
      .where(sql`used_at is null and revoked_at is null`),
  ],
);

export const signingKeys = pgTable(
  "signing_keys",
  {
    kid: text("kid").primaryKey(),
    alg: text("alg").notNull(),
    state: text("state").$type<"next" | "current" | "retired">().notNull(),
    publicJwk: jsonb("public_jwk").$type<Record<string, unknown>>().notNull(),
    privateKeySealed: text("private_key_sealed").notNull(),
    createdAt: ts("created_at").notNull(),
    activatedAt: ts("activated_at"),
    retiredAt: ts("retired_at"),
  },
  (t) => [
    // At most one next and one current key.
    uniqueIndex("signing_keys_one_active_idx")
      .on(t.state)
      .where(sql`state in ('next', 'current')`),
  ],
);

export const auditEvents = pgTable(
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
    detail: jsonb("detail").$type<Record<string, unknown>>(),
  },
  (t) => [
    index("audit_user_idx").on(t.userId, t.id),
    index("audit_action_idx").on(t.action, t.id),
  ],
);
