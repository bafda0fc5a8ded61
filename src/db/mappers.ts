/**
 * Row ↔ domain mapping shared by both stores: the pg and sqlite schemas infer
 * identical row types, so one mapper serves both.
 */
import type {
  AuditEvent,
  Session,
  SigningKeyRecord,
  UserRecord,
} from "../core/ports.ts";
import type * as pg from "./schema/pg.ts";

type UserRow = typeof pg.users.$inferSelect;
type SessionRow = typeof pg.sessions.$inferSelect;
type KeyRow = typeof pg.signingKeys.$inferSelect;
type AuditRow = typeof pg.auditEvents.$inferSelect;

export const toUser = (r: UserRow): UserRecord => ({
  id: r.id,
  email: r.email,
  emailVerified: r.emailVerified,
  name: r.name,
  roles: r.roles,
  disabled: r.disabled,
  passwordHash: r.passwordHash,
  createdAt: r.createdAt,
  updatedAt: r.updatedAt,
});

export const toSession = (r: SessionRow): Session => ({
  id: r.id,
  userId: r.userId,
  createdAt: r.createdAt,
  lastUsedAt: r.lastUsedAt,
  expiresAt: r.expiresAt,
  revokedAt: r.revokedAt,
  ip: r.ip,
  userAgent: r.userAgent,
});

export const toKey = (r: KeyRow): SigningKeyRecord => ({ ...r });

export const toAudit = (r: AuditRow): AuditEvent => ({ ...r });

const escapeLike = (s: string): string => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/** LIKE pattern for a prefix search, with the wildcards in it escaped (`\\`). */
export const prefixPattern = (s: string): string => `${escapeLike(s)}%`;

/**
 * A unique violation on users.email in particular: the one an honest client
 * causes (the address is taken). A collision of a generated id is a bug and
 * must not be reported as `email_taken`.
 */
export function isEmailTaken(e: unknown): boolean {
  for (let err: unknown = e; err; err = (err as { cause?: unknown }).cause) {
    const { code, constraint_name, message } = err as Record<string, unknown>;
    if (code === "23505") return constraint_name === "users_email_unique";
    if (code === "SQLITE_CONSTRAINT_UNIQUE")
      return String(message).includes("users.email");
  }
  return false;
}
