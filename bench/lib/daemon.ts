/**
 * The real daemon, started as `npm start` starts it (`bun src/main.ts`), with
 * its stdout going to a file (as under a process supervisor), so the access
 * log costs what it costs in production and not what a pipe reader costs.
 */
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { ConfigSchema } from "../../src/config.ts";

export const REPO = resolve(import.meta.dir, "../..");
const MAIN = join(REPO, "src/main.ts");

export interface RunningDaemon {
  pid: number;
  url: string;
  /** Milliseconds from spawn to the first 200 from /readyz. */
  startupMs: number;
  logFile: string;
  stop(): Promise<number>;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => ok(port));
    });
  });
}

/** The parent's environment without any daemon setting (those come from `env`). */
function cleanEnv(env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !(k in ConfigSchema.properties)) out[k] = v;
  return { ...out, ...env };
}

/** Polls until GET `url` answers 200; throws after `timeoutMs`. */
export async function waitFor200(
  url: string,
  timeoutMs: number,
  alive: () => boolean = () => true,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const status = await fetch(url).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    if (!alive()) throw new Error(`${url}: the process exited`);
    if (performance.now() > deadline) throw new Error(`${url}: last status ${status}`);
    await Bun.sleep(2);
  }
}

/**
 * Starts the daemon from source (`bun [extraArgs] src/main.ts`), or the
 * executable `binary` (`npm run build`'s dist/authd) when one is given.
 */
export async function startDaemon(
  env: Record<string, string>,
  logFile: string,
  extraArgs: string[] = [],
  binary?: string,
): Promise<RunningDaemon> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const t0 = performance.now();
  const command = binary ? [binary] : [process.execPath, ...extraArgs, MAIN];
  const proc: Subprocess = Bun.spawn(command, {
    cwd: REPO,
    env: cleanEnv({ HOST: "127.0.0.1", PORT: String(port), ISSUER: url, ...env }),
    stdin: "ignore",
    stdout: Bun.file(logFile),
    stderr: "inherit",
  });
  let exited = false;
  void proc.exited.then(() => {
    exited = true;
  });
  try {
    await waitFor200(`${url}/readyz`, 30_000, () => !exited);
  } catch (e) {
    proc.kill("SIGKILL");
    throw e;
  }
  const startupMs = performance.now() - t0;
  return {
    pid: proc.pid,
    url,
    startupMs,
    logFile,
    async stop() {
      if (!exited) proc.kill("SIGTERM");
      return proc.exited;
    },
  };
}
