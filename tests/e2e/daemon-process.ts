/**
 * Starts the real daemon as `npm start` does (`bun src/main.ts`), as a child
 * process with its own environment, and collects its stdout JSON lines.
 */
import { resolve } from "node:path";
import type { Subprocess } from "bun";
import { ConfigSchema } from "../../src/config.ts";

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
  /** Waits until a log line matches; throws after `timeoutMs` or if the process exits. */
  waitForLine(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /** Sends a signal and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number>;
}

export interface StartOptions {
  env: Record<string, string>;
  cwd?: string;
  /** Wait for GET /readyz to answer 200 (default true). */
  waitReady?: boolean;
}

export async function startDaemon({
  env,
  cwd = REPO,
  waitReady = true,
}: StartOptions): Promise<Daemon> {
  const proc = Bun.spawn([process.execPath, MAIN], {
    cwd,
    env: daemonEnv({ PORT: "0", ...env }),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const lines: Record<string, unknown>[] = [];
  const junk: string[] = [];
  let err = "";
  let exited = false;
  void proc.exited.then(() => {
    exited = true;
  });

  void (async () => {
    let buffer = "";
    const decoder = new TextDecoder();
    for await (const chunk of proc.stdout) {
      buffer += decoder.decode(chunk, { stream: true });
      let nl = buffer.indexOf("\n");
      while (nl >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          const parsed: unknown = JSON.parse(line);
          if (parsed && typeof parsed === "object") lines.push(parsed as never);
          else junk.push(line);
        } catch {
          junk.push(line);
        }
        nl = buffer.indexOf("\n");
      }
    }
    if (buffer) junk.push(buffer);
  })();
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr)
      err += decoder.decode(chunk, { stream: true });
  })();

  async function waitForLine(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs = 20_000,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = lines.find(match);
      if (found) return found;
      if (exited) {
        await Bun.sleep(50); // let the readers drain
        const late = lines.find(match);
        if (late) return late;
        throw new Error(
          `daemon exited (${proc.exitCode}) before the expected log line\nstdout: ${JSON.stringify(lines)}\nstderr: ${err}`,
        );
      }
      if (Date.now() > deadline)
        throw new Error(
          `no matching log line after ${timeoutMs} ms\nstdout: ${JSON.stringify(lines)}\nstderr: ${err}`,
        );
      await Bun.sleep(20);
    }
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
    const deadline = Date.now() + 15_000;
    for (;;) {
      const status = await fetch(`${url}/readyz`).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200) break;
      if (Date.now() > deadline) {
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
    async stop(signal = "SIGTERM") {
      if (!exited) proc.kill(signal);
      const code = await proc.exited;
      await Bun.sleep(20); // let the stdout reader take the last lines
      return code;
    },
  };
}
