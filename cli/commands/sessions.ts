/** authctl sessions list|revoke --user USER [--id ID] */
import type { Command } from "commander";
import { CLI_ACTOR, withContainer } from "../context.ts";
import { examples, type GlobalOptions, print, table } from "../output.ts";

export function registerSessions(program: Command): void {
  const sessions = program
    .command("sessions")
    .description("list or end a user's sessions")
    .addHelpText(
      "after",
      `
Examples:
  authctl sessions list --user ada@example.com
  authctl sessions revoke --user ada@example.com            # every session
  authctl sessions revoke --user ada@example.com --id 0192…  # one session`,
    );

  sessions
    .command("list")
    .description("a user's live sessions, most recently used first")
    .addHelpText(
      "after",
      examples(
        "authctl sessions list --user ada@example.com",
        "authctl sessions list --user 0192… --json",
      ),
    )
    .requiredOption("--user <user>", "email or id")
    .action(async (opts: { user: string }, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions>();
      const list = await withContainer((c) => c.userAdmin.listSessions(opts.user));
      print(o, list, () =>
        list.length
          ? table(
              list.map((s) => ({
                id: s.id,
                created: s.createdAt,
                last_used: s.lastUsedAt,
                expires: s.expiresAt,
                ip: s.ip,
                user_agent: s.userAgent,
              })),
              ["id", "created", "last_used", "expires", "ip", "user_agent"],
            )
          : "no live sessions",
      );
    });

  sessions
    .command("revoke")
    .description("end one session (--id) or all sessions of a user")
    .addHelpText(
      "after",
      examples(
        "authctl sessions revoke --user ada@example.com",
        "authctl sessions revoke --user ada@example.com --id 0192…",
      ),
    )
    .requiredOption("--user <user>", "email or id")
    .option("--id <id>", "only this session")
    .action(async (opts: { user: string; id?: string }, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions>();
      const revoked = await withContainer((c) =>
        c.userAdmin.revokeSessions(opts.user, CLI_ACTOR, opts.id),
      );
      print(o, { revoked }, () => `revoked ${revoked} session(s)`);
    });
}
