/** authctl admin create */
import { input } from "@inquirer/prompts";
import type { Command } from "commander";
import { isValidEmail } from "../../src/core/email.ts";
import type { NewUserInput } from "../../src/core/users.ts";
import { CLI_ACTOR, withContainer } from "../context.ts";
import { type GlobalOptions, print, usage } from "../output.ts";
import {
  givenPassword,
  isInteractive,
  NO_PASSWORD,
  promptNewPassword,
} from "../secrets.ts";
import { userRow } from "./users.ts";

export const ADMIN_ROLES = ["admin", "user"];

export function registerAdmin(program: Command): void {
  const admin = program.command("admin").description("manage administrators");
  admin
    .command("create")
    .description("create a user with the admin role")
    .option("--email <email>", "the admin's email (asked for on a terminal)")
    .option("--name <name>", "display name")
    .option("--password-stdin", "read the password from standard input")
    .addHelpText(
      "after",
      `
The password is asked for (masked, twice) when stdin is a terminal; otherwise give
it with --password-stdin or AUTHCTL_PASSWORD. It must pass the same policy as the API.

Examples:
  authctl admin create
  authctl admin create --email root@example.com --password-stdin <<<"$PASSWORD"
  AUTHCTL_PASSWORD=… authctl admin create --email root@example.com --json`,
    )
    .action(
      async (
        opts: { email?: string; name?: string; passwordStdin?: boolean },
        cmd: Command,
      ) => {
        const o = cmd.optsWithGlobals<GlobalOptions>();
        const interactive = isInteractive() && !opts.passwordStdin;
        const given = await givenPassword(opts);
        // Decide before touching the database: never wait on a prompt nobody can answer.
        if (!opts.email && !interactive) throw usage("no email given: use --email");
        if (given === null && !interactive) throw usage(NO_PASSWORD);
        // Refuse a mistyped email at its prompt, not after two password prompts.
        const email =
          opts.email ??
          (await input({
            message: "Email:",
            validate: (v) => isValidEmail(v) || "that is not an email address",
          }));
        const base: NewUserInput = {
          email,
          name: opts.name ?? null,
          roles: ADMIN_ROLES,
          // The operator vouches for the address (REQUIRE_EMAIL_VERIFICATION).
          emailVerified: true,
        };
        const user = await withContainer(async (c) => {
          if (given !== null)
            return c.userAdmin.create({ ...base, password: given }, CLI_ACTOR);
          let created: Awaited<ReturnType<typeof c.userAdmin.create>> | undefined;
          await promptNewPassword(async (password) => {
            created = await c.userAdmin.create({ ...base, password }, CLI_ACTOR);
          });
          if (!created) throw new Error("no admin was created");
          return created;
        });
        print(o, user, () => `created admin ${user.email} (${userRow(user).id})`);
      },
    );
}
