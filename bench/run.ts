/**
 * `npm run bench`: the real daemon on SQLite and PostgreSQL under wrk, with
 * the baselines measured in the same run, and one table of ratios and targets
 * (docs/performance.md explains each row).
 *
 *   BENCH_QUICK=1          short runs, one round (under three minutes)
 *   BENCH_ROUNDS=N         interleaved rounds; the table shows medians, and a
 *                          pair's ratio is the median of its rounds' ratios
 *                          (default 3: a median that one odd daemon cannot move)
 *   BENCH_SECONDS=N        seconds per measurement (default 10, quick 3); the
 *                          rows of a block take turns in 2-s slices (runBlock),
 *                          so an odd N measures N-1 there
 *   BENCH_DIALECTS=sqlite  or pg, or both (default: both when PostgreSQL answers)
 *   BENCH_PG_URL=…         a PostgreSQL server the bench may create databases on
 *                          (default postgres://postgres@127.0.0.1:5432/postgres)
 *   BENCH_ONLY=me,refresh  run only these workloads (ids below; `start` times
 *                          starts from source, `start-binary` builds dist/authd
 *                          and times its starts beside them, `flood` the login
 *                          flood)
 *   BENCH_PROFILE=DIR      run every daemon with `bun --cpu-prof-md`, profiles in DIR
 *
 * Budgets are switched off for the throughput rows (RATE_LIMIT_PER_IP=0 and
 * both LOGIN_FAILURES_* = 0): every request comes from 127.0.0.1, and the
 * bench measures the work of a request, not the refusal of one.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import postgres from "postgres";
import { loadConfig } from "../src/config.ts";
import { type Database, openDatabase } from "../src/db/connect.ts";
import { type RawStretch, rawRotation, rawVerify } from "./baselines/raw.ts";
import { freePort, type RunningDaemon, startDaemon, waitFor200 } from "./lib/daemon.ts";
import { cpuSeconds, machineLoad, rssMb } from "./lib/proc.ts";
import { seedSessions } from "./lib/seed.ts";
import {
  type Dialect,
  type Measure,
  median,
  renderTable,
  type TableRow,
  type Target,
} from "./lib/table.ts";
import { ensureWrk, runWrk, tokenFiles, type WrkResult } from "./lib/wrk.ts";

const QUICK = process.env.BENCH_QUICK === "1";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 1 : 3));
const SECONDS = Number(process.env.BENCH_SECONDS ?? (QUICK ? 3 : 10));
const WARMUP = QUICK ? 1 : 2;
/**
 * The slice of a block's turns (runBlock), in whole seconds (wrk takes no
 * fractions); a quick run measures each row in one stretch.
 */
const SLICE_SECONDS = 2;
const SLICES = QUICK ? 1 : Math.max(1, Math.floor(SECONDS / SLICE_SECONDS));
const CONNECTIONS = 32;
/**
 * How long after its last row a daemon's RSS is read for "RSS after the run":
 * within a second it has finished its last hash (the allocator returns its
 * 19 MiB) and Bun's idle collection has run (docs/performance.md).
 */
const RSS_SETTLE_MS = 2000;
// Unset or empty: every workload.
const ONLY = process.env.BENCH_ONLY?.split(",").filter(Boolean);
const PROFILE_DIR = process.env.BENCH_PROFILE;
const PG_ADMIN =
  process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const ISSUER = "http://authd.bench";
const PASSWORD = "correct horse battery staple";

/** Settings of every bench daemon: defaults, except budgets off (see above). */
const BASE_ENV: Record<string, string> = {
  ISSUER,
  RATE_LIMIT_PER_IP: "0",
  LOGIN_FAILURES_PER_ACCOUNT_IP: "0",
  LOGIN_FAILURES_PER_ACCOUNT: "0",
};

/** What a workload needs from its dialect's setup. */
interface Ctx {
  dialect: Dialect;
  database: Database;
  userId: string;
  email: string;
  accessToken: string;
  daemon: RunningDaemon;
}

