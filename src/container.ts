/**
 * The composition root. The daemon, `authctl` and the tests all build the
 * service here, from a Config and a few optional overrides (a fake clock, a
 * cheap hasher, a captured log stream). Nothing else constructs stores,
 * keys or core services.
 */
import type { Config } from "./config.ts";
import { createAccounts } from "./core/accounts.ts";
import { createKeyManager } from "./core/keys.ts";
import { createPasswordPolicy } from "./core/password-policy.ts";
import type { Clock, Hasher } from "./core/ports.ts";
import { createUserAdmin } from "./core/users.ts";
import { type Database, openDatabase } from "./db/connect.ts";
import { migrateUp, migrationsCurrent } from "./db/migrate.ts";
import { createStore, type Store } from "./db/store.ts";
import { loadCommonPasswords } from "./infra/common-passwords.ts";
import { createHasher } from "./infra/hasher.ts";
import { createTokenSigner, LEEWAY_SECONDS } from "./infra/jwt.ts";
import { resolveKeyEncryptionKey } from "./infra/key-encryption-key.ts";
import { createLogger, type Logger } from "./infra/logger.ts";
import { createStoragePolicy, withPolicy } from "./infra/resilience.ts";
import { createKeyFactory, createKeyring } from "./infra/signing-keys.ts";

export interface ContainerOverrides {
  clock?: Clock;
  hasher?: Hasher;
  logger?: Logger;
  /** An already-open database (tests share one across containers). */
  database?: Database;
}

const systemClock: Clock = { now: () => new Date() };

let commonPasswords: ReadonlySet<string> | undefined;

export function createContainer(config: Config, overrides: ContainerOverrides = {}) {
  const logger = overrides.logger ?? createLogger(config.LOG_LEVEL);
  const clock = overrides.clock ?? systemClock;
  const database =
    overrides.database ??
    openDatabase({ url: config.DATABASE_URL, poolMax: config.DB_POOL_MAX });
  const rawStore = createStore(database);
  const store: Store = withPolicy(
    rawStore,
    createStoragePolicy({
      timeoutMs: config.DB_TIMEOUT_MS,
      threshold: config.DB_BREAKER_THRESHOLD,
      halfOpenAfterMs: config.DB_BREAKER_HALF_OPEN_MS,
    }),
  );
  const hasher =
    overrides.hasher ??
    createHasher({
      memoryKib: config.ARGON2_MEMORY_KIB,
      timeCost: config.ARGON2_TIME_COST,
      concurrency: config.HASH_CONCURRENCY,
    });
  commonPasswords ??= loadCommonPasswords();
  const policy = createPasswordPolicy({
    minLength: config.PASSWORD_MIN_LENGTH,
    maxLength: config.PASSWORD_MAX_LENGTH,
    common: commonPasswords,
  });
  const newId = () => Bun.randomUUIDv7();
  const kek = resolveKeyEncryptionKey(config.KEY_ENCRYPTION_KEY, config.sqlitePath);

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
  const keyring = createKeyring(() => keys.publishedKeys(), kek);
  const signer = createTokenSigner(keyring, clock, {
    issuer: config.ISSUER,
    audience: config.AUDIENCE,
    ttlSeconds: config.ACCESS_TOKEN_TTL,
  });
  const deps = {
    users: store,
    sessions: store,
    audit: store,
    hasher,
    clock,
    newId,
    policy,
  };
  const accounts = createAccounts({
    ...deps,
    signer,
    settings: {
      accessTokenTtl: config.ACCESS_TOKEN_TTL,
      refreshIdleTtl: config.REFRESH_TOKEN_IDLE_TTL,
      refreshAbsoluteTtl: config.REFRESH_TOKEN_ABSOLUTE_TTL,
      refreshReuseInterval: config.REFRESH_REUSE_INTERVAL,
      registrationOpen: config.REGISTRATION_OPEN,
    },
  });
  const userAdmin = createUserAdmin(deps);

  return {
    config,
    logger,
    clock,
    database,
    store,
    keys,
    keyring,
    signer,
    accounts,
    userAdmin,

    /** Migrates, makes the first signing keys if needed, loads the keyring. */
    async prepare(options: { migrate: boolean }): Promise<string[]> {
      const applied = options.migrate ? await migrateUp(database) : [];
      if (!(await migrationsCurrent(database))) {
        throw new Error(
          "the database has pending migrations: run `authctl migrate up`",
        );
      }
      await keys.ensureKeys({ actorId: "system" });
      await keyring.refresh();
      return applied;
    },

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
      if (!overrides.database) await database.close();
    },
  };
}

export type Container = ReturnType<typeof createContainer>;
