/** authctl users import FILE: JSON Lines in, all or nothing. */
import { existsSync, readFileSync } from "node:fs";
import type { ImportResult, NewUserInput } from "../../src/core/users.ts";
import { CLI_ACTOR, withContainer } from "../context.ts";
import { CliError, type GlobalOptions, print } from "../output.ts";

const FIELDS = new Set(["email", "name", "roles", "password_hash"]);

type Parsed = { line: number; input: NewUserInput } | { line: number; reason: string };

function parseLine(text: string, line: number): Parsed {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { line, reason: "not valid JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { line, reason: "not a JSON object" };
  }
  const v = value as Record<string, unknown>;
  const unknown = Object.keys(v).filter((k) => !FIELDS.has(k));
  if (unknown.length)
    return { line, reason: `unknown field(s): ${unknown.join(", ")}` };
  if (typeof v.email !== "string") return { line, reason: "email is missing" };
  if (v.name !== undefined && v.name !== null && typeof v.name !== "string") {
    return { line, reason: "name must be a string" };
  }
  if (
    v.roles !== undefined &&
    !(Array.isArray(v.roles) && v.roles.every((r) => typeof r === "string"))
  ) {
    return { line, reason: "roles must be an array of strings" };
  }
  if (v.password_hash !== undefined && typeof v.password_hash !== "string") {
    return { line, reason: "password_hash must be a string" };
  }
  return {
    line,
    input: {
      email: v.email,
      name: (v.name as string | null | undefined) ?? null,
      roles: v.roles as string[] | undefined,
      passwordHash: v.password_hash as string | undefined,
    },
  };
}

function progressBar(): (done: number, total: number) => void {
  if (!process.stderr.isTTY) return () => {};
  return (done, total) => {
    const width = 30;
    const filled = total ? Math.round((done / total) * width) : width;
    process.stderr.write(
      `\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total}`,
    );
    if (done === total) process.stderr.write("\n");
  };
}

export async function importUsersFromFile(
  file: string,
  o: GlobalOptions,
): Promise<void> {
  if (!existsSync(file)) throw new CliError(`no such file: ${file}`);
  const parsed = readFileSync(file, "utf8")
    .split(/\r?\n/)
    .map((text, i) => ({ text: text.trim(), line: i + 1 }))
    .filter((l) => l.text.length > 0)
    .map((l) => parseLine(l.text, l.line));
  const lines = parsed.flatMap((p) => ("input" in p ? [p] : []));
  const unparsable = parsed.flatMap((p) => ("reason" in p ? [p] : []));
  const result: ImportResult = await withContainer((c) =>
    c.userAdmin.import(lines, CLI_ACTOR, { unparsable, onProgress: progressBar() }),
  );
  const summary = {
    created: result.created.length,
    skipped: result.skipped.length,
    rejected: result.rejected.length,
  };
  print(o, { summary, ...result }, () =>
    [
      `created ${summary.created}, skipped ${summary.skipped} (already present), rejected ${summary.rejected}`,
      ...result.rejected.map((r) => `  line ${r.line}: ${r.reason}`),
    ].join("\n"),
  );
  // The report above is the output; the failure is also said on stderr, like any other.
  if (summary.rejected > 0) {
    throw new CliError(
      `nothing was imported: ${summary.rejected} line(s) rejected; fix them and run again`,
    );
  }
}
