/**
 * Ports of abuse protection: the budget counters every daemon shares through
 * the database, and the breached-password check (re-exported by ports.ts).
 */

/** The login budgets as one read sees them (see LimitStore.readLoginBudgets). */
export interface LoginBudgetCounts {
  /** Failed logins for this account from this IP in the current window. */
  accountIp: number;
  /** Failed logins for this account from every IP in the current window. */
  account: number;
  /** The IP signed in to the account with this email since `knownSince`. */
  knownIp: boolean;
}

/**
 * Request budgets in fixed windows, shared by every daemon on the database.
 * Keys are opaque (core/limits.ts derives them); rows of ended windows are
 * dead and swept.
 */
export interface LimitStore {
  /**
   * Counts `weight` hits (default 1) on each key (distinct keys) in the
   * window that starts at `windowStart`, in one atomic statement: a key whose
   * stored window is older starts again at `weight`. Returns each key's count
   * after the hits, in order.
   */
  hitLimits(
    keys: string[],
    windowStart: Date,
    expiresAt: Date,
    weight?: number,
  ): Promise<number[]>;
  /**
   * One read for the "before hashing" step of a login: the two failure
   * counts in the window starting at `windowStart` (0 when absent or older)
   * and whether `ip` signed in to the account with `email` since `knownSince`.
   */
  readLoginBudgets(q: {
    accountIpKey: string;
    accountKey: string;
    windowStart: Date;
    email: string;
    ip: string;
    knownSince: Date;
  }): Promise<LoginBudgetCounts>;
  /**
   * After a successful login: forgets the `clearKey` budget and records (or
   * refreshes) `ip` as a known IP of the user.
   */
  recordLoginSuccess(q: {
    clearKey: string;
    userId: string;
    ip: string;
    now: Date;
  }): Promise<void>;
  /**
   * Deletes at most `batch` budget rows whose window ended by `now` and at
   * most `batch` known IPs last seen before `knownBefore`; returns how many.
   */
  sweepLimits(now: Date, knownBefore: Date, batch: number): Promise<number>;
  /** Forgets these budgets (e.g. an account's failed logins after a reset). */
  clearLimits(keys: string[]): Promise<void>;
}

/** Is a password in a public breach corpus? (src/infra/hibp.ts) */
export interface BreachedPasswordCheck {
  /**
   * True when the password is known to be breached. Fails open: when the
   * service cannot answer, resolves false (and the adapter logs a warning).
   */
  isBreached(password: string): Promise<boolean>;
}