/** One wrk workload against a running daemon. */
interface Workload {
  id: string;
  label: string;
  path: string;
  script: "bearer" | "refresh" | "logout" | "login";
  connections?: number;
  /** Extra daemon settings: the workload runs on a daemon of its own. */
  env?: Record<string, string>;
  /** Token files for the script (refresh chains, logout tokens). */
  prepare?: (ctx: Ctx, seconds: number) => Promise<string[]>;
  baseline?: string;
  baselineLabel?: string;
  target?: Target;
}

const atLeast = (ratio: number): Target => ({ kind: "min-ratio", ratio });

/**
 * The workloads. Adding a row is adding an entry (as "forward-auth" was),
 * and a metrics-on/off comparison is the same workload twice with different
 * `env`. Ids must not collide with the baselines' ("bare", "rotation",
 * "verify").
 */
const WORKLOADS: Workload[] = [
  {
    id: "me",
    label: "GET /users/me (LOG_LEVEL=info)",
    path: "/users/me",
    script: "bearer",
    baseline: "bare",
    baselineLabel: "bare Bun.serve",
    target: atLeast(0.25),
  },
  {
    // Forward auth for reverse proxies: the hottest path, the same checks as
    // /users/me without the JSON body, so it must be at least as fast.
    id: "forward-auth",
    label: "GET /auth/verify (forward auth)",
    path: "/auth/verify",
    script: "bearer",
    baseline: "me",
    baselineLabel: "GET /users/me",
    target: atLeast(1),
  },
  {
    id: "refresh",
    label: "POST /auth/refresh",
    path: "/auth/refresh",
    script: "refresh",
    // One chain per connection, plus one per wrk thread: each thread asks
    // its script for one request more than it has connections.
    prepare: (ctx) => seedSessions(ctx.database, ctx.userId, CONNECTIONS + 2),
    baseline: "rotation",
    baselineLabel: "raw rotation",
    target: atLeast(0.5),
  },
  {
    id: "logout",
    label: "POST /auth/logout",
    path: "/auth/logout",
    script: "logout",
    // Enough sessions to outlast the measurement at 16k/s (group commit took
    // SQLite's logout to 8k/s, where 8k/s of sessions ran out); the threads
    // stop when their tokens run out, so the rate counts only real logouts,
    // and a run that used them all says so (wrkRun).
    prepare: (ctx, seconds) =>
      seedSessions(ctx.database, ctx.userId, Math.ceil(seconds * 16_000)),
    baseline: "refresh",
    baselineLabel: "refresh",
    target: atLeast(1),
  },
  {
    id: "login",
    label: "POST /auth/login",
    path: "/auth/login",
    script: "login",
    baseline: "verify",
    baselineLabel: "raw verify",
    target: atLeast(0.9),
  },
  {
    id: "me-warn",
    label: "GET /users/me (LOG_LEVEL=warn)",
    path: "/users/me",
    script: "bearer",
    env: { LOG_LEVEL: "warn" },
    baseline: "bare",
    baselineLabel: "bare Bun.serve",
    target: atLeast(0.25),
  },
  {
    // The same route with /metrics off: the cost of counting every request
    // (the "metrics on ÷ off" row below; the issue's bound is 5 %).
    id: "me-nometrics",
    label: "GET /users/me (METRICS_ENABLED=false)",
    path: "/users/me",
    script: "bearer",
    env: { METRICS_ENABLED: "false" },
    baseline: "bare",
    baselineLabel: "bare Bun.serve",
  },
  {
    // Issue 8: the per-IP budget is one statement on every refresh; with it
    // counting (a budget no bench reaches), refresh must stay within 10 %.
    id: "refresh-budgets",
    label: "POST /auth/refresh (per-IP budget counting)",
    path: "/auth/refresh",
    script: "refresh",
    env: { RATE_LIMIT_PER_IP: "1000000", RATE_LIMIT_WINDOW: "86400" },
    prepare: (ctx) => seedSessions(ctx.database, ctx.userId, CONNECTIONS + 2),
    baseline: "rotation",
    baselineLabel: "raw rotation",
  },
  {
    id: "me-nocache",
    label: "GET /users/me (TOKEN_CACHE_SIZE=0)",
    path: "/users/me",
    script: "bearer",
    env: { TOKEN_CACHE_SIZE: "0" },
    baseline: "bare",
    baselineLabel: "bare Bun.serve",
  },
];

const selected = (id: string) => !ONLY?.length || ONLY.includes(id);

