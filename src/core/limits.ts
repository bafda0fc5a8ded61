/**
 * Abuse protection: request budgets kept in the database, so every daemon on
 * one PostgreSQL shares them (API.md "Abuse protection").
 *
 * - Per IP: every POST under /auth and /oauth (the HTTP layer calls `hitIp`);
 *   the hits of one turn of the event loop share one statement.
 * - Per account + IP, and per account: failed logins. Both are checked before
 *   the password is verified, so a refusal costs no hash, and both are keyed
 *   by the normalised email rather than a user id, so an unknown email is
 *   counted exactly like a known one and a 429 reveals nothing.
 * - Known IPs: an IP that signed in to the account within KNOWN_IP_DAYS is
 *   exempt from the per-account budget, so guessing from elsewhere cannot
 *   lock the real user out.
 *
 * Windows are fixed (aligned to the epoch), one row per key: one upsert per
 * hit (or per batch of per-IP hits), no read-modify-write race; see
 * docs/decisions.md for why not sliding.
 */
import { sha256 } from "./crypto.ts";
import { lookupEmail } from "./email.ts";
import { AuthError } from "./errors.ts";
import { batchPerTurn, type Defer } from "./per-turn.ts";
import type { Clock, LimitStore } from "./ports.ts";

/** How long a successful sign-in keeps an IP "known" for an account. */
export const KNOWN_IP_DAYS = 30;
const DAY_MS = 86_400_000;

/** The budgets, from config; a limit of 0 turns that budget off. */
export interface LimitSettings {
  /** Seconds: the window of the per-IP budget. */
  window: number;
  perIp: number;
  failuresPerAccountIp: number;
  failuresPerAccount: number;
  /** Seconds: the window of both failed-login budgets. */
  failureWindow: number;
  /** Mails of one kind to one address per hour (0 = no limit). */
  mailPerAddressPerHour?: number;
}

export type Budget = "ip" | "account_ip" | "account" | "mail";

export interface LimitDeps {
  limits: LimitStore;
  clock: Clock;
  settings: LimitSettings;
  /** Told about every refusal (metrics). */
  onRefused?: (budget: Budget) => void;
  /**
   * Runs a function once the current turn of the event loop is done
   * (default `setImmediate`): the per-IP hits of that turn are counted then,
   * together (see `createHitBatcher`).
   */
  defer?: Defer;
}

/** What a login does after the password was (or was not) verified. */
export interface LoginAttempt {
  failed(): Promise<void>;
  succeeded(userId: string): Promise<void>;
}

const SWEEP_BATCH = 5000;
const SWEEP_MAX_BATCHES = 20;

/** The window of the per-address mail budget: an hour, as the setting says. */
const MAIL_WINDOW_SECONDS = 3600;

/** The fixed window that holds `now`: [start, end). */
function windowAt(now: Date, seconds: number): { start: Date; end: Date } {
  const ms = seconds * 1000;
  const start = Math.floor(now.getTime() / ms) * ms;
  return { start: new Date(start), end: new Date(start + ms) };
}

/**
 * Keys are hashed: the table then holds no email address or IP in the clear,
 * and every key has the same short length however long the input.
 */
const limitKey = (budget: Budget, ...parts: string[]): string =>
  `${budget}:${sha256(parts.join("\u0000"), "authd-limit\u0000").subarray(0, 16).toString("base64url")}`;

/**
 * The subject an IP budget counts. IPv4-mapped IPv6 addresses count as their
 * IPv4 address, and an IPv6 address as its /64: one subscriber usually holds
 * a whole /64, so counting single addresses would hand an attacker 2^64
 * budgets.
 */
export function ipSubject(ip: string | null): string {
  if (!ip) return "unknown";
  const lower = ip.trim().toLowerCase();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(lower);
  if (mapped?.[1]) return mapped[1];
  if (!lower.includes(":")) return lower;
  const groups = expandIpv6(lower.split("%")[0] ?? "");
  return groups ? `${groups.slice(0, 4).join(":")}::/64` : lower;
}

/** The eight hextets of an IPv6 address, or null when it is not one. */
function expandIpv6(ip: string): string[] | null {
  const halves = ip.split("::");
  if (halves.length > 2) return null;
  const parse = (s: string) => (s ? s.split(":") : []);
  const head = parse(halves[0] ?? "");
  const tail = parse(halves[1] ?? "");
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array<string>(Math.max(missing, 0)).fill("0"), ...tail];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return null;
  return groups.map((g) => g.replace(/^0+(?=.)/, ""));
}

/** One per-IP hit: the budget's key and the window it falls in. */
interface Hit {
  key: string;
  start: Date;
  end: Date;
}

/**
 * Group commit for per-IP hits (see ./per-turn.ts): the hits on one key and
 * window that arrive in the same turn are counted by one statement of weight
 * n. Each hit still gets its own place in the count: the store returns the
 * count after the batch, and the batch's hits take the n places up to it in
 * arrival order. So the budget stays exact across daemons, and no request
 * goes on before its hit is stored.
 */
export function createHitBatcher(
  limits: LimitStore,
  defer?: Defer,
): (key: string, start: Date, end: Date) => Promise<number> {
  const hit = batchPerTurn<Hit, number>(async (hits) => {
    const groups = new Map<string, number[]>();
    hits.forEach((h, i) => {
      const id = `${h.key}\u0000${h.start.getTime()}`;
      const group = groups.get(id);
      if (group) group.push(i);
      else groups.set(id, [i]);
    });
    const places: number[] = [];
    await Promise.all(
      [...groups.values()].map(async (members) => {
        const h = hits[members[0] ?? 0] as Hit;
        const n = members.length;
        const [total = 0] = await limits.hitLimits([h.key], h.start, h.end, n);
        members.forEach((hitIndex, i) => {
          places[hitIndex] = total - n + 1 + i;
        });
      }),
    );
    return places;
  }, defer);
  return (key, start, end) => hit({ key, start, end });
}

