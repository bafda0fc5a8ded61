/**
 * The daemon: `npm start` / `bun src/main.ts` / `dist/authd`. Reads the
 * configuration (exit 2 on a bad setting), migrates, loads signing keys,
 * serves, and on SIGTERM or SIGINT stops accepting, lets in-flight requests
 * finish (bounded by SHUTDOWN_TIMEOUT_MS), closes the database and exits 0.
 * A start-up that cannot succeed (a key that does not open the stored keys, a
 * port in use) logs one JSON line saying why and exits 1.
 */
// First: it scales the JIT's thresholds before the other modules run.
import "./jit-policy.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { type Container, createContainer } from "./container.ts";
import { healthcheck } from "./healthcheck.ts";
import { createIdleCollector, IDLE_GC } from "./infra/idle-collector.ts";
import { createLogger, flushLogs } from "./infra/logger.ts";
import { prettyDestination } from "./infra/pretty-log.ts";
import { describeStorageError } from "./infra/resilience.ts";
import { StartupError } from "./infra/startup-error.ts";
import { endStartupJitPolicy } from "./jit-policy.ts";

/**
 * How often this daemon sweeps ended rate-limit windows and stale known IPs.
 * Every daemon sweeps; the deletes are idempotent and bounded, so several
 * daemons sweeping at once only repeat cheap work.
 */
const SWEEP_INTERVAL_MS = 60_000;

/**
 * The first sweep and the outbox's first claim wait this long after the
 * daemon listens, so the first requests (a supervisor's /readyz) do not queue
 * behind them for a database connection: on PostgreSQL each would otherwise
 * open one (a forked backend) while the readiness check waits for its own.
 * Mail queued meanwhile goes out when the outbox starts. The process metrics
 * (prom-client's defaults, ~35 ms of loading) start then too, unless a scrape
 * comes first.
 */
const BACKGROUND_DELAY_MS = 1000;

const USAGE = `usage: authd [--healthcheck | --pretty]
  (no argument)   serve; every setting comes from the environment (README, "Configuration")
  --healthcheck   exit 0 if the daemon at HOST:PORT on this machine answers GET /readyz 200, else 1
  --pretty        human-readable logs when stdout is a terminal (npm run dev); JSON otherwise
`;

/** The daemon's few flags; settings stay in the environment. */
function readFlags(args: string[]): { healthcheck: boolean; pretty: boolean } {
  const flags = { healthcheck: false, pretty: false };
  for (const arg of args) {
    if (arg === "--healthcheck") flags.healthcheck = true;
    else if (arg === "--pretty") flags.pretty = true;
    else if (arg === "--help" || arg === "-h") {
      process.stdout.write(USAGE);
      process.exit(0);
    } else {
      process.stderr.write(`authd: unknown argument '${arg}'\n${USAGE}`);
      process.exit(2);
    }
  }
  return flags;
}

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

const flags = readFlags(process.argv.slice(2));
const config = readConfig();
if (flags.healthcheck) process.exit(await healthcheck(config));

const logger = createLogger(
  config.LOG_LEVEL,
  flags.pretty && process.stdout.isTTY ? prettyDestination() : undefined,
);

/** Logs are buffered: every way out writes them out first. */
async function exit(code: number): Promise<never> {
  await flushLogs(logger);
  process.exit(code);
}

/**
 * One fatal line and exit 1. A StartupError is a problem the operator fixes
 * (its message says which setting), so it is logged without a stack; anything
 * else keeps its stack for the bug report.
 */
async function failStart(err: unknown, opened?: Container): Promise<never> {
  if (err instanceof StartupError)
    logger.fatal({ reason: err.message }, "start-up failed");
  else logger.fatal({ err }, "start-up failed");
  await opened?.close().catch(() => {});
  return exit(1);
}

// A crash is logged and the buffered access lines are written before exiting.
process.on("uncaughtException", (err) => {
  logger.fatal({ err }, "uncaught exception");
  void exit(1);
});
process.on("unhandledRejection", (err) => {
  logger.fatal({ err }, "unhandled promise rejection");
  void exit(1);
});

const container = await (async () => {
  try {
    return await createContainer(config, { logger });
  } catch (err) {
    return failStart(err);
  }
})();

/** Migrations and signing keys; a failure here ends the start. */
async function prepareStorage(): Promise<void> {
  try {
    const applied = await container.prepare({ migrate: true });
    if (applied.length > 0) logger.info({ migrations: applied }, "applied migrations");
  } catch (err) {
    await failStart(err, container);
  }
}

/**
 * Before listening, so that every login looks addresses up in their normal
 * form. A failure here is reported, not fatal: the rows stay as they were.
 */
async function reconcileStoredEmails(): Promise<void> {
  try {
    const report = await container.reconcileEmails({ apply: true });
    if (report.renamed.length > 0)
      logger.info({ renamed: report.renamed.length }, "normalised stored emails");
    for (const c of report.collisions)
      logger.warn(
        {
          user_id: c.id,
          email: c.email,
          normalized: c.normalized,
          holder_id: c.holderId,
        },
        "stored email collides with another account once normalised; left as is: resolve with `authctl doctor`",
      );
    for (const i of report.invalid)
      logger.warn(
        { user_id: i.id, email: i.email, problem: i.problem },
        "stored email cannot be normalised; left as is: resolve with `authctl doctor`",
      );
  } catch (err) {
    logger.warn({ err }, "stored emails could not be checked; they stay as they are");
  }
}

