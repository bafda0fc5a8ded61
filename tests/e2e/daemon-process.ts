/**
 * Starts the real daemon as `npm start` does (`bun src/main.ts`), as a child
 * process with its own environment, and collects its stdout JSON lines.
 */
import { afterAll, beforeAll } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { ConfigSchema } from "../../src/config.ts";
import { createPgDatabase, type Dialect } from "../helpers/databases.ts";
import { BUDGETS_OFF, TEST_DB_TIMEOUT_MS, TEST_KEK } from "../helpers/harness.ts";

export const REPO = resolve(import.meta.dir, "../..");
export const MAIN = resolve(REPO, "src/main.ts");

/** The parent's environment without any daemon setting, plus `env`. */
export function daemonEnv(env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !(k in ConfigSchema.properties)) out[k] = v;
  }
  return { ...out, ...env };
}

export interface Daemon {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  port: number;
  url: string;
  /** The parsed stdout lines so far. */
  lines: Record<string, unknown>[];
  /** Stdout lines that were not JSON objects (there should be none). */
  junk: string[];
  stderr(): string;
  /**
   * Waits until a log line matches. Fails if the process exits first, or
   * after `timeoutMs` (a generous bound: it only turns a hang into a failure
   * that shows the log).
   */
  waitForLine(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /** Resolves with the exit code once the process has exited and its output is read. */
  exited(): Promise<number>;
  /** Sends a signal and waits for the exit code (and the last lines). */
  stop(signal?: NodeJS.Signals): Promise<number>;
}

export interface StartOptions {
  env: Record<string, string>;
  cwd?: string;
  /** What to run instead of `bun src/main.ts` (`npm start`, dist/authd). */
  command?: string[];
  /**
   * Run with exactly `env` (no test defaults, nothing from the parent), as a
   * container image would.
   */
  exactEnv?: boolean;
  /** Wait for GET /readyz to answer 200 (default true). */
  waitReady?: boolean;
}

/** Bounds that only turn a hang into a readable failure; a busy machine never nears them. */
const START_BOUND_MS = 60_000;

/**
 * Settings every test daemon gets unless the test says otherwise: an
 * OS-picked port, and a storage timeout a loaded machine cannot hit.
 */
const DAEMON_DEFAULTS: Record<string, string> = {
  PORT: "0",
  DB_TIMEOUT_MS: TEST_DB_TIMEOUT_MS,
};

export async function startDaemon({
  env,
  cwd = REPO,
  command = [process.execPath, MAIN],
  exactEnv = false,
  waitReady = true,
}: StartOptions): Promise<Daemon> {
  const proc = Bun.spawn(command, {
    cwd,
    // Budgets off unless a test sets them: e2e suites send many requests from
    // one address (127.0.0.1).
    env: exactEnv ? env : daemonEnv({ ...DAEMON_DEFAULTS, ...BUDGETS_OFF, ...env }),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const lines: Record<string, unknown>[] = [];
  const junk: string[] = [];
  let err = "";
  // Woken on every new line and when the output ends.
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const l of listeners) l();
  };

  const stdoutDone = (async () => {
    let buffer = "";
    const decoder = new TextDecoder();
    const take = (line: string) => {
      try {
        const parsed: unknown = JSON.parse(line);
        if (parsed && typeof parsed === "object") lines.push(parsed as never);
        else junk.push(line);
      } catch {
        junk.push(line);
      }
    };
    for await (const chunk of proc.stdout) {
      buffer += decoder.decode(chunk, { stream: true });
      let nl = buffer.indexOf("\n");
      while (nl >= 0) {
        take(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
        nl = buffer.indexOf("\n");
      }
      notify();
    }
    if (buffer) junk.push(buffer);
  })();
  const stderrDone = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr)
      err += decoder.decode(chunk, { stream: true });
  })();
  // Exited, and every line it wrote has been read.
  const finished = Promise.all([proc.exited, stdoutDone, stderrDone]).then(
    ([code]) => code,
  );
  let ended = false;
  void finished.then(() => {
    ended = true;
    notify();
  });

  function waitForLine(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs = START_BOUND_MS,
  ): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const done = () => {
        listeners.delete(check);
        clearTimeout(timer);
      };
      const check = () => {
        const found = lines.find(match);
        if (found) {
          done();
          resolve(found);
        } else if (ended) {
          done();
          reject(
            new Error(
              `daemon exited (${proc.exitCode}) before the expected log line\nstdout: ${JSON.stringify(lines)}\nstderr: ${err}`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(
          new Error(
            `no matching log line after ${timeoutMs} ms\nstdout: ${JSON.stringify(lines)}\nstderr: ${err}`,
          ),
        );
      }, timeoutMs);
      listeners.add(check);
      check();
    });
  }

  let listening: Record<string, unknown>;
  try {
    listening = await waitForLine((l) => l.msg === "listening");
  } catch (e) {
    proc.kill("SIGKILL");
    throw e;
  }
  const port = Number(listening.port);
  const url = `http://127.0.0.1:${port}`;

  if (waitReady) {
    // Listening comes before the first /readyz 200 only by a moment; poll it.
    const deadline = Date.now() + START_BOUND_MS;
    for (;;) {
      const status = await fetch(`${url}/readyz`).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200) break;
      if (ended || Date.now() > deadline) {
        proc.kill("SIGKILL");
        throw new Error(`/readyz never answered 200 (last: ${status})\nstderr: ${err}`);
      }
      await Bun.sleep(50);
    }
  }

  return {
    proc,
    port,
    url,
    lines,
    junk,
    stderr: () => err,
    waitForLine,
    exited: () => finished,
    async stop(signal = "SIGTERM") {
      if (!ended) proc.kill(signal);
      return finished;
    },
  };
}

