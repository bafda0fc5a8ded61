/**
 * The refresh-rotation decision, shared by both stores. Each store reads the
 * token, its session and user (and the token's successor, if it was spent)
 * under its dialect's row lock, asks `planRotation` what to write and what to
 * answer, and writes it in the same transaction.
 */
import type { RotateInput, RotateResult } from "../core/ports.ts";
import { toSession, toUser } from "./mappers.ts";

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
export type SuccessorRow = Pick<TokenRow, "usedAt" | "revokedAt" | "expiresAt">;

/** The token, its session and its user, as the store read them. */
export interface FoundToken {
  token: TokenRow;
  session: Parameters<typeof toSession>[0];
  user: Parameters<typeof toUser>[0];
}

/** What the store writes (nothing, a revocation or a rotation) and answers. */
export type RotationPlan =
  | { write: "none"; result: RotateResult }
  | { write: "revoke"; sessionId: string; result: RotateResult }
  | {
      write: "rotate";
      sessionId: string;
      tokenId: string;
      expiresAt: Date;
      result: RotateResult;
    };

export function planRotation(
  found: FoundToken | undefined,
  input: RotateInput,
  successor?: SuccessorRow,
): RotationPlan {
  const { now } = input;
  const decision = decideRotation(found, now, input.reuseIntervalMs, successor);
  if (!found || decision === "invalid")
    return { write: "none", result: { kind: "invalid" } };
  const session = toSession(found.session);
  const user = toUser(found.user);
  if (decision === "revoke")
    return {
      write: "revoke",
      sessionId: session.id,
      result: { kind: "reuse_detected", sessionId: session.id, userId: user.id },
    };
  if (decision === "reuse")
    return {
      write: "none",
      result: {
        kind: "reused",
        session,
        user,
        successorSealed: found.token.successorSealed ?? "",
        expiresAt: successor?.expiresAt ?? now,
      },
    };
  // The successor lives for the idle TTL, never past the session's absolute end.
  const expiresAt = new Date(
    Math.min(now.getTime() + input.idleTtlMs, session.expiresAt.getTime()),
  );
  return {
    write: "rotate",
    sessionId: session.id,
    tokenId: found.token.id,
    expiresAt,
    result: {
      kind: "rotated",
      session: { ...session, lastUsedAt: now },
      user,
      expiresAt,
    },
  };
}

function decideRotation(
  found: FoundToken | undefined,
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
