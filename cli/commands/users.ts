/** authctl users list|show|create|disable|enable|delete|set-password|set-roles|import */
import type { Command } from "commander";
import type { User } from "../../src/core/ports.ts";
import { KNOWN_ROLES } from "../../src/core/roles.ts";
import { CLI_ACTOR, withContainer } from "../context.ts";
import { examples, type GlobalOptions, print, table, usage } from "../output.ts";
import {
  givenPassword,
  isInteractive,
  NO_PASSWORD,
  promptNewPassword,
} from "../secrets.ts";
import { importUsersFromFile } from "./users-import.ts";

export const userRow = (u: User) => ({
  id: u.id,
  email: u.email,
  name: u.name,
  roles: u.roles,
  disabled: u.disabled,
  verified: u.emailVerified,
  created: u.createdAt,
});

const USER_COLUMNS = ["id", "email", "name", "roles", "disabled", "created"];

const showUser = (o: GlobalOptions, u: User, verb?: string) =>
  print(o, u, () =>
    verb
      ? `${verb} ${u.email} (${u.id})`
      : table([userRow(u)], [...USER_COLUMNS, "verified"]),
  );

export const parseLimit = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 10_000)
    throw usage("--limit must be 1 to 10000");
  return n;
};

export function registerUsers(program: Command): void {
  const users = program
    .command("users")
    .description("manage user accounts (USER is an id or an email)")
    .addHelpText(
      "after",
      `
Examples:
  authctl users list --role admin
  authctl users show ada@example.com --json
  authctl users disable ada@example.com
  authctl users set-roles ada@example.com admin user
  authctl users import users.jsonl

Roles: ${KNOWN_ROLES.join(", ")}. No command may take away the last enabled admin
(disable, delete or set-roles of the only admin is refused).`,
    );

  users
    .command("list")
    .description("list users, oldest first")
    .option("--email <email>", "only this email")
    .option("--role <role>", "only users with this role")
    .option("--limit <n>", "at most this many", parseLimit, 50)
    .addHelpText(
      "after",
      examples(
        "authctl users list",
        "authctl users list --role admin --limit 10",
        "authctl users list --email ada@example.com --json",
      ),
    )
    .action(
      async (opts: { email?: string; role?: string; limit: number }, cmd: Command) => {
        const o = cmd.optsWithGlobals<GlobalOptions>();
        const { items } = await withContainer((c) =>
          c.userAdmin.list({ email: opts.email, role: opts.role, limit: opts.limit }),
        );
        print(o, items, () =>
          items.length ? table(items.map(userRow), USER_COLUMNS) : "no users",
        );
      },
    );

  users
    .command("show <user>")
    .description("show one user")
    .addHelpText(
      "after",
      examples("authctl users show ada@example.com", "authctl users show 0192… --json"),
    )
    .action(async (user: string, _opts, cmd: Command) => {
      showUser(
        cmd.optsWithGlobals(),
        await withContainer((c) => c.userAdmin.get(user)),
      );
    });

  users
    .command("create")
    .description("create a user (without a password it cannot log in until one is set)")
    .requiredOption("--email <email>", "email address")
    .option("--name <name>", "display name")
    .option("--role <role...>", `roles, of ${KNOWN_ROLES.join(", ")} (default: user)`)
    .option("--password-stdin", "read the password from standard input")
    .addHelpText(
      "after",
      examples(
        "authctl users create --email ada@example.com --name Ada --role user --role ops",
        'authctl users create --email ada@example.com --password-stdin <<<"$PASSWORD"',
      ),
    )
    .action(
      async (
        opts: {
          email: string;
          name?: string;
          role?: string[];
          passwordStdin?: boolean;
        },
        cmd: Command,
      ) => {
        const password = (await givenPassword(opts)) ?? undefined;
        const u = await withContainer((c) =>
          c.userAdmin.create(
            { email: opts.email, name: opts.name ?? null, roles: opts.role, password },
            CLI_ACTOR,
          ),
        );
        showUser(cmd.optsWithGlobals(), u, "created");
      },
    );

  for (const [name, disabled] of [
    ["disable", true],
    ["enable", false],
  ] as const) {
    users
      .command(`${name} <user>`)
      .description(
        disabled ? "disable a user and end their sessions" : "enable a user again",
      )
      .addHelpText("after", examples(`authctl users ${name} ada@example.com`))
      .action(async (user: string, _opts, cmd: Command) => {
        const u = await withContainer((c) =>
          c.userAdmin.setDisabled(user, disabled, CLI_ACTOR),
        );
        showUser(cmd.optsWithGlobals(), u, `${name}d`);
      });
  }

  users
    .command("delete <user>")
    .description("delete a user and their sessions (the audit log keeps their history)")
    .addHelpText("after", examples("authctl users delete ada@example.com"))
    .action(async (user: string, _opts, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions>();
      const u = await withContainer((c) => c.userAdmin.delete(user, CLI_ACTOR));
      print(o, { deleted: u.id, email: u.email }, () => `deleted ${u.email} (${u.id})`);
    });

  users
    .command("set-password <user>")
    .description("set a user's password and end their sessions")
    .option("--password-stdin", "read the password from standard input")
    .addHelpText(
      "after",
      examples(
        "authctl users set-password ada@example.com            # prompts on a terminal",
        'authctl users set-password ada@example.com --password-stdin <<<"$PASSWORD"',
      ),
    )
    .action(async (user: string, opts: { passwordStdin?: boolean }, cmd: Command) => {
      const given = await givenPassword(opts);
      if (given === null && !isInteractive()) throw usage(NO_PASSWORD);
      const u = await withContainer(async (c) => {
        if (given !== null) return c.userAdmin.setPassword(user, given, CLI_ACTOR);
        await c.userAdmin.get(user);
        let done: User | undefined;
        await promptNewPassword(async (p) => {
          done = await c.userAdmin.setPassword(user, p, CLI_ACTOR);
        });
        return done ?? c.userAdmin.get(user);
      });
      showUser(cmd.optsWithGlobals(), u, "set the password of");
    });

  users
    .command("set-roles <user> <roles...>")
    .description("replace a user's roles")
    .addHelpText(
      "after",
      examples("authctl users set-roles ada@example.com admin user"),
    )
    .action(async (user: string, roles: string[], _opts, cmd: Command) => {
      const u = await withContainer((c) =>
        c.userAdmin.setRoles(user, roles, CLI_ACTOR),
      );
      showUser(cmd.optsWithGlobals(), u, `set roles ${u.roles.join(",")} for`);
    });

  users
    .command("import <file>")
    .description("import users from JSON Lines: {email, name?, roles?, password_hash?}")
    .addHelpText(
      "after",
      `
password_hash may be bcrypt ($2a$/$2b$/$2y$) or argon2; it is kept and upgraded to the
current argon2id parameters at the user's next login. Existing emails are skipped, so a
re-run is harmless. If any line is rejected, nothing is imported (exit 1).
${examples("authctl users import users.jsonl", "authctl users import users.jsonl --json")}`,
    )
    .action(async (file: string, _opts, cmd: Command) => {
      await importUsersFromFile(file, cmd.optsWithGlobals());
    });
}