type Samples = Map<string, Measure[]>;
const results = new Map<Dialect, Samples>();

function record(into: Samples, id: string, m: Measure) {
  const list = into.get(id) ?? [];
  list.push(m);
  into.set(id, list);
}

/**
 * A row of a block: a workload on its daemon, or a baseline measured in turns
 * beside the rows compared with it (a bare server under wrk, or a loop in the
 * bench process itself, whose CPU and RSS are not the row's: no `pid`).
 */
interface BlockRow {
  id: string;
  pid?: number;
  warmup: boolean;
  run: (seconds: number) => Promise<RawStretch | WrkResult>;
  /** What its block does once it is measured (the bare server stops). */
  stop?(): Promise<void>;
}

/** One stretch of a row, with the CPU its process spent in it. */
interface Slice {
  taken: RawStretch | WrkResult;
  cpu: number;
}

async function slice(row: BlockRow, seconds: number): Promise<Slice> {
  const cpu0 = row.pid ? cpuSeconds(row.pid) : 0;
  const taken = await row.run(seconds);
  return { taken, cpu: row.pid ? cpuSeconds(row.pid) - cpu0 : 0 };
}

const wrkOf = (s: Slice): WrkResult | undefined =>
  "p99" in s.taken ? s.taken : undefined;

/**
 * A row's figures from its slices: rates and CPU over their summed time and
 * requests, p50 and p99 the median of the slices' (one slice: its own).
 */
function measureOf(row: BlockRow, slices: Slice[]): Measure {
  const sum = (f: (s: Slice) => number) => slices.reduce((t, s) => t + f(s), 0);
  const seconds = sum((s) => s.taken.seconds);
  const requests = sum((s) => s.taken.requests);
  const rps = requests / seconds;
  const wrks = slices.map(wrkOf).filter((w): w is WrkResult => w !== undefined);
  if (!row.pid || wrks.length === 0) return { rps };
  const cpu = sum((s) => s.cpu);
  const errors = wrks.reduce((t, w) => t + w.errors, 0);
  if (errors > 0) console.warn(`  ! ${errors} errors or non-2xx answers`);
  const mid = (f: (w: WrkResult) => number) =>
    median(wrks.map((w) => ({ value: f(w) })))?.value;
  return {
    rps,
    p50: mid((w) => w.p50),
    p99: mid((w) => w.p99),
    genCpu: wrks.reduce((t, w) => t + w.genCpu * w.seconds, 0) / seconds,
    serverCpu: (cpu / seconds) * 100,
    cpuPerRequest: requests > 0 ? (cpu * 1e6) / requests : undefined,
    rss: rssMb(row.pid),
    errors,
  };
}

/** A workload's wrk run against its daemon, for a given number of seconds. */
function wrkRun(ctx: Ctx, w: Workload): (seconds: number) => Promise<WrkResult> {
  const connections = w.connections ?? CONNECTIONS;
  const threads = Math.min(2, connections);
  const url = `${ctx.daemon.url}${w.path}`;
  return async (seconds) => {
    const tokens = w.prepare ? await w.prepare(ctx, seconds) : [];
    const r = await runWrk({
      url,
      script: w.script,
      seconds,
      connections,
      threads,
      env: {
        BENCH_TOKEN: ctx.accessToken,
        BENCH_EMAIL: ctx.email,
        BENCH_PASSWORD: PASSWORD,
      },
      args: tokens.length ? [tokenFiles(w.id, tokens, threads)] : [],
    });
    if (w.script === "logout" && r.requests >= tokens.length - connections)
      console.warn(
        "  ! every seeded session was used before the time was up: the rate is a lower bound",
      );
    return r;
  };
}

/** A workload's row: wrk against its daemon. */
const workloadRow = (ctx: Ctx, w: Workload): BlockRow => ({
  id: w.id,
  pid: ctx.daemon.pid,
  // Hash-bound routes get no warm-up: wrk leaving with 32 logins queued would
  // leave the daemon hashing for clients that are gone, into the measurement.
  warmup: w.script !== "login",
  run: wrkRun(ctx, w),
});

