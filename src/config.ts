/**
 * The only reader of the environment: converts and checks it against the
 * settings declared in src/config-schema.ts, derives what follows from them,
 * and prints them for `authctl config check` and `.env.example`.
 */
import { availableParallelism } from "node:os";
import type { Static, TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { ConfigSchema } from "./config-schema.ts";

export { ConfigSchema };

export type Config = Readonly<
  Static<typeof ConfigSchema> & {
    /** Derived: which storage the URL names. */
    dialect: "sqlite" | "pg";
    /** Derived: the SQLite path (or ":memory:"), empty on PostgreSQL. */
    sqlitePath: string;
    /** Derived: ISSUER was not set and names the listening address instead. */
    issuerIsDefault: boolean;
    /** Derived: CORS_ORIGINS as a list of origins (scheme://host[:port]). */
    corsOrigins: readonly string[];
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
  const corsOrigins = parseOrigins(c.CORS_ORIGINS);
  if (valid("CORS_ORIGINS") && typeof corsOrigins === "string") {
    report("CORS_ORIGINS", corsOrigins);
  }
  if (bad.size > 0) throw new ConfigError([...bad.values()]);

  return Object.freeze({
    ...c,
    ISSUER: c.ISSUER || `http://${c.HOST}:${c.PORT}`,
    PUBLIC_URL: (c.PUBLIC_URL || c.ISSUER || `http://${c.HOST}:${c.PORT}`).replace(
      /\/+$/,
      "",
    ),
    issuerIsDefault: !c.ISSUER,
    // Hashing on every core starves the event loop: leave it one.
    HASH_CONCURRENCY: c.HASH_CONCURRENCY || Math.max(1, availableParallelism() - 1),
    dialect,
    sqlitePath: dialect === "sqlite" ? c.DATABASE_URL.slice("sqlite:".length) : "",
    corsOrigins: Object.freeze(typeof corsOrigins === "string" ? [] : corsOrigins),
  });
}

/**
 * The allowlist as browsers send Origin: scheme://host[:port], lower-case, no
 * path. A trailing slash is forgiven; a wildcard or a path is refused, since
 * the contract allows exact origins only. Returns a problem as a string.
 */
function parseOrigins(value: string): string[] | string {
  const origins: string[] = [];
  for (const entry of value.split(",").map((e) => e.trim())) {
    if (!entry) continue;
    let url: URL | undefined;
    try {
      url = new URL(entry);
    } catch {}
    const origin = url?.origin;
    if (
      !url ||
      !/^https?:$/.test(url.protocol) ||
      !origin ||
      origin === "null" ||
      origin !== entry.replace(/\/$/, "").toLowerCase()
    ) {
      return `${JSON.stringify(entry)} is not an exact origin like https://app.example.com`;
    }
    origins.push(origin);
  }
  return origins;
}

/** Settings whose values are never printed. */
export const SECRET_KEYS: ReadonlySet<string> = new Set([
  "KEY_ENCRYPTION_KEY",
  "DATABASE_URL",
  "SMTP_URL",
  "METRICS_TOKEN",
]);

/** The effective settings with secrets masked, for `authctl config check`. */
export function redactedConfig(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of keys) out[key] = shown(key, config[key]);
  return out;
}

/** A value as it may be printed: secrets masked, credentials cut from URLs. */
function shown(key: string, value: unknown): unknown {
  if (key === "DATABASE_URL" || key === "SMTP_URL")
    return String(value).replace(/\/\/([^@/]*)@/, "//***@");
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
