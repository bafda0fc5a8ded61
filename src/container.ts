/**
 * The composition root. The daemon, `authctl` and the tests all build the
 * service here, from a Config and a few optional overrides (a fake clock, a
 * cheap hasher, a captured log stream). Nothing else constructs stores,
 * keys or core services.
 */
import pkg from "../package.json" with { type: "json" };
import type { Config } from "./config.ts";
import { createAccounts } from "./core/accounts.ts";
import { createAuditLog } from "./core/audit.ts";
import { deriveKey } from "./core/crypto.ts";
import { createEmailFlows } from "./core/email-flows.ts";
import { reconcileEmails } from "./core/email-migration.ts";
import { createKeyManager } from "./core/keys.ts";
import { createLimits } from "./core/limits.ts";
import { createOAuth } from "./core/oauth.ts";
import { createOutboxWorker } from "./core/outbox.ts";
import { createPasswordPolicy } from "./core/password-policy.ts";
import { createPasswords } from "./core/passwords.ts";
import type { Clock, Hasher } from "./core/ports.ts";
import { createSessions } from "./core/sessions.ts";
import { observeLogin, silentEvents } from "./core/telemetry.ts";
import { createUserAdmin } from "./core/users.ts";
import { type Database, openDatabase } from "./db/connect.ts";
import { migrateUp, migrationsCurrent } from "./db/migrate.ts";
import { createStore, SETTLED_BATCHES, type Store } from "./db/store.ts";
import { lazyCommonPasswords } from "./infra/common-passwords.ts";
import { createHasher } from "./infra/hasher.ts";
import { createHibpCheck } from "./infra/hibp.ts";
import { createTokenSigner, LEEWAY_SECONDS } from "./infra/jwt.ts";
import {
  keyEncryptionKeySource,
  resolveKeyEncryptionKey,
} from "./infra/key-encryption-key.ts";
import { createLogger, type Logger } from "./infra/logger.ts";
import { createLogMailer, createSmtpMailer, SMTP_TIMEOUT_MS } from "./infra/mailer.ts";
import { createMetrics } from "./infra/metrics.ts";
import {
  createStoragePolicy,
  describeStorageError,
  withPolicy,
} from "./infra/resilience.ts";
import { createKeyFactory, createKeyring } from "./infra/signing-keys.ts";
import { withTokenCache } from "./infra/token-cache.ts";

export interface ContainerOverrides {
  clock?: Clock;
  hasher?: Hasher;
  logger?: Logger;
  /** An already-open database (tests share one across containers). */
  database?: Database;
  /** The SMTP breaker's trip count and pause (tests shorten the pause). */
  smtpBreaker?: { threshold: number; halfOpenAfterMs: number };
  /**
   * Whether a missing SQLite database may be made (default true: the daemon;
   * in authctl only `migrate up`). Otherwise the container says it does not
   * exist instead of creating it.
   */
  createDatabase?: boolean;
  /**
   * Whether a missing key file beside a SQLite database may be made, when
   * KEY_ENCRYPTION_KEY is unset (default true: the daemon; in authctl only
   * `keys rotate`, the one command that seals a new key).
   */
  createKeyFile?: boolean;
}

const packageVersion: string = pkg.version;
/**
 * How long an outbox claim lasts: twice the longest send, so a slow send is
 * never claimed by another daemon while it is still running.
 */
const OUTBOX_LEASE_SECONDS = (2 * SMTP_TIMEOUT_MS) / 1000;
/** An idle worker looks for due mail this often; a local insert wakes it at once. */
const OUTBOX_POLL_MS = 1000;

const systemClock: Clock = { now: () => new Date() };

const commonPasswords = lazyCommonPasswords();

