/**
 * Human-readable log lines for `npm run dev` on a terminal: pino's JSON
 * object becomes `12:00:01.234 INFO  listening url=http://…`, coloured by
 * level. Dependency-free on purpose (pino-pretty would be one more package
 * for a development nicety); production logs stay JSON.
 */
import type { DestinationStream } from "pino";

const COLOURS: Record<string, string> = {
  trace: "\x1b[90m",
  debug: "\x1b[36m",
  info: "\x1b[32m",
  warn: "\x1b[33m",
  error: "\x1b[31m",
  fatal: "\x1b[35m",
};
const RESET = "\x1b[0m";
const DIM = "\x1b[2m";

// Fields every line has, shown in the line's head instead of as key=value.
const HEAD = new Set(["level", "time", "msg", "service", "err"]);

const show = (v: unknown): string =>
  typeof v === "string" && !/[\s"=]/.test(v) && v !== "" ? v : JSON.stringify(v);

/** One JSON log line → one readable line (plus an error's stack, indented). */
export function formatLine(json: string, colour = true): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith("\n") ? json : `${json}\n`;
  }
  const level = String(entry.level ?? "info");
  const time = typeof entry.time === "string" ? entry.time.slice(11, 23) : "";
  const fields = Object.entries(entry)
    .filter(([k]) => !HEAD.has(k))
    .map(([k, v]) => `${k}=${show(v)}`)
    .join(" ");
  const label = level.toUpperCase().padEnd(5);
  const head = colour
    ? `${DIM}${time}${RESET} ${COLOURS[level] ?? ""}${label}${RESET}`
    : `${time} ${label}`;
  let line = `${head} ${entry.msg ?? ""}${fields ? ` ${colour ? DIM : ""}${fields}${colour ? RESET : ""}` : ""}\n`;
  const err = entry.err as { stack?: unknown; message?: unknown } | undefined;
  if (err) line += `  ${String(err.stack ?? err.message).replace(/\n/g, "\n  ")}\n`;
  return line;
}

/** A pino destination that writes formatted lines to stdout, synchronously. */
export function prettyDestination(): DestinationStream {
  return {
    write(chunk: string) {
      for (const json of chunk.split("\n")) {
        if (json) process.stdout.write(formatLine(json));
      }
    },
  };
}