/**
 * A block's rows, measured in turns: each row's SECONDS are cut into slices
 * of SLICE_SECONDS, and the rows take turns, one slice each, in an order that
 * reverses every turn. Each row then samples the whole block's time, so a
 * pair of two daemons, or a row and its baseline, compares their work and
 * not the machine's minute (one daemon's rate moves by up to half from one
 * 4-second window to the next on a 2-core VM: docs/performance.md). A row
 * alone is one slice.
 */
async function runBlock(rows: BlockRow[]): Promise<Map<string, Measure>> {
  const slices = rows.length > 1 ? SLICES : 1;
  const seconds = slices > 1 ? SLICE_SECONDS : SECONDS;
  const taken = new Map<BlockRow, Slice[]>(rows.map((r) => [r, []]));
  for (const r of rows) if (r.warmup) await r.run(WARMUP);
  for (let turn = 0; turn < slices; turn++) {
    for (const r of turn % 2 === 0 ? rows : [...rows].reverse())
      taken.get(r)?.push(await slice(r, seconds));
  }
  return new Map(rows.map((r) => [r.id, measureOf(r, taken.get(r) ?? [])]));
}

/** GET /users/me while 16 clients log in as fast as they can. */
async function runFlood(ctx: Ctx): Promise<Measure> {
  const env = {
    BENCH_TOKEN: ctx.accessToken,
    BENCH_EMAIL: ctx.email,
    BENCH_PASSWORD: PASSWORD,
  };
  const flood = runWrk({
    url: `${ctx.daemon.url}/auth/login`,
    script: "login",
    seconds: SECONDS + WARMUP + 3,
    connections: 16,
    threads: 1,
    env,
  });
  await Bun.sleep(1000);
  const measured = await runBlock([
    {
      id: "flood",
      pid: ctx.daemon.pid,
      warmup: true,
      run: (seconds) =>
        runWrk({
          url: `${ctx.daemon.url}/users/me`,
          script: "bearer",
          seconds,
          connections: CONNECTIONS,
          env,
        }),
    },
  ]);
  const logins = await flood;
  console.log(
    `  login flood: ${logins.rps.toFixed(1)} logins/s, ${logins.errors} errors`,
  );
  return measured.get("flood") as Measure;
}

