/**
 * The only reader of the environment. Every setting is declared once in the
 * TypeBox schema below, with its default and a one-line description; the
 * description doubles as the `.env.example` comment and the README table.
 */
import { availableParallelism } from "node:os";
import { type Static, Type as T, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";

const Int = (def: number, min: number, max: number, description: string) =>
  T.Integer({ default: def, minimum: min, maximum: max, description });

export const ConfigSchema = T.Object({
  HOST: T.String({
    default: "127.0.0.1",
    minLength: 1,
    description: "Interface to listen on.",
  }),
  PORT: Int(3000, 0, 65535, "TCP port to listen on (0 picks a free one)."),
  DATABASE_URL: T.String({
    default: "sqlite:./data/auth.db",
    pattern: "^(sqlite:.+|postgres(ql)?://.+)$",
    description:
      "sqlite:PATH (sqlite::memory: for a throwaway database) or postgres://user@host:5432/db.",
  }),
  DB_POOL_MAX: Int(10, 1, 200, "PostgreSQL connections per daemon."),
  DB_TIMEOUT_MS: Int(
    5000,
    100,
    120_000,
    "A storage call that takes longer fails with 503.",
  ),
  DB_BREAKER_THRESHOLD: Int(
    5,
    1,
    1000,
    "Consecutive storage failures that open the circuit.",
  ),
  DB_BREAKER_HALF_OPEN_MS: Int(
    10_000,
    100,
    600_000,
    "How long an open circuit waits before a trial call.",
  ),
  LOG_LEVEL: T.Union(
    ["fatal", "error", "warn", "info", "debug", "trace", "silent"].map((l) =>
      T.Literal(l),
    ),
    {
      default: "info",
      description: "fatal, error, warn, info, debug, trace or silent.",
    },
  ),
  MAX_BODY_BYTES: Int(
    65_536,
    1024,
    10_485_760,
    "Largest accepted request body; larger gets 413.",
  ),
  SHUTDOWN_TIMEOUT_MS: Int(
    10_000,
    0,
    300_000,
    "How long SIGTERM waits for in-flight requests.",
  ),
  TRUST_PROXY: T.Boolean({
    default: false,
    description:
      "Take the client IP from X-Forwarded-For (only behind a trusted proxy).",
  }),
  ISSUER: T.String({
    default: "",
    description: "JWT `iss` and OIDC issuer URL; defaults to http://HOST:PORT.",
  }),
  AUDIENCE: T.String({
    default: "authd",
    minLength: 1,
    description: "JWT `aud` of access tokens.",
  }),
  ACCESS_TOKEN_TTL: Int(
    900,
    60,
    86_400,
    "Access-token lifetime in seconds (15 minutes).",
  ),
  REFRESH_TOKEN_IDLE_TTL: Int(
    2_592_000,
    300,
    31_536_000,
    "A refresh token unused this many seconds expires (30 days).",
  ),
  REFRESH_TOKEN_ABSOLUTE_TTL: Int(
    7_776_000,
    300,
    31_536_000,
    "A session ends this many seconds after login, used or not (90 days).",
  ),
  REFRESH_REUSE_INTERVAL: Int(
    10,
    0,
    300,
    "Seconds in which a repeated refresh returns the same successor.",
  ),
  SIGNING_ALG: T.Union([T.Literal("EdDSA"), T.Literal("ES256")], {
    default: "EdDSA",
    description: "Algorithm of new signing keys: EdDSA (Ed25519) or ES256 (P-256).",
  }),
  KEY_ENCRYPTION_KEY: T.String({
    default: "",
    pattern: "^$|^[A-Za-z0-9+/_-]{43}=?$",
    description:
      "Base64 32-byte key that encrypts signing keys at rest; required on PostgreSQL, on SQLite a 0600 file beside the database is made when unset.",
  }),
  KEY_REFRESH_INTERVAL: Int(
    10,
    1,
    300,
    "Seconds between reloads of the signing keys from storage.",
  ),
  JWKS_MAX_AGE: Int(
    300,
    0,
    3600,
    "Cache-Control max-age of the JWKS; with KEY_REFRESH_INTERVAL, the least time between rotations.",
  ),
  REGISTRATION_OPEN: T.Boolean({
    default: true,
    description: "Allow POST /auth/register.",
  }),
  PASSWORD_MIN_LENGTH: Int(8, 8, 256, "Shortest accepted password, in code points."),
  PASSWORD_MAX_LENGTH: Int(256, 64, 4096, "Longest accepted password, in code points."),
  ARGON2_MEMORY_KIB: Int(
    19_456,
    1024,
    1_048_576,
    "argon2id memory cost in KiB (OWASP: 19 MiB).",
  ),
  ARGON2_TIME_COST: Int(2, 1, 20, "argon2id iterations (OWASP: 2)."),
  HASH_CONCURRENCY: Int(
    0,
    0,
    256,
    "Password hashes computed at once; 0 means one per CPU.",
  ),
});

export type Config = Readonly<
  Static<typeof ConfigSchema> & {
    /** Derived: which storage the URL names. */
    dialect: "sqlite" | "pg";
    /** Derived: the SQLite path (or ":memory:"), empty on PostgreSQL. */
    sqlitePath: string;
    /** Derived: ISSUER was not set and names the listening address instead. */
    issuerIsDefault: boolean;
  }
>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join("; ")}`);
    this.name = "ConfigError";
  }
}

const keys = Object.keys(
  ConfigSchema.properties,
) as (keyof typeof ConfigSchema.properties)[];

/**
 * Reads, converts and validates the settings once. Empty strings count as unset.
 * Throws a ConfigError that lists every bad key, never just the first: schema
 * and cross-field problems together, secret values masked.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
): Config {
  const raw: Record<string, string> = {};
  for (const key of keys) {
    const value = env[key]?.trim();
    if (value) raw[key] = value;
  }
  // Default and Convert mutate their input; `raw` stays as typed, for the report.
  const converted = Value.Convert(
    ConfigSchema,
    Value.Default(ConfigSchema, { ...raw }),
  );
  const bad = new Map<string, string>();
  const report = (key: string, message?: string) => {
    if (bad.has(key)) return;
    const prop: TSchema | undefined =
      ConfigSchema.properties[key as (typeof keys)[number]];
    bad.set(
      key,
      message
        ? `${key}: ${message}`
        : `${key}=${JSON.stringify(shown(key, raw[key] ?? ""))}: ${prop?.description ?? "is invalid"}`,
    );
  };
  for (const e of Value.Errors(ConfigSchema, converted))
    report(e.path.replace(/^\//, ""));
  // Convert truncates "3000.5" to 3000; a setting that is not a whole number is refused.
  for (const key of keys) {
    const value = raw[key];
    if (value !== undefined && ConfigSchema.properties[key].type === "integer") {
      if (!/^\d+$/.test(value)) report(key);
    }
  }

  const c = converted as Static<typeof ConfigSchema>;
  const valid = (...ks: string[]) => ks.every((k) => !bad.has(k));
  const dialect = c.DATABASE_URL.startsWith("sqlite:") ? "sqlite" : "pg";
  if (valid("DATABASE_URL") && dialect === "pg") {
    if (valid("KEY_ENCRYPTION_KEY") && !c.KEY_ENCRYPTION_KEY) {
      report("KEY_ENCRYPTION_KEY", "required with PostgreSQL (every daemon needs it)");
    }
    try {
      new URL(c.DATABASE_URL);
    } catch {
      report("DATABASE_URL", "not a valid postgres:// URL");
    }
  }
  if (
    valid("PASSWORD_MIN_LENGTH", "PASSWORD_MAX_LENGTH") &&
    c.PASSWORD_MIN_LENGTH > c.PASSWORD_MAX_LENGTH
  ) {
    report("PASSWORD_MIN_LENGTH", "larger than PASSWORD_MAX_LENGTH");
  }
  if (
    valid("REFRESH_TOKEN_IDLE_TTL", "REFRESH_TOKEN_ABSOLUTE_TTL") &&
    c.REFRESH_TOKEN_IDLE_TTL > c.REFRESH_TOKEN_ABSOLUTE_TTL
  ) {
    report("REFRESH_TOKEN_IDLE_TTL", "larger than REFRESH_TOKEN_ABSOLUTE_TTL");
  }
  if (bad.size > 0) throw new ConfigError([...bad.values()]);

  return Object.freeze({
    ...c,
    ISSUER: c.ISSUER || `http://${c.HOST}:${c.PORT}`,
    issuerIsDefault: !c.ISSUER,
    HASH_CONCURRENCY: c.HASH_CONCURRENCY || availableParallelism(),
    dialect,
    sqlitePath: dialect === "sqlite" ? c.DATABASE_URL.slice("sqlite:".length) : "",
  });
}

/** Settings whose values are never printed. */
export const SECRET_KEYS: ReadonlySet<string> = new Set([
  "KEY_ENCRYPTION_KEY",
  "DATABASE_URL",
]);

/** The effective settings with secrets masked, for `authctl config check`. */
export function redactedConfig(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of keys) out[key] = shown(key, config[key]);
  return out;
}

/** A value as it may be printed: secrets masked, credentials cut from URLs. */
function shown(key: string, value: unknown): unknown {
  if (key === "DATABASE_URL") return String(value).replace(/\/\/([^@/]*)@/, "//***@");
  return SECRET_KEYS.has(key) && value ? "***" : value;
}

/** One line per setting, for `.env.example` and the README (kept in step by a test). */
export function describeSettings(): {
  key: string;
  default: unknown;
  description: string;
}[] {
  return keys.map((key) => {
    const prop = ConfigSchema.properties[key] as TSchema;
    return { key, default: prop.default, description: String(prop.description ?? "") };
  });
}