// On PostgreSQL the storage steps are mostly waiting: for the first
// connection (PostgreSQL starts a backend for it) and a few round trips. So
// they are under way while the HTTP layer (Elysia, the routes, their schemas)
// loads and the handler is built, instead of before. Start to /readyz on
// PostgreSQL, two interleaved A/Bs: 340 -> 333 and 351 -> 325 ms
// (docs/performance.md, "Start-up on PostgreSQL, a fifth look"). A failure
// in them still ends the start before listening.
const storageReady = prepareStorage().then(reconcileStoredEmails);
const { createHandler } = await import("./http/app.ts");
const handle = createHandler(container);
await storageReady;

// The dummy hash for unknown emails is made beside serving, not before it:
// start-up does not wait ~50 ms of argon2id, and a login that comes first
// awaits the same computation.
container.accounts
  .warmUp()
  .catch((err) =>
    logger.warn({ err }, "the dummy password hash could not be computed yet"),
  );

// Memory goes back to the system when a burst is over (src/infra/idle-collector.ts).
const idle = createIdleCollector({
  ...IDLE_GC,
  heapUsed: () => process.memoryUsage().heapUsed,
  collect: () => Bun.gc(true),
});

/** Bun.serve, with the reasons it cannot listen said in the operator's terms. */
function listen() {
  try {
    return Bun.serve({
      hostname: config.HOST,
      port: config.PORT,
      // Bun's own limit answers a bare 413 (no body, no X-Request-Id) before our
      // code runs, so it is set out of reach: our limit (MAX_BODY_BYTES, enforced
      // while streaming, src/http/body.ts) always answers, with problem+json, and
      // closes the connection. Bun streams request bodies, so an unread or
      // refused body is never held in memory (docs/decisions.md, "Bun's limits").
      maxRequestBodySize: Number.MAX_SAFE_INTEGER,
      fetch: (request, srv) => {
        idle.noteRequest();
        return handle(request, srv);
      },
    });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const where = `${config.HOST}:${config.PORT}`;
    if (code === "EADDRINUSE")
      throw new StartupError(
        `cannot listen on ${where}: the port is already in use (set PORT to a free port)`,
      );
    if (code === "EADDRNOTAVAIL")
      throw new StartupError(
        `cannot listen on ${where}: HOST is not an address of this machine`,
      );
    if (code === "EACCES")
      throw new StartupError(
        `cannot listen on ${where}: permission denied (ports below 1024 need privileges)`,
      );
    throw err;
  }
}

const server = await (async () => {
  try {
    return listen();
  } catch (err) {
    return failStart(err, container);
  }
})();
endStartupJitPolicy();

// Background work starts once the daemon serves: a start that fails has
// nothing running beside it, and its fatal line is its last.
container.keyring.start(config.KEY_REFRESH_INTERVAL * 1000, (err) =>
  logger.warn({ err }, "signing keys could not be reloaded; keeping the previous set"),
);

const sweep = () =>
  container.limits.sweep().then(
    (rows) => {
      if (rows > 0) logger.debug({ rows }, "swept rate-limit rows");
    },
    (err: unknown) =>
      logger.warn(
        { cause: describeStorageError((err as { cause?: unknown })?.cause ?? err) },
        "rate-limit sweep failed; retrying at the next interval",
      ),
  );
const sweeper = setInterval(sweep, SWEEP_INTERVAL_MS);

// Every daemon delivers queued mail; claims keep two daemons off one message.
const background = setTimeout(() => {
  void sweep();
  container.outbox.start();
  container.metrics?.startProcessMetrics();
}, BACKGROUND_DELAY_MS);
if (!config.SMTP_URL) {
  // Fine on a laptop; beyond loopback it is most likely a production daemon
  // whose reset and verification mails nobody will ever receive.
  logger[config.HOST === "127.0.0.1" ? "info" : "warn"](
    "SMTP_URL is not set: mails are not sent, only logged (their links at debug level); set SMTP_URL in production",
  );
}
const pruneSent = () =>
  container.outbox
    .prune()
    .catch((err: unknown) =>
      logger.warn(
        { cause: describeStorageError((err as { cause?: unknown })?.cause ?? err) },
        "pruning sent mail failed; retrying at the next interval",
      ),
    );
const pruner = setInterval(pruneSent, SWEEP_INTERVAL_MS * 60);
const idleLook = setInterval(() => idle.check(), IDLE_GC.intervalMs);

// The process is the daemon's own: its CPU, memory and event loop are worth a
// scrape. They start with the background work, or at the first scrape if sooner.
container.metrics?.collectProcessMetrics();

// Before the "listening" line: whoever reacts to it can already stop us cleanly.
let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, "shutting down");
  clearTimeout(background);
  clearInterval(sweeper);
  clearInterval(pruner);
  clearInterval(idleLook);
  const drained = server.stop(false).then(() => true);
  const timedOut = Bun.sleep(config.SHUTDOWN_TIMEOUT_MS).then(() => false);
  if (!(await Promise.race([drained, timedOut]))) {
    logger.warn("in-flight requests did not finish in time; closing them");
    await server.stop(true);
  }
  // The mail in hand is finished if it can be in time; whatever is still
  // queued stays in the outbox for the next daemon (an unfinished claim is
  // retried once its lease ends).
  await Promise.race([container.outbox.stop(), Bun.sleep(config.SHUTDOWN_TIMEOUT_MS)]);
  await container.close();
  logger.info("stopped");
  await exit(0);
}

process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));

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
