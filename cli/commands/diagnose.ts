/** authctl config check, authctl doctor */
import type { Command } from "commander";
import { redactedConfig } from "../../src/config.ts";
import type { EmailReport } from "../../src/core/email-migration.ts";
import { migrationStatus } from "../../src/db/migrate.ts";
import { StartupError } from "../../src/infra/startup-error.ts";
import { readConfig, withContainer } from "../context.ts";
import {
  CliError,
  describeError,
  type GlobalOptions,
  print,
  table,
} from "../output.ts";

interface Check {
  check: string;
  ok: boolean;
  detail: string;
  /** The rows behind a failed check, for --json. */
  items?: unknown[];
}

/**
 * Stored emails that the daemon's data step left alone: they collide with
 * another account once normalised, or cannot be normalised at all. Only an
 * operator can decide which account keeps an address, so this fails.
 */
function emailCheck(report: EmailReport): Check {
  const items = [
    ...report.collisions.map((c) => ({
      user_id: c.id,
      email: c.email,
      problem: `collides with ${c.holderId ?? "another account"} as ${c.normalized}`,
    })),
    ...report.invalid.map((i) => ({
      user_id: i.id,
      email: i.email,
      problem: i.problem,
    })),
  ];
  if (items.length > 0)
    return {
      check: "emails",
      ok: false,
      detail: `${items.length} need an operator: ${items
        .map((i) => `${i.email} (${i.user_id}) ${i.problem}`)
        .join("; ")}`,
      items,
    };
  const pending = report.renamed.length;
  return {
    check: "emails",
    ok: true,
    detail: pending
      ? `${pending} will be normalised at the next daemon start`
      : "all normalised",
  };
}

/** The configuration as doctor's first check: a bad setting fails it (exit 1). */
function configCheck(): Check {
  try {
    readConfig();
    return { check: "config", ok: true, detail: "valid" };
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    return { check: "config", ok: false, detail: e.message };
  }
}

export function registerDiagnose(program: Command): void {
  const config = program.command("config").description("inspect the configuration");
  config
    .command("check")
    .description(
      "validate the environment like the daemon does; print it, secrets redacted",
    )
    .addHelpText(
      "after",
      "\nExamples:\n  authctl config check\n  PORT=abc authctl config check   # exit 2",
    )
    .action((_opts, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions>();
      const settings = redactedConfig(readConfig());
      print(o, settings, () =>
        table(
          Object.entries(settings).map(([setting, value]) => ({
            setting,
            value: String(value),
          })),
          ["setting", "value"],
        ),
      );
    });

  program
    .command("doctor")
    .description(
      "check the database connection, migrations, signing keys, emails and the mail outbox",
    )
    .addHelpText("after", "\nExamples:\n  authctl doctor\n  authctl doctor --json")
    .action(async (_opts, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions>();
      const checks: Check[] = [configCheck()];
      // Without a valid configuration there is no database to look at.
      if (!checks[0]?.ok) return report(o, checks);
      await withContainer(
        async (c) => {
          const db = await c.store.ping().then(
            () => null,
            (e: unknown) => describeError(e).message,
          );
          checks.push({
            check: "database",
            ok: db === null,
            detail: db ?? c.config.dialect,
          });
          if (db !== null) return;
          const pending = (await migrationStatus(c.database)).filter((m) => !m.applied);
          checks.push({
            check: "migrations",
            ok: pending.length === 0,
            detail: pending.length
              ? `pending: ${pending.map((m) => m.name).join(", ")}`
              : "current",
          });
          if (pending.length) return;
          const keys = await c.keys.listKeys();
          const current = keys.find((k) => k.state === "current");
          const next = keys.find((k) => k.state === "next");
          checks.push({
            check: "signing keys",
            ok: Boolean(current && next),
            detail:
              current && next
                ? `current ${current.kid}, next ${next.kid}`
                : "missing: start the daemon or run `authctl keys rotate`",
          });
          if (current) {
            const opened = await c.keyring.refresh().then(
              () => c.keyring.state().signing !== null,
              () => false,
            );
            checks.push({
              check: "key encryption",
              ok: opened,
              detail: opened
                ? "the current private key opens"
                : "KEY_ENCRYPTION_KEY does not open the current key",
            });
          }
          const prunable = keys.filter(
            (k) => k.prunableAt && k.prunableAt <= c.clock.now(),
          );
          checks.push({
            check: "retired keys",
            ok: true,
            detail: `${prunable.length} ready to prune`,
          });
          checks.push(emailCheck(await c.reconcileEmails({ apply: false })));
          // Failed mail needs an operator (authctl outbox retry); pending is normal.
          const depth = await c.outbox.depth();
          checks.push({
            check: "outbox",
            ok: depth.failed === 0,
            detail: `${depth.pending} pending, ${depth.failed} failed${
              depth.failed ? ": see `authctl outbox list --status failed`" : ""
            }`,
          });
        },
        { anyMigrations: true },
      ).catch((e: unknown) => {
        // A database that does not exist (or a key file that cannot be read)
        // is a failed check like any other, not a crash of doctor itself.
        if (!(e instanceof StartupError)) throw e;
        checks.push({ check: "database", ok: false, detail: e.message });
      });
      report(o, checks);
    });
}

/** One line per check; exit 1 if any failed. */
function report(o: GlobalOptions, checks: Check[]): void {
  print(o, { ok: checks.every((x) => x.ok), checks }, () =>
    checks
      .map((x) => `${x.ok ? "ok  " : "FAIL"}  ${x.check.padEnd(14)} ${x.detail}`)
      .join("\n"),
  );
  if (!checks.every((x) => x.ok)) process.exitCode = 1;
}
