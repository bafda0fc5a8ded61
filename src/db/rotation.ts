/**
 * The refresh-rotation decision, shared by both stores. Each store reads the
 * token, its session and user (and the token's successor, if it was spent)
 * under its dialect's row lock, asks this pure function what to do, and
 * writes the outcome in the same transaction.
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

/** What the store knows of the successor of a spent token (read in the same transaction). */
export type SuccessorRow = Pick<TokenRow, "usedAt" | "revokedAt">;

export function decideRotation(
  found: { token: TokenRow; session: Session; user: UserRecord } | undefined,
  now: Date,
  reuseIntervalMs: number,
  successor?: SuccessorRow,
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
  // The grace window is for a repeat of the same refresh (two tabs, a retry):
  // it hands back the successor only while that successor is still the live
  // token. Once the successor was itself spent, the caller holds an older
  // ancestor (RT0 after RT0 → RT1 → RT2), which no honest client does.
  // A zero interval means no grace at all, even for a repeat in the same millisecond.
  if (
    reuseIntervalMs > 0 &&
    t - token.usedAt.getTime() <= reuseIntervalMs &&
    token.successorSealed &&
    token.successorId &&
    successor &&
    !successor.usedAt &&
    !successor.revokedAt
  ) {
    return "reuse";
  }
  // A spent token presented again, outside the grace window: assume theft.
  return "revoke";
}
