/**
 * The breached-password check against the Have I Been Pwned range API
 * (https://haveibeenpwned.com/API/v3#PwnedPasswords).
 *
 * k-anonymity: only the first 5 hex characters of the password's SHA-1 leave
 * the host; the service answers every suffix it knows under that prefix and
 * the match happens here. `Add-Padding: true` makes the service pad its answer
 * with fake suffixes (count 0), so even the response size says nothing.
 *
 * A lookup has a timeout and its own circuit breaker, apart from the storage
 * one: a slow or dead HIBP must neither hold registrations hostage nor open the
 * storage circuit. It fails open — the password is accepted and a warning is
 * logged — and while the breaker is open no request waits for the service.
 */
import { createHash } from "node:crypto";
import {
  BrokenCircuitError,
  ConsecutiveBreaker,
  circuitBreaker,
  handleAll,
  TaskCancelledError,
  TimeoutStrategy,
  timeout,
  wrap,
} from "cockatiel";
import type { BreachedPasswordCheck } from "../core/ports.ts";
import type { Logger } from "./logger.ts";

export interface HibpOptions {
  /** Base URL; the range API lives at `${url}/range/{prefix}`. */
  url: string;
  timeoutMs: number;
  logger: Logger;
  /** Consecutive failed lookups that open the breaker. */
  threshold?: number;
  /** How long an open breaker skips lookups before trying one again. */
  halfOpenAfterMs?: number;
}

/**
 * Three failures in a row is an outage, not bad luck; thirty seconds keeps a
 * dead service from costing every registration a timeout while it recovers.
 */
export const HIBP_BREAKER_THRESHOLD = 3;
export const HIBP_HALF_OPEN_MS = 30_000;

/** The uppercase SHA-1 of the UTF-8 password, split as the range API wants. */
export function hibpHash(password: string): { prefix: string; suffix: string } {
  const hex = createHash("sha1").update(password, "utf8").digest("hex").toUpperCase();
  return { prefix: hex.slice(0, 5), suffix: hex.slice(5) };
}

/** Does a range response list `suffix` with a count above 0 (padding has 0)? */
export function rangeListsSuffix(body: string, suffix: string): boolean {
  for (const line of body.split("\n")) {
    const [candidate, count] = line.trim().split(":");
    if (candidate?.toUpperCase() === suffix && Number(count) > 0) return true;
  }
  return false;
}

class HttpStatusError extends Error {
  constructor(readonly status: number) {
    super(`the service answered ${status}`);
  }
}

const describe = (e: unknown): string =>
  e instanceof HttpStatusError
    ? e.message
    : String((e as { code?: unknown })?.code ?? (e as Error)?.name ?? "error");

export function createHibpCheck(o: HibpOptions): BreachedPasswordCheck {
  const base = o.url.replace(/\/+$/, "");
  const breaker = circuitBreaker(handleAll, {
    halfOpenAfter: o.halfOpenAfterMs ?? HIBP_HALF_OPEN_MS,
    breaker: new ConsecutiveBreaker(o.threshold ?? HIBP_BREAKER_THRESHOLD),
  });
  breaker.onBreak(() =>
    o.logger.warn(
      "breached-password service keeps failing; passwords are accepted unchecked until it answers again",
    ),
  );
  breaker.onReset(() => o.logger.info("breached-password service answers again"));
  const policy = wrap(breaker, timeout(o.timeoutMs, TimeoutStrategy.Aggressive));

  return {
    async isBreached(password) {
      const { prefix, suffix } = hibpHash(password);
      try {
        const body = await policy.execute(async ({ signal }) => {
          const res = await fetch(`${base}/range/${prefix}`, {
            headers: { "add-padding": "true", "user-agent": "authd" },
            signal,
          });
          if (!res.ok) throw new HttpStatusError(res.status);
          return res.text();
        });
        return rangeListsSuffix(body, suffix);
      } catch (e) {
        const reason =
          e instanceof BrokenCircuitError
            ? "circuit_open"
            : e instanceof TaskCancelledError
              ? "timeout"
              : "unavailable";
        // Never the password, its hash or the prefix (nor the URL, which holds
        // it): only why the check was skipped.
        o.logger.warn(
          { reason, ...(reason === "unavailable" ? { cause: describe(e) } : {}) },
          "breached-password check skipped; password accepted",
        );
        return false;
      }
    },
  };
}
