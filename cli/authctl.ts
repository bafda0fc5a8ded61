#!/usr/bin/env bun
/**
 * authctl — the operator's CLI. Every command builds the same container as
 * the daemon (src/container.ts) and calls the core; none has SQL of its own.
 * Exit codes: 0 success, 1 failure, 2 usage or configuration error, 130 Ctrl-C.
 */
import { Command, CommanderError } from "commander";
import { registerAdmin } from "./commands/admin.ts";
import { registerAudit } from "./commands/audit.ts";
import { registerDiagnose } from "./commands/diagnose.ts";
import { registerKeys } from "./commands/keys.ts";
import { registerMigrate } from "./commands/migrate.ts";
import { registerOutbox } from "./commands/outbox.ts";
import { registerSessions } from "./commands/sessions.ts";
import { registerUsers } from "./commands/users.ts";
import { describeError } from "./output.ts";

export function buildProgram(): Command {
  const program = new Command("authctl")
    .description(
      "Operate an authd deployment: migrations, admins, users, sessions, signing keys, audit log, mail outbox.",
    )
    .option("--json", "print machine-readable JSON instead of tables")
    .option("--verbose", "print stack traces on errors")
    // Usage errors read like every other error: "authctl: unknown option …",
    // not commander's "error: …". Subcommands inherit this when created.
    .configureOutput({
      outputError: (text, write) => write(`authctl: ${text.replace(/^error: /, "")}`),
    })
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText(
      "after",
      `
Configuration comes from the environment (and .env), exactly as for the daemon:
DATABASE_URL, KEY_ENCRYPTION_KEY, …  See \`authctl config check\`.

Examples:
  authctl migrate up
  authctl admin create --email root@example.com --password-stdin <<<"$PASSWORD"
  authctl users list --role admin --json
  authctl keys rotate
  authctl audit list --since 24h
  authctl outbox list --status failed
  authctl doctor`,
    );
  registerMigrate(program);
  registerAdmin(program);
  registerUsers(program);
  registerSessions(program);
  registerKeys(program);
  registerAudit(program);
  registerOutbox(program);
  registerDiagnose(program);
  // Every (sub)command: usage errors throw instead of exiting, so we pick the code.
  const override = (cmd: Command) => {
    cmd.exitOverride();
    for (const sub of cmd.commands) override(sub);
  };
  override(program);
  return program;
}

async function main(argv: string[]): Promise<number> {
  const verbose = argv.includes("--verbose");
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and --version are successes; anything else commander rejects is usage.
      return err.exitCode === 0 ? 0 : 2;
    }
    const { message, exitCode } = describeError(err);
    process.stderr.write(`authctl: ${message}\n`);
    if (verbose && err instanceof Error && err.stack) {
      // Drizzle puts query parameters (password hashes among them) in its messages.
      process.stderr.write(
        `${err.stack.replace(/^params: .*$/gm, "params: [redacted]")}\n`,
      );
    }
    return exitCode;
  }
}

process.on("SIGINT", () => process.exit(130));
process.exit(await main(process.argv));
