/**
 * How authctl speaks: tables for people, JSON for scripts, one sentence per
 * error, and exit codes 0 (success), 1 (failure), 2 (usage), 130 (Ctrl-C).
 */
import { AuthError } from "../src/core/errors.ts";
import { describeStorageError } from "../src/infra/resilience.ts";
import { StartupError } from "../src/infra/startup-error.ts";

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** A usage error: exit 2. */
export const usage = (message: string) => new CliError(message, 2);

export interface GlobalOptions {
  json?: boolean;
  verbose?: boolean;
}

type Cell = string | number | boolean | null | undefined | Date | string[];

const cell = (v: Cell): string => {
  if (v === null || v === undefined) return "-";
  if (v instanceof Date) return v.toISOString().replace(/\.\d{3}Z$/, "Z");
  if (Array.isArray(v)) return v.join(",");
  return String(v);
};

/** A plain, aligned table (kubectl style: upper-case headers, no borders). */
export function table(rows: Record<string, Cell>[], columns: string[]): string {
  const head = columns.map((c) => c.toUpperCase().replace(/_/g, " "));
  const body = rows.map((r) => columns.map((c) => cell(r[c])));
  const widths = head.map((h, i) =>
    Math.max(h.length, ...body.map((r) => r[i]?.length ?? 0)),
  );
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(head), ...body.map(line)].join("\n");
}

/** Prints `data` as JSON with --json, else the human form. */
export function print(opts: GlobalOptions, data: unknown, human: () => string): void {
  process.stdout.write(
    `${opts.json ? JSON.stringify(jsonable(data), null, 2) : human()}\n`,
  );
}

// createdAt → created_at; DATABASE_URL → database_url (not _d_a_t_a_b_a_s_e__u_r_l).
const snake = (key: string) => key.replace(/([a-z\d])([A-Z])/g, "$1_$2").toLowerCase();

/** The --json shape: snake_case keys and ISO dates, as the HTTP API writes them. */
export function jsonable(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(jsonable);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [snake(k), jsonable(v)]),
    );
  }
  return value;
}

/** One clear sentence for an error, and the exit code it means. */
export function describeError(err: unknown): { message: string; exitCode: number } {
  if (err instanceof CliError) return { message: err.message, exitCode: err.exitCode };
  if (err instanceof StartupError) return { message: err.message, exitCode: 1 };
  if (err instanceof AuthError) {
    const fields = err.errors?.map((e) => `${e.path.replace(/^\//, "")} ${e.message}`);
    // "storage is unavailable" alone does not tell an operator what to fix.
    const cause =
      err.code === "unavailable" && err.cause ? `: ${driverMessage(err.cause)}` : "";
    return {
      message: fields?.length ? fields.join("; ") : `${err.message}${cause}`,
      exitCode: 1,
    };
  }
  if (err instanceof Error && err.name === "ExitPromptError") {
    return { message: "cancelled", exitCode: 130 };
  }
  return { message: driverMessage(err), exitCode: 1 };
}

/**
 * The innermost cause's first line: Drizzle's "Failed query: … params: …" wrapper
 * hides the driver's reason and can carry password hashes, so it is never shown.
 */
const driverMessage = (err: unknown): string =>
  describeStorageError(err).message.split("\n")[0] ?? "";

/** A command's help ends with examples (`authctl … --help`). */
export const examples = (...lines: string[]): string =>
  `\nExamples:\n${lines.map((l) => `  ${l}`).join("\n")}`;
