/**
 * The load generator: wrk (Debian's package), scripted in Lua (./../wrk/).
 * It is installed with apt-get when missing and we are root, the way .ci/run
 * installs tmux. Its own CPU is reported next to the server's, so a reader
 * can see that the generator was not the bottleneck.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const SCRIPTS = resolve(import.meta.dir, "../wrk");
const scratch = mkdtempSync(join(tmpdir(), "authd-bench-wrk-"));

export interface WrkResult {
  rps: number;
  requests: number;
  /** Latency percentiles in milliseconds. */
  p50: number;
  p99: number;
  /** Socket errors and responses with a status >= 400. */
  errors: number;
  /** wrk's own CPU, % of one core. */
  genCpu: number;
  seconds: number;
}

export interface WrkOptions {
  url: string;
  /** A script in bench/wrk without ".lua": bearer, login, refresh, logout. */
  script: string;
  seconds: number;
  connections: number;
  threads?: number;
  env?: Record<string, string>;
  /** Passed to the script's init(args). */
  args?: string[];
}

export async function ensureWrk(): Promise<void> {
  if (Bun.which("wrk")) return;
  if (process.getuid?.() !== 0)
    throw new Error("wrk is not installed: apt-get install wrk (as root)");
  console.log("bench: wrk is missing; installing it with apt-get (Debian package wrk)");
  const run = (cmd: string[]) =>
    Bun.spawnSync(cmd, {
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      stdout: "inherit",
      stderr: "inherit",
    }).exitCode;
  if (run(["apt-get", "install", "-y", "-q", "wrk"]) !== 0) {
    run(["apt-get", "update", "-q"]);
    if (run(["apt-get", "install", "-y", "-q", "wrk"]) !== 0)
      throw new Error("apt-get install wrk failed");
  }
}

/** The common part (summary line, thread ids) plus the named script. */
function scriptFile(name: string): string {
  const path = join(scratch, `${name}.lua`);
  writeFileSync(
    path,
    `${readFileSync(join(SCRIPTS, "common.lua"), "utf8")}\n${readFileSync(join(SCRIPTS, `${name}.lua`), "utf8")}`,
  );
  return path;
}

export async function runWrk(o: WrkOptions): Promise<WrkResult> {
  const threads = o.threads ?? Math.min(2, o.connections);
  const proc = Bun.spawn(
    [
      "wrk",
      `-t${threads}`,
      `-c${o.connections}`,
      `-d${o.seconds}s`,
      "--timeout",
      "10s",
      "-s",
      scriptFile(o.script),
      o.url,
      ...(o.args?.length ? ["--", ...o.args] : []),
    ],
    { env: { ...process.env, ...o.env }, stdout: "pipe", stderr: "pipe" },
  );
  const [out, err] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
  ]);
  await proc.exited;
  const line = out.split("\n").find((l) => l.startsWith("BENCH_JSON "));
  if (!line) throw new Error(`wrk gave no summary:\n${out}\n${err}`);
  const s = JSON.parse(line.slice("BENCH_JSON ".length)) as Record<string, number>;
  const num = (k: string) => s[k] ?? 0;
  const seconds = num("duration_us") / 1e6;
  const usage = proc.resourceUsage();
  const cpu = usage ? Number(usage.cpuTime.total) / 1e6 : Number.NaN;
  return {
    rps: num("requests") / seconds,
    requests: num("requests"),
    p50: num("p50") / 1000,
    p99: num("p99") / 1000,
    errors:
      num("connect") + num("read") + num("write") + num("status") + num("timeout"),
    genCpu: (cpu / seconds) * 100,
    seconds,
  };
}

/** Writes one token file per wrk thread, `tokens` dealt out round-robin. */
export function tokenFiles(name: string, tokens: string[], threads: number): string {
  const base = join(scratch, name);
  const per: string[][] = Array.from({ length: threads }, () => []);
  tokens.forEach((t, i) => {
    per[i % threads]?.push(t);
  });
  per.forEach((list, i) => {
    writeFileSync(`${base}-${i}`, `${list.join("\n")}\n`);
  });
  return base;
}
