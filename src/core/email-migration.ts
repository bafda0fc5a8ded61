/**
 * The data step that brings stored emails to the normal form of ./email.ts
 * (NFKC, IDNA, the script rules) — which SQL cannot compute, so it is not a
 * migration file. It rewrites what it safely can and reports the rest; it
 * never merges two accounts:
 *
 * - `renamed`: the normal form was free; the row now holds it (audited as
 *   `user.email_normalized`).
 * - `collisions`: another account already holds the normal form (`Ａda@…`
 *   beside `ada@…`). Both are left as they are for an operator to resolve.
 * - `invalid`: the stored address cannot be normalised at all (mixed scripts,
 *   invisible characters, a bad domain). Left as it is; its owner can still
 *   sign in with it (see `lookupEmail`).
 *
 * The daemon runs it with `apply` at every start (a no-op once done); `authctl
 * doctor` runs it without, to list what needs an operator.
 */
import { createAuditor } from "./audit.ts";
import { checkEmail } from "./email.ts";
import type { AuditStore, Clock, UserStore } from "./ports.ts";

export interface EmailReport {
  applied: boolean;
  /** Rows rewritten to their normal form (or that would be, when not applied). */
  renamed: { id: string; from: string; to: string }[];
  collisions: {
    id: string;
    email: string;
    normalized: string;
    holderId: string | null;
  }[];
  invalid: { id: string; email: string; problem: string }[];
}

export interface EmailMigrationDeps {
  users: UserStore;
  audit: AuditStore;
  clock: Clock;
  newId: () => string;
}

/** Rows read per query: the scan is linear and never holds a transaction open. */
const PAGE = 500;

/** Scans every user once; with `apply`, rewrites the emails that can be. */
export async function reconcileEmails(
  deps: EmailMigrationDeps,
  options: { apply: boolean },
): Promise<EmailReport> {
  const report: EmailReport = {
    applied: options.apply,
    renamed: [],
    collisions: [],
    invalid: [],
  };
  // Normal forms claimed during this scan (a dry run renames nothing, so two
  // legacy spellings of one address must collide here, not in the database).
  const claimed = new Map<string, string>();
  const audit = createAuditor(deps.audit, deps.clock, deps.newId);
  let afterId: string | undefined;
  for (;;) {
    const page = await deps.users.listUsers({
      limit: PAGE,
      ...(afterId ? { afterId } : {}),
    });
    for (const user of page) {
      const check = checkEmail(user.email);
      if (!check.ok) {
        report.invalid.push({ id: user.id, email: user.email, problem: check.problem });
        continue;
      }
      if (check.email === user.email) continue;
      const to = check.email;
      const holder: string | null =
        claimed.get(to) ?? (await deps.users.findUserByEmail(to))?.id ?? null;
      if (holder !== null && holder !== user.id) {
        report.collisions.push({ ...collision(user, to), holderId: holder });
        continue;
      }
      if (options.apply) {
        const now = deps.clock.now();
        const outcome = await deps.users.renameUserEmail(user.id, user.email, to, now);
        if (outcome === "taken") {
          const taken = await deps.users.findUserByEmail(to);
          report.collisions.push({
            ...collision(user, to),
            holderId: taken?.id ?? null,
          });
          continue;
        }
        if (outcome === "changed") continue; // changed or deleted meanwhile
        await audit({ actorId: "system" }, "user.email_normalized", {
          userId: user.id,
          detail: { from: user.email, to },
        });
      }
      claimed.set(to, user.id);
      report.renamed.push({ id: user.id, from: user.email, to });
    }
    if (page.length < PAGE) break;
    afterId = page.at(-1)?.id;
  }
  return report;
}

const collision = (user: { id: string; email: string }, normalized: string) => ({
  id: user.id,
  email: user.email,
  normalized,
});
