/**
 * How authctl speaks: tables for people, JSON for scripts, one sentence per
 * error, and exit codes 0 (success), 1 (failure), 2 (usage), 130 (Ctrl-C).
 */
import { AuthError } from "../src/core/errors.ts";

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

const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

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
  if (err instanceof AuthError) {
    const fields = err.errors?.map((e) => `${e.path.replace(/^\//, "")} ${e.message}`);
    return { message: fields?.length ? fields.join("; ") : err.message, exitCode: 1 };
  }
  if (err instanceof Error && err.name === "ExitPromptError") {
    return { message: "cancelled", exitCode: 130 };
  }
  return { message: err instanceof Error ? err.message : String(err), exitCode: 1 };
}
