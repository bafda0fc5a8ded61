/**
 * The daemon: `npm start` / `bun src/main.ts`. Reads the configuration (exit
 * 2 on a bad setting), migrates, loads signing keys, serves, and on SIGTERM
 * or SIGINT stops accepting, lets in-flight requests finish (bounded by
 * SHUTDOWN_TIMEOUT_MS), closes the database and exits 0.
 */
import { ConfigError, loadConfig } from "./config.ts";
import { createContainer } from "./container.ts";
import { createHandler } from "./http/app.ts";

function readConfig() {
  try {
    return loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(
        `authd: invalid configuration:\n${e.problems.map((p) => `  - ${p}`).join("\n")}\n`,
      );
      process.exit(2);
    }
    throw e;
  }
}

const config = readConfig();
const container = createContainer(config);
const { logger } = container;

try {
  const applied = await container.prepare({ migrate: true });
  if (applied.length > 0) logger.info({ migrations: applied }, "applied migrations");
  await container.accounts.warmUp();
} catch (err) {
  logger.fatal({ err }, "start-up failed");
  await container.close().catch(() => {});
  process.exit(1);
}

container.keyring.start(config.KEY_REFRESH_INTERVAL * 1000, (err) =>
  logger.warn({ err }, "signing keys could not be reloaded; keeping the previous set"),
);

const handle = createHandler(container);
const server = Bun.serve({
  hostname: config.HOST,
  port: config.PORT,
  // Our own limit (MAX_BODY_BYTES) answers with problem+json; this is a backstop.
  maxRequestBodySize: config.MAX_BODY_BYTES * 16,
  fetch: (request, srv) => handle(request, srv),
});

logger.info(
  {
    url: `http://${server.hostname}:${server.port}`,
    host: server.hostname,
    port: server.port,
    database: databaseLocation(),
  },
  "listening",
);

/** Which database: sqlite:PATH, or postgres://host:port/name without credentials. */
function databaseLocation(): string {
  if (config.dialect === "sqlite") return `sqlite:${config.sqlitePath}`;
  const url = new URL(config.DATABASE_URL);
  return `postgres://${url.host}${url.pathname}`;
}

if (config.issuerIsDefault && (config.PORT === 0 || config.HOST !== "127.0.0.1")) {
  // Tokens name their issuer; behind a proxy or on 0.0.0.0 the default names
  // an address verifiers cannot use. Harmless on a laptop, wrong in production.
  logger.warn(
    { issuer: config.ISSUER },
    "ISSUER is not set: access tokens carry the listening address; set ISSUER to the public URL",
  );
}

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, "shutting down");
  const drained = server.stop(false).then(() => true);
  const timedOut = Bun.sleep(config.SHUTDOWN_TIMEOUT_MS).then(() => false);
  if (!(await Promise.race([drained, timedOut]))) {
    logger.warn("in-flight requests did not finish in time; closing them");
    await server.stop(true);
  }
  await container.close();
  logger.info("stopped");
  process.exit(0);
}

process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