async function login(url: string, email: string): Promise<string> {
  const res = await fetch(`${url}/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  if (res.status !== 200) throw new Error(`login: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

interface DialectSetup {
  dialect: Dialect;
  url: string;
  env: Record<string, string>;
  database: Database;
  email: string;
  userId: string;
  logDir: string;
  drop(): Promise<void>;
}

async function setUp(dialect: Dialect): Promise<DialectSetup> {
  const logDir = mkdtempSync(join(tmpdir(), `authd-bench-${dialect}-`));
  let url = `sqlite:${join(logDir, "auth.db")}`;
  const env: Record<string, string> = { ...BASE_ENV };
  let dropDb = async () => {};
  if (dialect === "pg") {
    const name = `authd_bench_${Date.now().toString(36)}`;
    const admin = postgres(PG_ADMIN, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database "${name}"`);
    await admin.end();
    const u = new URL(PG_ADMIN);
    u.pathname = `/${name}`;
    url = u.toString();
    env.KEY_ENCRYPTION_KEY = Buffer.alloc(32, 9).toString("base64");
    dropDb = async () => {
      const a = postgres(PG_ADMIN, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists "${name}" with (force)`);
      await a.end();
    };
  }
  env.DATABASE_URL = url;
  // The first start migrates a fresh database and makes keys (not a startup sample).
  const daemon = await startDaemon(env, join(logDir, "first.log"));
  const email = `bench-${Date.now().toString(36)}@example.com`;
  const res = await fetch(`${daemon.url}/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  if (res.status !== 201)
    throw new Error(`register: ${res.status} ${await res.text()}`);
  const userId = ((await res.json()) as { user: { id: string } }).user.id;
  await daemon.stop();
  const database = await openDatabase({ url, poolMax: 16 });
  return {
    dialect,
    url,
    env,
    database,
    email,
    userId,
    logDir,
    async drop() {
      await database.close();
      await dropDb();
      rmSync(logDir, { recursive: true, force: true });
    },
  };
}

let daemonCount = 0;
async function daemonFor(s: DialectSetup, env: Record<string, string> = {}) {
  const args = PROFILE_DIR
    ? ["--cpu-prof-md", `--cpu-prof-dir=${resolve(PROFILE_DIR)}`]
    : [];
  const d = await startDaemon(
    { ...s.env, ...env },
    join(s.logDir, `daemon-${++daemonCount}.log`),
    args,
  );
  // Started back to back with the round's other daemons, right after the
  // baselines' load: on record (an info row), but not the start-up target's
  // sample, which `starts` takes once the round's daemons are stopped.
  record(results.get(s.dialect) as Samples, "start-beside", { value: d.startupMs });
  return d;
}

/**
 * The bare Bun.serve baseline as a row of its block: a process answering every
 * request with `body`, up until `stop`.
 */
async function bareRow(body: string): Promise<BlockRow> {
  const port = await freePort();
  const proc = Bun.spawn(
    [process.execPath, resolve(import.meta.dir, "baselines/bare-server.ts")],
    {
      env: { ...process.env, PORT: String(port), BENCH_BODY: body },
      stdout: "inherit",
      stderr: "inherit",
    },
  );
  const stop = async () => {
    proc.kill("SIGTERM");
    await proc.exited;
  };
  try {
    await waitFor200(`http://127.0.0.1:${port}/`, 10_000);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    id: "bare",
    pid: proc.pid,
    warmup: true,
    run: (seconds) =>
      runWrk({
        url: `http://127.0.0.1:${port}/users/me`,
        script: "bearer",
        seconds,
        connections: CONNECTIONS,
        env: { BENCH_TOKEN: "x" },
      }),
    stop,
  };
}

/**
 * The order of a round's rows. The rows of a block take turns (runBlock),
 * with every daemon of the round started before the first row: a pair on two
 * daemons (info ÷ warn, metrics on ÷ off, budgets on ÷ off) used to be
 * measured minutes apart, each daemon in its own stretch of the round, while
 * the machine drifted, and then back to back, where one odd window still
 * moved one row of the pair; and the budgets pair runs before the logout row,
 * whose tens of thousands of new sessions slowed every refresh measured after
 * it (docs/performance.md, "Targets"). Each block runs reversed in even
 * rounds, so neither row of a pair always goes first. Every workload
 * is in exactly one block.
 */
const BLOCKS: string[][] = [
  ["me-warn", "forward-auth", "me", "me-nometrics", "me-nocache"],
  ["refresh", "refresh-budgets"],
  ["logout"],
  ["login"],
];
{
  const placed = BLOCKS.flat();
  const unplaced = WORKLOADS.filter(
    (w) => placed.filter((id) => id === w.id).length !== 1,
  );
  if (unplaced.length > 0 || placed.length !== WORKLOADS.length)
    throw new Error(
      `bench: BLOCKS must hold every workload once (${unplaced.map((w) => w.id)})`,
    );
}

/** The baselines, each measured in turns in the block of the rows compared with it. */
const BASELINE_LABELS: Record<string, string> = {
  bare: "baseline: bare Bun.serve, same JSON",
  rotation: "baseline: raw rotation transaction",
  verify: "baseline: raw Bun.password.verify",
};

/** The baseline rows a block's workloads are compared with, set up to run. */
async function baselineRows(
  s: DialectSetup,
  block: { w: Workload; ctx: Ctx }[],
): Promise<BlockRow[]> {
  const ids = new Set(block.map(({ w }) => w.baseline ?? ""));
  const rows: BlockRow[] = [];
  const config = loadConfig({ ...s.env });
  const first = block[0]?.ctx;
  if (ids.has("bare") && first) {
    // The same JSON the daemon answers GET /users/me with.
    const body = await fetch(`${first.daemon.url}/users/me`, {
      headers: { authorization: `Bearer ${first.accessToken}` },
    }).then((r) => r.text());
    rows.push(await bareRow(body));
  }
  if (ids.has("rotation"))
    rows.push({
      id: "rotation",
      warmup: false,
      run: await rawRotation({
        database: s.database,
        userId: s.userId,
        // As many chains as the refresh row's connections, on both dialects:
        // the same rows and pages the daemon's rotations touch. (On SQLite the
        // transactions run one at a time either way; one chain kept the same
        // few pages hot and measured a cheaper transaction than the daemon runs.)
        chains: CONNECTIONS,
      }),
    });
  if (ids.has("verify"))
    rows.push({
      id: "verify",
      warmup: false,
      run: await rawVerify({
        memoryKib: config.ARGON2_MEMORY_KIB,
        timeCost: config.ARGON2_TIME_COST,
        concurrency: config.HASH_CONCURRENCY,
      }),
    });
  return rows;
}

async function round(s: DialectSetup, n: number) {
  const samples = results.get(s.dialect) as Samples;
  const step = (what: string) => console.log(`[${s.dialect} round ${n}] ${what}`);

  const blocks = BLOCKS.map((block) =>
    block
      .map((id) => WORKLOADS.find((w) => w.id === id) as Workload)
      .filter((w) => selected(w.id)),
  ).filter((block) => block.length > 0);
  const rows = blocks.flat();
  // Every daemon of the round, one per distinct `env`, alive from the start.
  const daemons = new Map<string, Ctx>();
  const keyOf = (w?: Workload) => JSON.stringify(w?.env ?? {});
  const keys = [...new Set(rows.map(keyOf))];
  if (selected("flood") && !keys.includes(keyOf())) keys.push(keyOf());
  try {
    for (const key of keys) {
      const daemon = await daemonFor(s, JSON.parse(key) as Record<string, string>);
      daemons.set(key, {
        dialect: s.dialect,
        database: s.database,
        userId: s.userId,
        email: s.email,
        accessToken: await login(daemon.url, s.email),
        daemon,
      });
    }
    const main = daemons.get(keyOf());
    for (const block of blocks) {
      const workloads = block.map((w) => ({ w, ctx: daemons.get(keyOf(w)) as Ctx }));
      const baselines = await baselineRows(s, workloads);
      // The baselines first, the whole block reversed in even rounds, so
      // that no row always goes first.
      const order = [
        ...baselines,
        ...workloads.map(({ w, ctx }) => workloadRow(ctx, w)),
      ];
      if (n % 2 === 0) order.reverse();
      const label = (id: string) =>
        BASELINE_LABELS[id] ?? (WORKLOADS.find((w) => w.id === id)?.label as string);
      step(order.map((r) => label(r.id)).join(" | "));
      let measured: Map<string, Measure>;
      try {
        measured = await runBlock(order);
      } finally {
        for (const b of baselines) await b.stop?.();
      }
      for (const r of order) {
        const m = measured.get(r.id) as Measure;
        // Each round's figure, so a median can be read back to its rounds.
        console.log(
          `  ${r.id}: ${Math.round(m.rps ?? 0)} req/s${m.p99 === undefined ? "" : `, p99 ${m.p99.toFixed(1)} ms, ${Math.round(m.cpuPerRequest ?? 0)} µs CPU/req`}`,
        );
        record(samples, r.id, m);
      }
    }
    if (main && selected("flood")) {
      // wrk leaves with logins still queued in the daemon; the flood starts
      // when they are done (a probe login queues behind them).
      while (
        !(await login(main.daemon.url, s.email).then(
          () => true,
          () => false,
        ))
      )
        await Bun.sleep(200);
      step("GET /users/me during a login flood (16 concurrent logins)");
      record(samples, "flood", await runFlood(main));
    }
    if (main) {
      // The default daemon's resident memory twice: at the instant the load
      // stops (the last requests' garbage and the last argon2id hash still
      // held), and after the run, once it has finished that work and collected
      // it (the figure the target is about; docs/decisions.md, "RSS after the run").
      record(samples, "rss-load-end", { value: rssMb(main.daemon.pid) });
      await Bun.sleep(RSS_SETTLE_MS);
      record(samples, "rss", { value: rssMb(main.daemon.pid) });
    }
  } finally {
    for (const ctx of daemons.values()) await ctx.daemon.stop();
  }
}

function table(dialects: Dialect[]): TableRow[] {
  const rows: TableRow[] = [];
  const get = (d: Dialect, id: string) => median(results.get(d)?.get(id) ?? []);
  // A pair's ratio in each round: the two rows took turns in the same minute.
  const byRound = (d: Dialect, id: string, baseline: string, metric: "rps" | "p99") => {
    const samples = results.get(d)?.get(id) ?? [];
    const bases = results.get(d)?.get(baseline) ?? [];
    return samples.flatMap((m, i) => {
      const x = m[metric];
      const y = bases[i]?.[metric];
      return x !== undefined && y ? [x / y] : [];
    });
  };
  for (const d of dialects) {
    // The baselines themselves, so their CPU cost per request is on record too.
    for (const [id, label] of Object.entries(BASELINE_LABELS)) {
      const m = get(d, id);
      if (m) rows.push({ label, dialect: d, measure: m, metric: "rps" });
    }
    for (const w of WORKLOADS.filter((w) => selected(w.id))) {
      rows.push({
        label: w.label,
        dialect: d,
        measure: get(d, w.id),
        metric: "rps",
        baselineLabel: w.baselineLabel,
        baseline: w.baseline ? get(d, w.baseline)?.rps : undefined,
        ratios: w.baseline ? byRound(d, w.id, w.baseline, "rps") : undefined,
        target: w.target,
      });
    }
    if (selected("me") && selected("me-warn")) {
      rows.push({
        label: "GET /users/me: info ÷ warn",
        dialect: d,
        measure: get(d, "me"),
        metric: "rps",
        baselineLabel: "warn",
        baseline: get(d, "me-warn")?.rps,
        ratios: byRound(d, "me", "me-warn", "rps"),
        target: atLeast(0.85),
      });
    }
    if (selected("me") && selected("me-nometrics")) {
      rows.push({
        label: "GET /users/me: metrics on ÷ off",
        dialect: d,
        measure: get(d, "me"),
        metric: "rps",
        baselineLabel: "metrics off",
        baseline: get(d, "me-nometrics")?.rps,
        ratios: byRound(d, "me", "me-nometrics", "rps"),
        target: atLeast(0.95),
      });
    }
    if (selected("refresh") && selected("refresh-budgets")) {
      rows.push({
        label: "POST /auth/refresh: budgets on ÷ off",
        dialect: d,
        measure: get(d, "refresh-budgets"),
        metric: "rps",
        baselineLabel: "budgets off",
        baseline: get(d, "refresh")?.rps,
        ratios: byRound(d, "refresh-budgets", "refresh", "rps"),
        target: atLeast(0.9),
      });
    }
    if (selected("flood")) {
      rows.push({
        label: "GET /users/me p99 during a login flood",
        dialect: d,
        measure: get(d, "flood"),
        metric: "p99",
        baselineLabel: "idle p99",
        baseline: get(d, "me")?.p99,
        ratios: byRound(d, "flood", "me", "p99"),
        target: { kind: "max-ratio", ratio: 3 },
      });
    }
    rows.push({
      label: "RSS at the instant the load stops (MB)",
      dialect: d,
      measure: get(d, "rss-load-end"),
      metric: "value",
    });
    rows.push({
      label: `RSS after the run, ${RSS_SETTLE_MS / 1000} s later (MB)`,
      dialect: d,
      measure: get(d, "rss"),
      metric: "value",
      target: { kind: "max", value: { sqlite: 100, pg: 120 }, unit: "MB" },
    });
    if (selected("start") || selected("start-binary"))
      rows.push({
        label: "start to /readyz 200 (ms), existing database (npm start)",
        dialect: d,
        measure: get(d, "startup"),
        metric: "value",
        target: { kind: "max", value: { sqlite: 300, pg: 300 }, unit: "ms" },
      });
    const beside = get(d, "start-beside");
    if (beside)
      rows.push({
        label:
          "start to /readyz 200 (ms), beside the round's other daemons (npm start)",
        dialect: d,
        measure: beside,
        metric: "value",
      });
    if (selected("start-binary")) {
      rows.push({
        label: "start to /readyz 200 (ms), standalone dist/authd (the image's)",
        dialect: d,
        measure: get(d, "start-binary"),
        metric: "value",
        target: { kind: "max", value: { sqlite: 300, pg: 300 }, unit: "ms" },
      });
    }
  }
  return rows;
}

/** `npm run build` once: the standalone dist/authd the container ships. */
async function buildBinary(): Promise<string> {
  console.log("bench: npm run build (the standalone executables)");
  const build = Bun.spawn([process.execPath, "run", "build"], {
    cwd: resolve(import.meta.dir, ".."),
    stdout: "ignore",
    stderr: "inherit",
  });
  if ((await build.exited) !== 0) throw new Error("npm run build failed");
  return resolve(import.meta.dir, "../dist/authd");
}

/**
 * Start to /readyz 200 on the round's existing database, with nothing else
 * running: three starts from source (as `npm start` starts the daemon),
 * interleaved with three of the standalone executable when it was built.
 * Each daemon is stopped before the next starts.
 */
async function starts(s: DialectSetup, binary?: string) {
  const samples = results.get(s.dialect) as Samples;
  console.log(
    `[${s.dialect}] start to /readyz: from source${binary ? " and standalone dist/authd" : ""} × 3`,
  );
  const kinds: [string, string | undefined][] = [["startup", undefined]];
  if (binary) kinds.push(["start-binary", binary]);
  const took = new Map<string, number[]>(kinds.map(([id]) => [id, []]));
  for (let i = 0; i < 3; i++) {
    for (const [id, exe] of kinds) {
      const d = await startDaemon(
        s.env,
        join(s.logDir, `start-${++daemonCount}.log`),
        [],
        exe,
      );
      record(samples, id, { value: d.startupMs });
      took.get(id)?.push(Math.round(d.startupMs));
      await d.stop();
    }
  }
  for (const [id, ms] of took) console.log(`  ${id}: ${ms.join(", ")} ms`);
}

async function pgAnswers(): Promise<boolean> {
  const sql = postgres(PG_ADMIN, { max: 1, onnotice: () => {}, connect_timeout: 3 });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

async function main() {
  await ensureWrk();
  const wanted = (process.env.BENCH_DIALECTS ?? "sqlite,pg").split(",") as Dialect[];
  const dialects: Dialect[] = [];
  for (const d of wanted) {
    if (d === "pg" && !(await pgAnswers())) {
      console.warn(`bench: PostgreSQL does not answer at ${PG_ADMIN}; skipping it`);
      continue;
    }
    dialects.push(d);
  }
  const before = machineLoad();
  const t0 = performance.now();
  console.log(
    `bench: ${ROUNDS} round(s) of ${SECONDS}s measurements on ${dialects.join(", ")}; ${before.cores} cores, load ${before.load1}`,
  );
  const binary = selected("start-binary") ? await buildBinary() : undefined;
  const setups: DialectSetup[] = [];
  for (const d of dialects) {
    results.set(d, new Map());
    setups.push(await setUp(d));
  }
  try {
    for (let n = 1; n <= ROUNDS; n++)
      for (const s of setups) {
        await round(s, n);
        if (selected("start") || binary) await starts(s, binary);
      }
  } finally {
    for (const s of setups) await s.drop();
  }
  const after = machineLoad();
  console.log(
    `\n${renderTable(table(dialects))}\n\n${ROUNDS} round(s), medians; ${SECONDS}s per measurement, ${CONNECTIONS} connections (wrk -t2), ${after.cores} cores; load average ${before.load1} before, ${after.load1} after; ${((performance.now() - t0) / 1000).toFixed(0)} s in all.`,
  );
  const steadiness = baselinesByRound(dialects);
  if (steadiness) console.log(steadiness);
}

/**
 * The baselines round by round: the code under them never changes, so their
 * spread is the machine's own (a virtual machine's host, other tenants). A
 * ratio whose rows moved less than this between rounds is within the noise.
 */
function baselinesByRound(dialects: Dialect[]): string | undefined {
  const lines: string[] = [];
  for (const d of dialects)
    for (const [id, label] of Object.entries(BASELINE_LABELS)) {
      const rps = (results.get(d)?.get(id) ?? []).map((m) => m.rps ?? 0);
      if (rps.length < 2) continue;
      const spread = Math.max(...rps) / Math.min(...rps);
      lines.push(
        `  ${d}: ${label.replace(/^baseline: /, "")}: ${rps.map((r) => Math.round(r).toLocaleString("en-US")).join(" / ")} req/s (max ÷ min ${spread.toFixed(2)})`,
      );
    }
  return lines.length > 0
    ? `Baselines by round (the machine's own spread):\n${lines.join("\n")}`
    : undefined;
}

await main();
