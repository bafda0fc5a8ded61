/** The one results table: measured values, the baseline, the ratio and the target. */

export type Dialect = "sqlite" | "pg";

export interface Measure {
  rps?: number;
  p50?: number;
  p99?: number;
  serverCpu?: number;
  /** Server CPU time per request in microseconds: what load on the machine moves least. */
  cpuPerRequest?: number;
  rss?: number;
  genCpu?: number;
  /** A single value (milliseconds or MB) for rows that are not throughput. */
  value?: number;
  errors?: number;
}

export type Metric = "rps" | "p99" | "value";

/** ≥ ratio × baseline, ≤ ratio × baseline, or ≤ an absolute value. */
export type Target =
  | { kind: "min-ratio"; ratio: number }
  | { kind: "max-ratio"; ratio: number }
  | { kind: "max"; value: Partial<Record<Dialect, number>>; unit: string };

export interface TableRow {
  label: string;
  dialect: Dialect;
  measure: Measure | undefined;
  metric: Metric;
  baselineLabel?: string;
  baseline?: number;
  /**
   * The pair's ratio in each round. When given, the ratio is their median:
   * each round's two rows took turns in the same minute, so a round's ratio
   * is free of the machine's drift between rounds, which the medians of the
   * two rows taken apart are not.
   */
  ratios?: number[];
  target?: Target;
}

const f = (n: number | undefined, digits = 0) =>
  n === undefined || Number.isNaN(n)
    ? ""
    : n.toLocaleString("en-US", {
        maximumFractionDigits: digits,
        minimumFractionDigits: digits,
      });

/** The median of the samples' fields (each field on its own). */
export function median(samples: Measure[]): Measure | undefined {
  if (samples.length === 0) return undefined;
  const out: Measure = {};
  const keys = new Set(samples.flatMap((s) => Object.keys(s))) as Set<keyof Measure>;
  for (const k of keys) {
    const v = samples
      .map((s) => s[k])
      .filter((x): x is number => x !== undefined)
      .sort((a, b) => a - b);
    if (v.length === 0) continue;
    const mid = Math.floor(v.length / 2);
    out[k] =
      v.length % 2
        ? (v[mid] as number)
        : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
  }
  return out;
}

function verdict(row: TableRow): { ratio: string; target: string; met: string } {
  const m = row.measure;
  const t = row.target;
  if (!m || !t) return { ratio: "", target: "", met: "" };
  const actual = m[row.metric];
  if (actual === undefined) return { ratio: "", target: "", met: "n/a" };
  if (t.kind === "max") {
    const limit = t.value[row.dialect];
    if (limit === undefined) return { ratio: "", target: "", met: "" };
    return {
      ratio: "",
      target: `≤ ${limit} ${t.unit}`,
      met: actual <= limit ? "yes" : "**no**",
    };
  }
  if (!row.baseline) return { ratio: "", target: "", met: "n/a" };
  const rounds = row.ratios ?? [];
  const ratio =
    rounds.length > 0
      ? (median(rounds.map((value) => ({ value })))?.value as number)
      : actual / row.baseline;
  const ok = t.kind === "min-ratio" ? ratio >= t.ratio : ratio <= t.ratio;
  return {
    ratio: `${f(ratio, 2)}×${rounds.length > 1 ? ` (${rounds.map((r) => f(r, 2)).join(", ")})` : ""}`,
    target: `${t.kind === "min-ratio" ? "≥" : "≤"} ${t.ratio}×`,
    met: ok ? "yes" : "**no**",
  };
}

export function renderTable(rows: TableRow[]): string {
  const head =
    "| workload | db | req/s | p50 ms | p99 ms | server CPU % | CPU µs/req | server RSS MB | wrk CPU % | baseline | ratio | target | met? |";
  const sep = `|${"---|".repeat(13)}`;
  const lines = rows.map((r) => {
    const m = r.measure ?? {};
    const v = verdict(r);
    const value = r.metric === "value" ? f(m.value, 0) : "";
    const baseline =
      r.baselineLabel && r.baseline !== undefined
        ? `${r.baselineLabel}: ${f(r.baseline, r.metric === "p99" ? 1 : 0)}`
        : (r.baselineLabel ?? "");
    return `| ${r.label}${value ? `: **${value}**` : ""} | ${r.dialect} | ${f(m.rps)} | ${f(m.p50, 1)} | ${f(m.p99, 1)} | ${f(m.serverCpu)} | ${f(m.cpuPerRequest)} | ${f(m.rss)} | ${f(m.genCpu)} | ${baseline} | ${v.ratio} | ${v.target} | ${v.met} |`;
  });
  return [head, sep, ...lines].join("\n");
}
