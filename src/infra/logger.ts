/**
 * pino, one JSON object per line on stdout. Redaction is the last line of
 * defence: code never logs secrets on purpose, and these paths catch the
 * places they could slip in (headers, bodies, token fields).
 */
import pino, { type Logger } from "pino";

export type { Logger };

export const REDACT_PATHS = [
  "authorization",
  "*.authorization",
  "headers.authorization",
  "headers.cookie",
  "*.headers.authorization",
  "password",
  "*.password",
  "new_password",
  "*.new_password",
  "current_password",
  "*.current_password",
  "access_token",
  "*.access_token",
  "refresh_token",
  "*.refresh_token",
  "token",
  "*.token",
  "passwordHash",
  "*.passwordHash",
  "password_hash",
  "*.password_hash",
  "KEY_ENCRYPTION_KEY",
];

export function createLogger(
  level: string,
  destination: pino.DestinationStream = pino.destination({ sync: true }),
): Logger {
  return pino(
    {
      level,
      base: { service: "authd" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    },
    destination,
  );
}
