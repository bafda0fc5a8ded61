/**
 * SQLite tables. Mirrors ./pg.ts table for table, column for column
 * (timestamps as integer milliseconds, booleans as 0/1, JSON as text).
 */
import { sql } from "drizzle-orm";
import {
  index,
  integer,
  sqliteTable,
  text,
  uniqueIndex,
} from "drizzle-orm/sqlite-core";

const ts = (name: string) => integer(name, { mode: "timestamp_ms" });
const bool = (name: string) => integer(name, { mode: "boolean" });

export const users = sqliteTable("users", {
  id: text("id").primaryKey(),
  email: text("email").notNull().unique(),
  emailVerified: bool("email_verified").notNull().default(false),
  name: text("name"),
  passwordHash: text("password_hash"),
  roles: text("roles", { mode: "json" }).$type<string[]>().notNull(),
  disabled: bool("disabled").notNull().default(false),
  createdAt: ts("created_at").notNull(),
  updatedAt: ts("updated_at").notNull(),
});

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
  ],
);
