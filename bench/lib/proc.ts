/**
 * What the kernel says about a process: CPU time (utime + stime from
 * /proc/PID/stat) and resident memory (VmRSS). Linux only, like the bench.
 */
import { readFileSync } from "node:fs";

/** Clock ticks per second of /proc/PID/stat; 100 on every Linux we run on. */
const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) the process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces; count fields after its ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / TICKS_PER_SECOND;
}

/** Resident set size in MB. */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

/** Measures the CPU a process spends while `work` runs, as % of one core. */
export async function withCpu<T>(
  pid: number,
  work: () => Promise<T>,
): Promise<{ result: T; cpuPercent: number }> {
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  const result = await work();
  const seconds = (performance.now() - t0) / 1000;
  return { result, cpuPercent: ((cpuSeconds(pid) - cpu0) / seconds) * 100 };
}

/** The load average and core count, for the report. */
export function machineLoad(): { load1: number; cores: number } {
  const load1 = Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
  return { load1, cores: navigator.hardwareConcurrency };
}
