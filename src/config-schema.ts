/**
 * Every setting of the daemon and authctl, declared once: its type, default,
 * bounds and a one-line description. The description doubles as the
 * `.env.example` comment and the README table (src/config.ts reads and checks
 * the environment against it).
 */
import { Type as T } from "@sinclair/typebox";

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
    "A PostgreSQL call that takes longer fails with 503 (SQLite calls are synchronous).",
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
    "Password hashes computed at once; 0 means one less than the CPUs (at least 1), leaving the event loop a core.",
  ),
  HASH_QUEUE_MAX: Int(
    32,
    1,
    100_000,
    "Password hashes that may wait for a free slot; past it the request gets 503 unavailable with Retry-After.",
  ),
  TOKEN_CACHE_SIZE: Int(
    10_000,
    0,
    1_000_000,
    "Verified access tokens remembered until they expire, so a repeat skips the signature check (0 = off).",
  ),

  // Abuse protection (API.md "Abuse protection"): budgets live in the database.
  RATE_LIMIT_WINDOW: Int(
    60,
    1,
    86_400,
    "Window in seconds of the per-IP request budget.",
  ),
  RATE_LIMIT_PER_IP: Int(
    60,
    0,
    1_000_000,
    "POSTs to /auth/* and /oauth/* from one IP per window (0 = off).",
  ),
  LOGIN_FAILURES_PER_ACCOUNT_IP: Int(
    5,
    0,
    10_000,
    "Failed logins for one account from one IP per LOGIN_FAILURE_WINDOW (0 = off).",
  ),
  LOGIN_FAILURES_PER_ACCOUNT: Int(
    50,
    0,
    1_000_000,
    "Failed logins for one account from all IPs per LOGIN_FAILURE_WINDOW, except IPs that signed in to it within 30 days (0 = off).",
  ),
  LOGIN_FAILURE_WINDOW: Int(
    900,
    1,
    86_400,
    "Window in seconds of the failed-login budgets.",
  ),
  BREACHED_PASSWORD_CHECK: T.Union([T.Literal("off"), T.Literal("hibp")], {
    default: "off",
    description:
      "hibp: refuse passwords found in Have I Been Pwned (k-anonymity range API); off: no check.",
  }),
  HIBP_URL: T.String({
    default: "https://api.pwnedpasswords.com",
    pattern: "^https?://[^\\s]+$",
    description: "Base URL of the Have I Been Pwned range API.",
  }),
  HIBP_TIMEOUT_MS: Int(
    1500,
    100,
    30_000,
    "How long a breached-password lookup may take before the password is accepted anyway.",
  ),
  CORS_ORIGINS: T.String({
    default: "",
    description:
      "Comma-separated exact origins allowed to call the API from a browser (default none).",
  }),

  // Email flows (API.md "Email flows"): mail goes through the outbox table.
  SMTP_URL: T.String({
    default: "",
    pattern: "^$|^smtps?://.+$",
    description:
      "smtp://user:pass@host:port or smtps://…; unset = mail is written to the log (development).",
  }),
  MAIL_FROM: T.String({
    default: "authd <no-reply@localhost>",
    minLength: 3,
    description: "Sender of every mail.",
  }),
  PRODUCT_NAME: T.String({
    default: "authd",
    minLength: 1,
    maxLength: 100,
    description: "Product name used in mail subjects and bodies.",
  }),
  PUBLIC_URL: T.String({
    default: "",
    pattern: "^$|^https?://[^\\s]+$",
    description:
      "Base of the links in mails (never taken from a request); defaults to ISSUER.",
  }),
  RESET_TOKEN_TTL: Int(1800, 60, 86_400, "Seconds a password-reset token lives."),
  VERIFY_TOKEN_TTL: Int(
    86_400,
    60,
    2_592_000,
    "Seconds an email-verification token lives.",
  ),
  REQUIRE_EMAIL_VERIFICATION: T.Boolean({
    default: false,
    description: "Refuse login (403) until the email is verified.",
  }),
  OUTBOX_MAX_BACKOFF: Int(
    60,
    1,
    86_400,
    "Longest wait in seconds between two delivery attempts of one mail.",
  ),
  MAIL_PER_ADDRESS_PER_HOUR: Int(
    5,
    0,
    1000,
    "Mails of one kind to one address per hour; past it nothing is sent (0 = no limit).",
  ),

  // Administration and operations.
  AUDIT_RETENTION_DAYS: Int(
    365,
    1,
    36_500,
    "Days audit events are kept; older ones are deleted by `authctl audit prune`.",
  ),
  METRICS_ENABLED: T.Boolean({
    default: true,
    description:
      "Serve GET /metrics and count requests for it; false turns both off (the route answers 404).",
  }),
  METRICS_TOKEN: T.String({
    default: "",
    description:
      "When set, GET /metrics wants `Authorization: Bearer <METRICS_TOKEN>`.",
  }),
});
