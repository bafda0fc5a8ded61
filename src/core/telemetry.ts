/**
 * What the core tells the outside about its decisions, for metrics: one
 * narrow port of plain callbacks. The core never imports a metrics library;
 * src/infra/metrics.ts implements this with prom-client, and a core without
 * it (the CLI, unit tests) gets `silentEvents`.
 */
import { isAuthError } from "./errors.ts";
import type { Budget } from "./limits.ts";
import type { RotateResult } from "./ports.ts";

/**
 * How a login ended:
 * - `success`: tokens issued;
 * - `invalid_credentials`: unknown email, wrong password or disabled account
 *   (one outcome, as for the client: the reason is in the audit log);
 * - `rate_limited`: a failed-login budget refused it before any hash;
 * - `refused`: any other answer the core gave on purpose (e.g. an unverified
 *   email where verification is required);
 * - `error`: storage unavailable, the hash queue full, or a defect.
 */
export type LoginOutcome =
  | "success"
  | "invalid_credentials"
  | "rate_limited"
  | "refused"
  | "error";

/** How a refresh ended: the kind the rotation returned (API.md "Operations"). */
export type RefreshOutcome = RotateResult["kind"];

export interface AuthEvents {
  login(outcome: LoginOutcome): void;
  refresh(outcome: RefreshOutcome): void;
  /** A request budget refused a request (src/core/limits.ts). */
  rateLimited(budget: Budget): void;
}

export const silentEvents: AuthEvents = {
  login: () => {},
  refresh: () => {},
  rateLimited: () => {},
};

/** The outcome of a login that threw `error`. */
export function loginOutcomeOf(error: unknown): LoginOutcome {
  if (!isAuthError(error)) return "error";
  switch (error.code) {
    case "invalid_credentials":
      return "invalid_credentials";
    case "rate_limited":
      return "rate_limited";
    case "unavailable":
    case "internal_error":
      return "error";
    default:
      return "refused";
  }
}

/**
 * `login` with its outcome reported: the core's login stays a plain
 * function, and the outcome is read from what it returned or threw.
 */
export function observeLogin<A extends unknown[], R>(
  login: (...args: A) => Promise<R>,
  events: Pick<AuthEvents, "login">,
): (...args: A) => Promise<R> {
  return async (...args) => {
    try {
      const result = await login(...args);
      events.login("success");
      return result;
    } catch (e) {
      events.login(loginOutcomeOf(e));
      throw e;
    }
  };
}
