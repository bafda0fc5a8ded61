/** authctl migrate up | status */
import type { Command } from "commander";
import { migrateUp, migrationStatus } from "../../src/db/migrate.ts";
import { withContainer } from "../context.ts";
import { examples, type GlobalOptions, print, table } from "../output.ts";

export function registerMigrate(program: Command): void {
  const migrate = program
    .command("migrate")
    .description("apply or list database migrations")
    .addHelpText(
      "after",
      "\nExamples:\n  authctl migrate status\n  authctl migrate up --json",
    );

  migrate
    .command("up")
    .description("apply pending migrations (idempotent; safe when run twice at once)")
    .addHelpText("after", examples("authctl migrate up", "authctl migrate up --json"))
    .action(async (_opts, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions>();
      const applied = await withContainer((c) => migrateUp(c.database), {
        anyMigrations: true,
        createDatabase: true,
      });
      print(o, { applied }, () =>
        applied.length
          ? applied.map((m) => `applied ${m}`).join("\n")
          : "already up to date",
      );
    });

  migrate
    .command("status")
    .description("list migrations and whether each is applied")
    .addHelpText(
      "after",
      examples("authctl migrate status", "authctl migrate status --json"),
    )
    .action(async (_opts, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions>();
      const status = await withContainer((c) => migrationStatus(c.database), {
        anyMigrations: true,
      });
      // created_at in --json is an ISO instant like every other timestamp.
      const migrations = status.map((m) => ({
        ...m,
        createdAt: new Date(m.createdAt),
      }));
      print(o, { migrations }, () =>
        table(
          status.map((m) => ({
            name: m.name,
            state: m.applied ? "applied" : "pending",
          })),
          ["name", "state"],
        ),
      );
    });
}