export function createLimits(deps: LimitDeps) {
  const { limits, clock, settings } = deps;
  const hitBatched = createHitBatcher(limits, deps.defer);
  const accountBudgets =
    settings.failuresPerAccountIp > 0 || settings.failuresPerAccount > 0;

  const refuse = (budget: Budget, end: Date, now: Date, message: string) => {
    deps.onRefused?.(budget);
    // Whole seconds until the window ends, never 0: "retry now" would be a lie.
    const retryAfter = Math.max(1, Math.ceil((end.getTime() - now.getTime()) / 1000));
    return new AuthError("rate_limited", message, undefined, { retryAfter });
  };

  return {
    settings,

    /**
     * Counts one request against the client's per-IP budget (with the other
     * hits of this turn of the event loop, see `createHitBatcher`); throws
     * 429 `rate_limited` once it is spent.
     */
    async hitIp(ip: string | null): Promise<void> {
      if (settings.perIp === 0) return;
      const now = clock.now();
      const { start, end } = windowAt(now, settings.window);
      const place = await hitBatched(limitKey("ip", ipSubject(ip)), start, end);
      if (place > settings.perIp) {
        throw refuse("ip", end, now, "too many requests from this address; slow down");
      }
    },

    /**
     * The "before hashing" step of a login: throws 429 when the account's
     * budgets are spent for this IP (one read, no hash), and otherwise returns
     * what to record once the password has been checked.
     */
    async beforeLogin(email: string, ip: string | null): Promise<LoginAttempt> {
      const noop: LoginAttempt = { failed: async () => {}, succeeded: async () => {} };
      if (!accountBudgets) return noop;
      const address = lookupEmail(email);
      const subject = ipSubject(ip);
      const accountIpKey = limitKey("account_ip", address, subject);
      const accountKey = limitKey("account", address);
      const now = clock.now();
      const { start, end } = windowAt(now, settings.failureWindow);
      const counts = await limits.readLoginBudgets({
        accountIpKey,
        accountKey,
        windowStart: start,
        email: address,
        ip: subject,
        knownSince: new Date(now.getTime() - KNOWN_IP_DAYS * DAY_MS),
      });
      // The same words for both budgets: which one tripped says nothing useful.
      const message = "too many failed sign-ins; try again later";
      const { failuresPerAccountIp: perAccountIp, failuresPerAccount: perAccount } =
        settings;
      if (perAccountIp > 0 && counts.accountIp >= perAccountIp) {
        throw refuse("account_ip", end, now, message);
      }
      if (perAccount > 0 && counts.account >= perAccount && !counts.knownIp) {
        throw refuse("account", end, now, message);
      }
      return {
        async failed() {
          const keys = [
            ...(perAccountIp > 0 ? [accountIpKey] : []),
            ...(perAccount > 0 ? [accountKey] : []),
          ];
          const w = windowAt(clock.now(), settings.failureWindow);
          await limits.hitLimits(keys, w.start, w.end);
        },
        async succeeded(userId) {
          await limits.recordLoginSuccess({
            clearKey: accountIpKey,
            userId,
            ip: subject,
            now: clock.now(),
          });
        },
      };
    },

    /**
     * Counts one mail of `kind` to `email` (normalised here) and says whether
     * it may be sent: past MAIL_PER_ADDRESS_PER_HOUR it may not. Never throws
     * 429 — the caller still answers 202, so the answer reveals nothing — and
     * an unknown address is counted exactly like a known one.
     */
    async allowMail(kind: string, email: string): Promise<boolean> {
      const max = settings.mailPerAddressPerHour ?? 0;
      if (max === 0) return true;
      const { start, end } = windowAt(clock.now(), MAIL_WINDOW_SECONDS);
      const [count = 0] = await limits.hitLimits(
        [limitKey("mail", kind, lookupEmail(email))],
        start,
        end,
      );
      if (count <= max) return true;
      deps.onRefused?.("mail");
      return false;
    },

    /**
     * After a password reset: forgets the account's failed logins from every
     * IP and from this one. Other IPs' per-account+IP counts stay (their keys
     * are hashed per IP, and a guesser elsewhere should stay slowed down).
     */
    async clearLoginFailures(email: string, ip: string | null): Promise<void> {
      if (!accountBudgets) return;
      const address = lookupEmail(email);
      await limits.clearLimits([
        limitKey("account", address),
        limitKey("account_ip", address, ipSubject(ip)),
      ]);
    },

    /**
     * Deletes budgets whose window has ended and known IPs older than
     * KNOWN_IP_DAYS, in bounded batches so one run never holds the tables
     * long. Any daemon may run it at any time; returns how many rows went.
     */
    async sweep(): Promise<number> {
      const now = clock.now();
      const knownBefore = new Date(now.getTime() - KNOWN_IP_DAYS * DAY_MS);
      let total = 0;
      for (let i = 0; i < SWEEP_MAX_BATCHES; i++) {
        const deleted = await limits.sweepLimits(now, knownBefore, SWEEP_BATCH);
        total += deleted;
        if (deleted < SWEEP_BATCH) break;
      }
      return total;
    },
  };
}

export type Limits = ReturnType<typeof createLimits>;
