/**
 * Builds the service for a command through the daemon's own composition
 * root, so the CLI runs the same core on the same database: no SQL of its
 * own, no HTTP round-trip. Logs go to stderr at warn, never into the output.
 */
import pino from "pino";
import { type Config, ConfigError, loadConfig } from "../src/config.ts";
import { type Container, createContainer } from "../src/container.ts";
import type { Actor } from "../src/core/ports.ts";
import { migrationStatus } from "../src/db/migrate.ts";
import { createLogger } from "../src/infra/logger.ts";
import { CliError } from "./output.ts";

/** Every change authctl makes is audited with this actor. */
export const CLI_ACTOR: Actor = { actorId: "cli" };

export function readConfig(): Config {
  try {
    return loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      throw new CliError(`invalid configuration: ${e.problems.join("; ")}`, 2);
    }
    throw e;
  }
}

/**
 * Runs `fn` with a container and closes it afterwards. Unless `anyMigrations`
 * is set, refuses to touch a database that has pending migrations. A SQLite
 * database that does not exist is an error unless `createDatabase` is set
 * (only `migrate up`), and a missing key file unless `createKeyFile` is set
 * (only `keys rotate`): reading leaves nothing behind.
 */
export async function withContainer<T>(
  fn: (c: Container) => Promise<T>,
  options: {
    anyMigrations?: boolean;
    createDatabase?: boolean;
    createKeyFile?: boolean;
  } = {},
): Promise<T> {
  const config = readConfig();
  const container = await createContainer(config, {
    logger: createLogger("warn", pino.destination(2)),
    createDatabase: options.createDatabase ?? false,
    createKeyFile: options.createKeyFile ?? false,
  });
  try {
    if (!options.anyMigrations) {
      const pending = (await migrationStatus(container.database)).filter(
        (m) => !m.applied,
      );
      if (pending.length > 0) {
        throw new CliError(
          `the database has ${pending.length} pending migration(s): run \`authctl migrate up\` first`,
        );
      }
    }
    return await fn(container);
  } finally {
    await container.close();
  }
}