export async function createContainer(
  config: Config,
  overrides: ContainerOverrides = {},
) {
  const logger = overrides.logger ?? createLogger(config.LOG_LEVEL);
  const clock = overrides.clock ?? systemClock;
  const database =
    overrides.database ??
    (await openDatabase({
      url: config.DATABASE_URL,
      poolMax: config.DB_POOL_MAX,
      create: overrides.createDatabase ?? true,
    }));
  const rawStore = await createStore(database);
  const storagePolicy = createStoragePolicy({
    // bun:sqlite is synchronous: a call cannot be timed out, only waited for.
    timeoutMs: database.dialect === "pg" ? config.DB_TIMEOUT_MS : undefined,
    threshold: config.DB_BREAKER_THRESHOLD,
    halfOpenAfterMs: config.DB_BREAKER_HALF_OPEN_MS,
  });
  const store: Store = withPolicy(rawStore, storagePolicy, SETTLED_BATCHES);
  const hasher =
    overrides.hasher ??
    createHasher({
      memoryKib: config.ARGON2_MEMORY_KIB,
      timeCost: config.ARGON2_TIME_COST,
      concurrency: config.HASH_CONCURRENCY,
      queueMax: config.HASH_QUEUE_MAX,
    });
  const policy = createPasswordPolicy({
    minLength: config.PASSWORD_MIN_LENGTH,
    maxLength: config.PASSWORD_MAX_LENGTH,
    common: commonPasswords,
    ...(config.BREACHED_PASSWORD_CHECK === "hibp"
      ? {
          breached: createHibpCheck({
            url: config.HIBP_URL,
            timeoutMs: config.HIBP_TIMEOUT_MS,
            logger,
          }),
        }
      : {}),
  });
  const metrics = config.METRICS_ENABLED
    ? createMetrics({
        version: packageVersion,
        ...("stats" in hasher && typeof hasher.stats === "function"
          ? { hashStats: hasher.stats.bind(hasher) }
          : {}),
        circuitOpen: storagePolicy.circuitOpen,
        // Through the storage policy: a scrape during an outage fails fast.
        outboxPending: async () => (await store.countOutbox()).pending,
        onSourceError: (source, e) =>
          logger.warn(
            { source, cause: describeStorageError(e) },
            "metrics source failed",
          ),
      })
    : null;
  const events = metrics?.events ?? silentEvents;
  const newId = () => Bun.randomUUIDv7();
  // Resolved when a key is first sealed or opened: commands that never touch a
  // signing key neither need the key nor make its file.
  let kekValue: Uint8Array | undefined;
  const kek = () =>
    (kekValue ??= resolveKeyEncryptionKey(
      config.KEY_ENCRYPTION_KEY,
      config.sqlitePath,
      {
        create: overrides.createKeyFile ?? true,
      },
    ));

  const keys = createKeyManager({
    keys: store,
    factory: createKeyFactory(kek),
    clock,
    audit: store,
    newId,
    alg: config.SIGNING_ALG,
    // A daemon signs with a retired key until its next reload, hence the interval.
    retentionSeconds:
      config.ACCESS_TOKEN_TTL + LEEWAY_SECONDS + config.KEY_REFRESH_INTERVAL,
    // A new next key reaches every daemon's JWKS within KEY_REFRESH_INTERVAL, and
    // verifiers cache that JWKS for up to JWKS_MAX_AGE.
    minRotationSeconds: config.JWKS_MAX_AGE + config.KEY_REFRESH_INTERVAL,
  });
  const keyring = createKeyring(
    () => keys.publishedKeys(),
    kek,
    keyEncryptionKeySource(config.KEY_ENCRYPTION_KEY, config.sqlitePath),
  );
  const signer = createTokenSigner(keyring, clock, {
    issuer: config.ISSUER,
    audience: config.AUDIENCE,
    ttlSeconds: config.ACCESS_TOKEN_TTL,
  });
  // Requests verify through the cache; the core never knows it is there.
  const verifier =
    config.TOKEN_CACHE_SIZE > 0
      ? withTokenCache(signer, clock, {
          size: config.TOKEN_CACHE_SIZE,
          keyKnown: (kid) => keyring.state().verifying.has(kid),
        })
      : signer;
  const deps = {
    users: store,
    sessions: store,
    audit: store,
    hasher,
    clock,
    newId,
    policy,
  };
  const sessions = createSessions({
    sessions: store,
    audit: store,
    signer: verifier,
    clock,
    newId,
    settings: {
      accessTokenTtl: config.ACCESS_TOKEN_TTL,
      refreshIdleTtl: config.REFRESH_TOKEN_IDLE_TTL,
      refreshAbsoluteTtl: config.REFRESH_TOKEN_ABSOLUTE_TTL,
      refreshReuseInterval: config.REFRESH_REUSE_INTERVAL,
    },
    onRefresh: events.refresh,
  });
  const limits = createLimits({
    limits: store,
    clock,
    settings: {
      window: config.RATE_LIMIT_WINDOW,
      perIp: config.RATE_LIMIT_PER_IP,
      failuresPerAccountIp: config.LOGIN_FAILURES_PER_ACCOUNT_IP,
      failuresPerAccount: config.LOGIN_FAILURES_PER_ACCOUNT,
      failureWindow: config.LOGIN_FAILURE_WINDOW,
      mailPerAddressPerHour: config.MAIL_PER_ADDRESS_PER_HOUR,
    },
    onRefused: events.rateLimited,
  });
  // The outbox payload is sealed with its own key, derived from the KEK.
  // Derived on first use, like the KEK itself.
  let mailKeyValue: Uint8Array | undefined;
  const mailKey = () => (mailKeyValue ??= deriveKey(kek(), "authd/outbox-payload"));
  const mailer = config.SMTP_URL
    ? createSmtpMailer({
        url: config.SMTP_URL,
        from: config.MAIL_FROM,
        ...overrides.smtpBreaker,
      })
    : createLogMailer(logger);
  const outbox = createOutboxWorker({
    outbox: store,
    mailer,
    clock,
    mailKey,
    log: logger,
    settings: {
      maxBackoff: config.OUTBOX_MAX_BACKOFF,
      leaseSeconds: OUTBOX_LEASE_SECONDS,
      // One mail per claim: a daemon that dies strands at most the one it was
      // sending (until its lease ends), and daemons interleave evenly.
      batch: 1,
      pollMs: OUTBOX_POLL_MS,
    },
  });
  const emailFlows = createEmailFlows({
    ...deps,
    tokens: store,
    limits,
    mailKey,
    onQueued: () => outbox.kick(),
    settings: {
      publicUrl: config.PUBLIC_URL,
      productName: config.PRODUCT_NAME,
      resetTtl: config.RESET_TOKEN_TTL,
      verifyTtl: config.VERIFY_TOKEN_TTL,
    },
  });
  const coreAccounts = createAccounts({
    ...deps,
    sessions,
    limits,
    verification: emailFlows,
    settings: {
      registrationOpen: config.REGISTRATION_OPEN,
      requireEmailVerification: config.REQUIRE_EMAIL_VERIFICATION,
    },
  });
  const accounts = { ...coreAccounts, login: observeLogin(coreAccounts.login, events) };
  const oauth = createOAuth({
    sessions,
    issuer: config.ISSUER,
    audience: config.AUDIENCE,
  });
  const passwords = createPasswords(deps);
  const userAdmin = createUserAdmin(deps);
  const auditLog = createAuditLog({
    audit: store,
    clock,
    newId,
    retentionDays: config.AUDIT_RETENTION_DAYS,
  });

  return {
    config,
    logger,
    clock,
    database,
    store,
    keys,
    keyring,
    signer,
    sessions,
    oauth,
    accounts,
    passwords,
    userAdmin,
    limits,
    auditLog,
    /** Prometheus metrics; null with METRICS_ENABLED=false. */
    metrics,
    emailFlows,
    outbox,

    /** Migrates, makes the first signing keys if needed, loads the keyring. */
    async prepare(options: { migrate: boolean }): Promise<string[]> {
      // A current database (every start but the first after an upgrade) is
      // two reads; the locked migrator runs only when something is pending,
      // and re-reads what is applied under its lock.
      let applied: string[] = [];
      if (!(await migrationsCurrent(database))) {
        if (!options.migrate)
          throw new Error(
            "the database has pending migrations: run `authctl migrate up`",
          );
        applied = await migrateUp(database);
      }
      await keys.ensureKeys({ actorId: "system" });
      await keyring.refresh();
      return applied;
    },

    /**
     * The email data step (src/core/email-migration.ts): with `apply`, rewrites
     * stored emails to their normal form where that is free; always reports
     * collisions and addresses that cannot be normalised.
     */
    reconcileEmails: (options: { apply: boolean }) =>
      reconcileEmails({ users: store, audit: store, clock, newId }, options),

    /** Storage answers, migrations are current, a signing key is loaded. */
    async readiness(): Promise<{
      ok: boolean;
      checks: Record<string, "ok" | "failing">;
    }> {
      const storage = await store.ping().then(
        () => true,
        () => false,
      );
      const migrations =
        storage && (await migrationsCurrent(database).catch(() => false));
      const signingKey = keyring.state().signing !== null;
      const checks = {
        storage: storage ? "ok" : "failing",
        migrations: migrations ? "ok" : "failing",
        signing_key: signingKey ? "ok" : "failing",
      } as const;
      return { ok: storage && migrations && signingKey, checks };
    },

    async close(): Promise<void> {
      keyring.stop();
      // Not waiting long for a send in progress: its claim expires and it is retried.
      await Promise.race([outbox.stop(), Bun.sleep(1000)]);
      if (!overrides.database) await database.close();
    },
  };
}

export type Container = Awaited<ReturnType<typeof createContainer>>;
