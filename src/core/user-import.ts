/**
 * Importing users (`authctl users import`), all or nothing: every line is
 * checked first, and if any is rejected nothing is written. Existing emails
 * are skipped, so a re-run of the same file is a no-op.
 */
import type { Auditor } from "./audit.ts";
import { AuthError } from "./errors.ts";
import type { Actor, UserRecord, UserStore } from "./ports.ts";
import type { NewUserInput } from "./users.ts";

export interface ImportResult {
  created: string[];
  skipped: string[];
  rejected: { line: number; reason: string }[];
}

export interface UserImportDeps {
  users: Pick<UserStore, "insertUsersIfAbsent">;
  audit: Auditor;
  /** Validates one input (email, roles, password or hash) into a record. */
  record: (input: NewUserInput) => Promise<UserRecord>;
}

/** Returns the import function; lines are validated like any other create. */
export function createUserImport(deps: UserImportDeps) {
  return async function importUsers(
    lines: { line: number; input: NewUserInput }[],
    actor: Actor,
    options: {
      /** Lines the caller could not even parse; they block the import too. */
      unparsable?: ImportResult["rejected"];
      onProgress?: (done: number, total: number) => void;
    } = {},
  ): Promise<ImportResult> {
    const rejected: ImportResult["rejected"] = [...(options.unparsable ?? [])];
    const records: UserRecord[] = [];
    const seen = new Set<string>();
    for (const [index, { line, input }] of lines.entries()) {
      options.onProgress?.(index, lines.length);
      try {
        const r = await deps.record(input);
        if (seen.has(r.email))
          throw new Error(`duplicate of an earlier line (${r.email})`);
        seen.add(r.email);
        records.push(r);
      } catch (e) {
        const reason =
          e instanceof AuthError && e.errors?.[0]
            ? `${e.errors[0].path.slice(1)} ${e.errors[0].message}`
            : (e as Error).message;
        rejected.push({ line, reason });
      }
    }
    options.onProgress?.(lines.length, lines.length);
    rejected.sort((a, b) => a.line - b.line);
    if (rejected.length > 0) return { created: [], skipped: [], rejected };
    const created = await deps.users.insertUsersIfAbsent(records);
    const createdSet = new Set(created);
    const skipped = records.filter((r) => !createdSet.has(r.email)).map((r) => r.email);
    await deps.audit(actor, "user.import", {
      detail: { created: created.length, skipped: skipped.length },
    });
    return { created, skipped, rejected };
  };
}
