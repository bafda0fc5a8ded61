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
 * Lines are written once this much is pending (~150 access lines; counted in
 * characters, which for these lines are bytes but for what a path brings)…
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
 * Lines are gathered here as one string until LOG_BUFFER_BYTES of them are
 * pending, then encoded once and handed to sonic-boom, which writes them
 * without blocking (and, while a write is in flight, queues the next chunk).
 * Encoding each line on its own (`Buffer.from` per line) was a twentieth of
 * GET /users/me in the profile; sonic-boom holding strings appended each line
 * to its pending chunk and measured the chunk's byte length again on every
 * write (a tenth, docs/performance.md). So sonic-boom only ever sees whole
 * chunks, as Buffers (`contentMode: "buffer"`). A timer hands over what is
 * pending every LOG_FLUSH_MS, and every flush (ours, and pino's exit hook)
 * hands it over before writing.
 */
export function stdoutDestination(): pino.DestinationStream & Flushable {
  const boom = pino.destination({
    dest: 1,
    sync: false,
    // Chunks come whole from here, so sonic-boom writes each at once; but at
    // 0 its flush() answers at once, without waiting for a write in flight,
    // and the flushSync() after it would put the later lines first.
    minLength: 1,
    maxWrite: LOG_MAX_WRITE_BYTES,
    contentMode: "buffer",
  } as Parameters<typeof pino.destination>[0]) as unknown as Required<Flushable> & {
    write(chunk: Buffer): boolean;
  };
  let pending = "";
  const handOver = () => {
    if (pending.length === 0) return;
    const chunk = Buffer.from(pending);
    pending = "";
    boom.write(chunk);
  };
  setInterval(handOver, LOG_FLUSH_MS).unref();
  // Whoever writes sonic-boom out (flushLogs, or pino's own hook on `exit`
  // and `beforeExit`, which calls these two) first gets what is pending here.
  const flush = boom.flush.bind(boom);
  const flushSync = boom.flushSync.bind(boom);
  boom.flush = (cb?: (err?: Error) => void) => {
    handOver();
    flush(cb);
  };
  boom.flushSync = () => {
    handOver();
    flushSync();
  };
  return {
    write: (line: string) => {
      pending += line;
      if (pending.length >= LOG_BUFFER_BYTES) handOver();
    },
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

/** What the access line of one request says (none of it can hold a secret). */
export interface AccessFields {
  request_id: string;
  method: string;
  /** The route's name; null for a path no route has. */
  route: string | null;
  /** The path, without the query string. */
  path: string;
  status: number;
  duration_ms: number;
}

/**
 * The writer of the one access line per request, or undefined when `logger`'s
 * level leaves `info` out. The line is the one `logger.info(fields,
 * "request")` would write (the same keys in the same order, the same time
 * format, on the same stream: tests/foundation/logging.test.ts compares the
 * two), formatted here instead of by pino: under Bun pino encodes every key
 * and every string value with its own `JSON.stringify` (eleven calls a line),
 * walks the redaction paths, and formats the time anew for each line. Here
 * the fixed part is written once, the time once per millisecond, and only
 * the four strings a request brings are encoded. No redaction is needed: the
 * fields are fixed and never hold a secret.
 */
export function accessLogger(
  logger: Logger,
): ((fields: AccessFields) => void) | undefined {
  const stream = (
    logger as unknown as Record<symbol, pino.DestinationStream | undefined>
  )[pino.symbols.streamSym];
  if (!stream || !logger.isLevelEnabled("info")) return undefined;
  const base = JSON.stringify(shape.base).slice(1, -1);
  let ms = Number.NaN;
  let head = "";
  return (f) => {
    const now = Date.now();
    if (now !== ms) {
      ms = now;
      head = `{"level":"info","time":"${new Date(now).toISOString()}",${base},"request_id":`;
    }
    stream.write(
      `${head}${JSON.stringify(f.request_id)},"method":${JSON.stringify(f.method)},"route":${f.route === null ? "null" : JSON.stringify(f.route)},"path":${JSON.stringify(f.path)},"status":${f.status},"duration_ms":${f.duration_ms},"msg":"request"}\n`,
    );
  };
}