/**
 * A fresh, empty database for a daemon of `dialect`: a SQLite file in `dir`,
 * or a new PostgreSQL database (whose keys need TEST_KEK). `env` holds the
 * daemon's settings for it; `drop` removes the PostgreSQL one.
 */
export async function freshDatabase(
  dialect: Dialect,
  dir: string,
): Promise<{ env: Record<string, string>; drop(): Promise<void> }> {
  if (dialect === "sqlite")
    return {
      env: { DATABASE_URL: `sqlite:${join(dir, "auth.db")}` },
      drop: async () => {},
    };
  const pg = await createPgDatabase();
  return {
    env: { DATABASE_URL: pg.url, KEY_ENCRYPTION_KEY: TEST_KEK },
    drop: () => pg.drop(),
  };
}

/**
 * One daemon for a describe block: started in beforeAll on a fresh database
 * of `dialect` (`freshDatabase`) with `env` on top, stopped and dropped in
 * afterAll. The returned object forwards to that daemon once it runs.
 */
export function useDaemon(dialect: Dialect, env: Record<string, string> = {}): Daemon {
  let daemon: Daemon | undefined;
  let dir: string | undefined;
  let database: Awaited<ReturnType<typeof freshDatabase>> | undefined;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "authd-e2e-"));
    database = await freshDatabase(dialect, dir);
    daemon = await startDaemon({ env: { ...database.env, ...env } });
  });
  afterAll(async () => {
    if (daemon && daemon.proc.exitCode === null) await daemon.stop();
    await database?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return new Proxy({} as Daemon, {
    get(_, prop) {
      if (!daemon) throw new Error("the daemon is used before beforeAll started it");
      return Reflect.get(daemon, prop, daemon);
    },
  });
}

export interface FinishedRun {
  code: number;
  /** The parsed stdout lines. */
  lines: Record<string, unknown>[];
  /** Stdout lines that were not JSON objects. */
  junk: string[];
  stderr: string;
}

/**
 * Runs a daemon that is expected to stop by itself (a start-up that fails),
 * and returns what it wrote. Killed after 60 s so a hang fails the test.
 */
export async function runDaemonToExit({
  env,
  cwd = REPO,
  command = [process.execPath, MAIN],
}: Omit<StartOptions, "waitReady" | "exactEnv">): Promise<FinishedRun> {
  const proc = Bun.spawn(command, {
    cwd,
    env: daemonEnv({ ...DAEMON_DEFAULTS, ...BUDGETS_OFF, ...env }),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: START_BOUND_MS,
  });
  const [out, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  const lines: Record<string, unknown>[] = [];
  const junk: string[] = [];
  for (const line of out.split("\n").filter(Boolean)) {
    try {
      const parsed: unknown = JSON.parse(line);
      if (parsed && typeof parsed === "object") lines.push(parsed as never);
      else junk.push(line);
    } catch {
      junk.push(line);
    }
  }
  return { code, lines, junk, stderr };
}

/** Every process below `pid`, from /proc (Linux). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // pid (comm) state ppid …; comm may hold spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // The process ended while we looked.
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

export const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
