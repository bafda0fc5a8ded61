/**
 * cockatiel around storage: a timeout per call and a circuit breaker that
 * opens after consecutive failures, so a database outage answers 503 fast
 * instead of piling up requests. Every store method goes through the policy.
 *
 * Only failures of the database as a service count towards the breaker. A
 * data error (a value PostgreSQL cannot store, a constraint, a bad query) is
 * about one request, and a client that can provoke one at will must not be
 * able to take storage away from everyone: those answer 4xx or 500 instead.
 */
import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleWhen,
  type IPolicy,
  IsolatedCircuitError,
  TaskCancelledError,
  TimeoutStrategy,
  timeout,
  wrap,
} from "cockatiel";
import { AuthError, isAuthError } from "../core/errors.ts";
import type { Settled } from "../core/ports.ts";

export interface ResilienceOptions {
  /**
   * Per call; none for a synchronous driver (bun:sqlite), whose calls finish
   * before any timer could fire, so a timeout there would only cost an
   * AbortController and a timer per call.
   */
  timeoutMs?: number;
  threshold: number;
  halfOpenAfterMs: number;
}

/**
 * - `outage`: the database cannot serve (unreachable, overloaded, out of disk,
 *   timed out): 503 and counted by the breaker.
 * - `input`: a value the database cannot store (PostgreSQL class 22): 422.
 * - `conflict`: a unique or foreign key violation nobody translated: 409.
 * - `defect`: anything else (class 42, a trigger, a bug in our SQL): 500.
 */
export type StorageErrorKind = "outage" | "input" | "conflict" | "defect";

// postgres.js and Node socket errors: the connection, not the query, failed.
const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
]);

/**
 * SQLSTATE classes that say the server cannot serve: 08 connection, 28 bad
 * credentials, 3D the database is gone, 53 insufficient resources (disk,
 * memory, too many connections), 57 operator intervention (shutdown, query
 * cancelled), 58 system error (I/O), XX internal error (corruption).
 */
const OUTAGE_CLASSES = new Set(["08", "28", "3D", "53", "57", "58", "XX"]);

// bun:sqlite result codes (with their extended suffixes) that mean the file
// or the lock, not the statement, is the problem.
const SQLITE_OUTAGE =
  /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|NOMEM|READONLY|CORRUPT|NOTADB|PROTOCOL)/;
const SQLITE_INPUT = /^SQLITE_(TOOBIG|MISMATCH)/;
const SQLITE_CONFLICT = /^SQLITE_CONSTRAINT_(UNIQUE|PRIMARYKEY|FOREIGNKEY)$/;

const SQLSTATE = /^[0-9A-Z]{5}$/;

/** Every error in a cause chain, outermost first (bounded, in case of a cycle). */
function chain(e: unknown): unknown[] {
  const out: unknown[] = [];
  for (let err = e; err && out.length < 8; err = (err as { cause?: unknown }).cause)
    out.push(err);
  return out;
}

/** Sorts a failed storage call into what it means for the breaker and the client. */
export function classifyStorageError(e: unknown): StorageErrorKind {
  for (const err of chain(e)) {
    if (
      err instanceof TaskCancelledError ||
      err instanceof BrokenCircuitError ||
      err instanceof IsolatedCircuitError
    )
      return "outage";
    const code = (err as { code?: unknown }).code;
    // Drizzle's message ends with the query parameters: client data, not a reason.
    const message = String((err as { message?: unknown }).message ?? "").replace(
      /\nparams:[\s\S]*$/,
      "",
    );
    if (/too many (connections|clients)|remaining connection slots/i.test(message))
      return "outage";
    // bun:sqlite has no code for a closed database handle.
    if (/closed database/i.test(message)) return "outage";
    if (typeof code !== "string") continue;
    if (CONNECTION_CODES.has(code) || SQLITE_OUTAGE.test(code)) return "outage";
    if (SQLITE_INPUT.test(code)) return "input";
    if (SQLITE_CONFLICT.test(code)) return "conflict";
    if (code.startsWith("SQLITE_")) return "defect";
    if (SQLSTATE.test(code)) {
      const cls = code.slice(0, 2);
      if (OUTAGE_CLASSES.has(cls)) return "outage";
      if (cls === "22") return "input";
      if (code === "23505" || code === "23503") return "conflict";
      return "defect";
    }
  }
  return "defect";
}

