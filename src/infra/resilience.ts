/**
 * cockatiel around storage: a timeout per call and a circuit breaker that
 * opens after consecutive failures, so a database outage answers 503 fast
 * instead of piling up requests. Every store method goes through the policy.
 */
import {
  ConsecutiveBreaker,
  circuitBreaker,
  handleWhen,
  type IPolicy,
  TimeoutStrategy,
  timeout,
  wrap,
} from "cockatiel";
import { AuthError, isAuthError } from "../core/errors.ts";

export interface ResilienceOptions {
  timeoutMs: number;
  threshold: number;
  halfOpenAfterMs: number;
}

export function createStoragePolicy(o: ResilienceOptions): IPolicy {
  // Domain errors (email_taken …) are answers, not failures of storage.
  const failures = handleWhen((e) => !isAuthError(e));
  const breaker = circuitBreaker(failures, {
    halfOpenAfter: o.halfOpenAfterMs,
    breaker: new ConsecutiveBreaker(o.threshold),
  });
  return wrap(breaker, timeout(o.timeoutMs, TimeoutStrategy.Aggressive));
}

/**
 * What of a storage error may be logged: the driver's own message and code.
 * Drizzle's wrapper message carries the query parameters, which can include
 * password hashes and token hashes, so it is never logged.
 */
export function describeStorageError(e: unknown): { message: string; code?: string } {
  let inner: unknown = e;
  while ((inner as { cause?: unknown })?.cause)
    inner = (inner as { cause?: unknown }).cause;
  const err = inner as { message?: unknown; code?: unknown };
  const message = String(err?.message ?? inner).replace(/\nparams:[\s\S]*$/, "");
  return typeof err?.code === "string" ? { message, code: err.code } : { message };
}

/** Wraps every method of a store in the policy; failures become 503 `unavailable`. */
export function withPolicy<T extends object>(store: T, policy: IPolicy): T {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) =>
        policy
          .execute(() => value.apply(target, args))
          .catch((e: unknown) => {
            if (isAuthError(e)) throw e;
            throw new AuthError("unavailable", "storage is unavailable", undefined, {
              cause: e,
            });
          });
    },
  });
}
