/** authctl keys list|rotate|prune */
import type { Command } from "commander";
import { CLI_ACTOR, withContainer } from "../context.ts";
import { examples, type GlobalOptions, print, table } from "../output.ts";

export function registerKeys(program: Command): void {
  const keys = program
    .command("keys")
    .description("signing keys: next → current → retired → pruned")
    .addHelpText(
      "after",
      `
The JWKS publishes next, current and retired keys; only current signs. Running daemons
pick up a rotation within KEY_REFRESH_INTERVAL, without a restart.

Examples:
  authctl keys list
  authctl keys rotate            # refused sooner than JWKS_MAX_AGE + KEY_REFRESH_INTERVAL after the last one
  authctl keys rotate --force    # emergency: a key leaked
  authctl keys prune`,
    );

  keys
    .command("list")
    .description("every stored key and its state")
    .addHelpText("after", examples("authctl keys list", "authctl keys list --json"))
    .action(async (_opts, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions>();
      const list = await withContainer((c) => c.keys.listKeys());
      print(
        o,
        list.map(({ publicJwk: _, ...k }) => k),
        () =>
          list.length
            ? table(
                list.map((k) => ({
                  kid: k.kid,
                  alg: k.alg,
                  state: k.state,
                  created: k.createdAt,
                  activated: k.activatedAt,
                  retired: k.retiredAt,
                })),
                ["kid", "alg", "state", "created", "activated", "retired"],
              )
            : "no keys yet: the daemon creates them on first start (or run `authctl keys rotate`)",
      );
    });

  keys
    .command("rotate")
    .description("make next current, retire current, and publish a new next key")
    .option(
      "--force",
      "rotate even if the next key is younger than JWKS_MAX_AGE + KEY_REFRESH_INTERVAL",
    )
    .addHelpText(
      "after",
      examples(
        "authctl keys rotate            # refused sooner than JWKS_MAX_AGE + KEY_REFRESH_INTERVAL after the last one",
        "authctl keys rotate --force    # emergency: a key leaked",
      ),
    )
    .action(async (opts: { force?: boolean }, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions>();
      const result = await withContainer(
        async (c) => {
          if (await c.keys.ensureKeys(CLI_ACTOR)) return { created: true as const };
          return {
            created: false as const,
            ...(await c.keys.rotate(CLI_ACTOR, opts.force)),
          };
        },
        { createKeyFile: true },
      );
      print(o, result, () =>
        result.created
          ? "there were no keys: created a current and a next key"
          : `rotated: ${result.current} now signs; ${result.next} is published as next`,
      );
    });

  keys
    .command("prune")
    .description("delete retired keys whose tokens have all expired")
    .addHelpText("after", examples("authctl keys prune", "authctl keys prune --json"))
    .action(async (_opts, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions>();
      const pruned = await withContainer((c) => c.keys.prune(CLI_ACTOR));
      print(o, { pruned }, () =>
        pruned.length
          ? pruned.map((k) => `pruned ${k}`).join("\n")
          : "nothing to prune",
      );
    });
}