/** The storage policy, and whether its circuit is open (for metrics). */
export type StoragePolicy = IPolicy & { circuitOpen(): boolean };

export function createStoragePolicy(o: ResilienceOptions): StoragePolicy {
  // Domain errors (email_taken …) are answers, and data errors are about one
  // request; neither says anything about the health of storage.
  const failures = handleWhen(
    (e) => !isAuthError(e) && classifyStorageError(e) === "outage",
  );
  const breaker = circuitBreaker(failures, {
    halfOpenAfter: o.halfOpenAfterMs,
    breaker: new ConsecutiveBreaker(o.threshold),
  });
  // A storage call takes no signal, so there is nothing to abort once it has
  // returned; cockatiel's default abort on return builds an AbortError (a
  // DOMException with its stack) per call, ~4 % of a PostgreSQL /users/me
  // (docs/performance.md).
  const policy =
    o.timeoutMs === undefined
      ? breaker
      : wrap(
          breaker,
          timeout(o.timeoutMs, {
            strategy: TimeoutStrategy.Aggressive,
            abortOnReturn: false,
          }),
        );
  return Object.assign(policy, {
    // Half-open counts as open: storage has not yet answered a trial call.
    circuitOpen: () => breaker.state !== CircuitState.Closed,
  });
}

/**
 * What of a storage error may be logged: the driver's own message and code.
 * Drizzle's wrapper message carries the query parameters, which can include
 * password hashes and token hashes, so it is never logged.
 */
export function describeStorageError(e: unknown): { message: string; code?: string } {
  const inner = chain(e).at(-1) ?? e;
  const err = inner as { message?: unknown; code?: unknown };
  const message = String(err?.message ?? inner).replace(/\nparams:[\s\S]*$/, "");
  return typeof err?.code === "string" ? { message, code: err.code } : { message };
}

/** The AuthError a failed storage call becomes; the driver's error is its cause. */
export function storageError(e: unknown): AuthError {
  const cause = { cause: e };
  switch (classifyStorageError(e)) {
    case "outage":
      return new AuthError("unavailable", "storage is unavailable", undefined, cause);
    case "input":
      return new AuthError(
        "validation_failed",
        "a value in the request cannot be stored",
        undefined,
        cause,
      );
    case "conflict":
      return new AuthError(
        "conflict",
        "the change conflicts with the stored data",
        undefined,
        cause,
      );
    case "defect":
      return new AuthError(
        "internal_error",
        "an unexpected error occurred; quote the request id when reporting it",
        undefined,
        cause,
      );
  }
}

const asAuthError = (e: unknown) => (isAuthError(e) ? e : storageError(e));

/**
 * Wraps every method of a store in the policy; failures become AuthErrors.
 * The methods named in `settled` answer a batch with one outcome per call
 * (`Settled`, core/ports.ts): the error of each failed call becomes an
 * AuthError the same way, so a caller of a batch sees what it would have
 * seen alone.
 */
export function withPolicy<T extends object>(
  store: T,
  policy: IPolicy,
  settled: ReadonlySet<PropertyKey> = new Set(),
): T {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      const call = (...args: unknown[]) =>
        policy
          .execute(() => value.apply(target, args))
          .catch((e: unknown) => {
            throw asAuthError(e);
          });
      if (!settled.has(prop)) return call;
      return async (...args: unknown[]) =>
        ((await call(...args)) as Settled<unknown>[]).map((o) =>
          o.ok ? o : { ok: false, error: asAuthError(o.error) },
        );
    },
  });
}
