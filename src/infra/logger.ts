/**
 * pino, one JSON object per line on stdout. Redaction is the last line of
 * defence: code never logs secrets on purpose, and these paths catch the
 * places they could slip in (headers, bodies, token fields).
 *
 * Stdout is written asynchronously through a buffer (sonic-boom): one
 * synchronous write(2) per access line cost half of GET /users/me
 * (docs/performance.md). The buffer is written out when it holds
 * LOG_BUFFER_BYTES, every LOG_FLUSH_MS, and on every way out of the process
 * (`flushLogs` on shutdown and fatal errors, pino's exit hook otherwise).
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

/**
 * Lines are written once this many bytes are buffered (~150 access lines)…
 * At 4 KiB the daemon made a write(2) every ~20 requests, and the access
 * line cost ~8 µs of a ~40 µs `GET /users/me` on SQLite; at 32 KiB, ~4 µs
 * (docs/performance.md, "The access line's buffer, again").
 */
const LOG_BUFFER_BYTES = 32 * 1024;
/** The most one write(2) may carry (sonic-boom needs it above the buffer size). */
const LOG_MAX_WRITE_BYTES = 64 * 1024;
/** …or after at most this many milliseconds, however quiet the daemon is. */
const LOG_FLUSH_MS = 100;

interface Flushable {
  flush?(cb?: (err?: Error) => void): void;
  flushSync?(): void;
}

/**
 * Stdout, buffered and written asynchronously (see the top of this file).
 * sonic-boom holds the lines as Buffers (`contentMode: "buffer"`): holding
 * strings, it appended each line to the pending chunk and measured the
 * chunk's byte length again on every write, flattening up to 16 KiB per line
 * while a write was in flight (a tenth of GET /users/me on PostgreSQL in the
 * profile, docs/performance.md). Encoding each line once is cheaper.
 */
export function stdoutDestination(): pino.DestinationStream & Flushable {
  const boom = pino.destination({
    dest: 1,
    sync: false,
    minLength: LOG_BUFFER_BYTES,
    maxWrite: LOG_MAX_WRITE_BYTES,
    periodicFlush: LOG_FLUSH_MS,
    contentMode: "buffer",
  } as Parameters<typeof pino.destination>[0]) as unknown as Required<Flushable> & {
    write(chunk: Buffer): boolean;
  };
  return {
    write: (line: string) => boom.write(Buffer.from(line)),
    flush: (cb?: (err?: Error) => void) => boom.flush(cb),
    flushSync: () => boom.flushSync(),
  };
}

/**
 * Writes out every buffered line before the process exits: waits for the
 * asynchronous writer to drain (bounded by `timeoutMs`), then writes whatever
 * is left synchronously. Safe on any logger, buffered or not.
 */
export async function flushLogs(logger: Logger, timeoutMs = 2000): Promise<void> {
  const stream = (logger as unknown as Record<symbol, Flushable>)[
    pino.symbols.streamSym
  ];
  if (!stream) return;
  if (typeof stream.flush === "function") {
    await Promise.race([
      new Promise<void>((resolve) => {
        try {
          stream.flush?.(() => resolve());
        } catch {
          resolve();
        }
      }),
      Bun.sleep(timeoutMs),
    ]);
  }
  try {
    stream.flushSync?.();
  } catch {
    // Not ready or already closed: nothing more can be written.
  }
}

const shape = {
  base: { service: "authd" },
  timestamp: pino.stdTimeFunctions.isoTime,
  formatters: { level: (label: string) => ({ level: label }) },
};

export function createLogger(
  level: string,
  destination: pino.DestinationStream = stdoutDestination(),
): Logger {
  return pino(
    { ...shape, level, redact: { paths: REDACT_PATHS, censor: "[redacted]" } },
    destination,
  );
}

/**
 * The logger of the one access line per request: the same level, format and
 * stream as `logger`, without redaction. Redaction re-walked its path list on
 * every line (an eighth of GET /users/me in the profile), and the access line
 * has fixed fields that never hold a secret: method, route, path without the
 * query, status, duration and request id.
 */
export function accessLogger(logger: Logger): Logger {
  const stream = (logger as unknown as Record<symbol, pino.DestinationStream>)[
    pino.symbols.streamSym
  ];
  return pino({ ...shape, level: logger.level }, stream);
}
