/**
 * The refresh-rotation decision, shared by both stores. Each store reads the
 * token, its session and user under its dialect's row lock, asks this pure
 * function what to do, and writes the outcome in the same transaction.
 */
import type { Session, UserRecord } from "../core/ports.ts";

export interface TokenRow {
  id: string;
  sessionId: string;
  expiresAt: Date;
  usedAt: Date | null;
  revokedAt: Date | null;
  successorId: string | null;
  successorSealed: string | null;
}

export type RotationDecision = "invalid" | "rotate" | "reuse" | "revoke";

export function decideRotation(
  found: { token: TokenRow; session: Session; user: UserRecord } | undefined,
  now: Date,
  reuseIntervalMs: number,
): RotationDecision {
  if (!found) return "invalid";
  const { token, session, user } = found;
  const t = now.getTime();
  if (
    session.revokedAt ||
    session.expiresAt.getTime() <= t ||
    user.disabled ||
    token.revokedAt
  ) {
    return "invalid";
  }
  if (!token.usedAt) return token.expiresAt.getTime() > t ? "rotate" : "invalid";
  // A zero interval means no grace at all, even for a repeat in the same millisecond.
  if (
    reuseIntervalMs > 0 &&
    t - token.usedAt.getTime() <= reuseIntervalMs &&
    token.successorSealed &&
    token.successorId
  ) {
    return "reuse";
  }
  // A spent token presented again, outside the grace window: assume theft.
  return "revoke";
}
