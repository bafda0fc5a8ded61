/**
 * Reads the Prometheus text format as a scraper would: every sample with its
 * labels and value, and the TYPE of every family. Strict enough that a line
 * the format does not allow fails the test.
 */
import { expect } from "bun:test";

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  samples: Sample[];
  types: Map<string, string>;
  text: string;
  /** The value of the one sample with this name and exactly these labels. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** Every sample of this name whose labels include these. */
  all(name: string, labels?: Record<string, string>): Sample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy;

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  let consumed = 0;
  for (let m = LABEL.exec(text); m; m = LABEL.exec(text)) {
    labels[m[1] as string] = (m[2] as string).replace(/\\(.)/g, (_, c) =>
      c === "n" ? "\n" : c,
    );
    consumed = LABEL.lastIndex;
    if (consumed >= text.length) break;
  }
  expect({ labels: text, parsed: consumed }).toEqual({
    labels: text,
    parsed: text.length,
  });
  return labels;
}

export function parsePrometheus(text: string): Scrape {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("# TYPE ")) {
      const [name, type] = line.slice(7).split(" ");
      types.set(name as string, type as string);
      continue;
    }
    if (line.startsWith("#")) continue;
    const m = SAMPLE.exec(line);
    expect({ line, valid: m !== null }).toEqual({ line, valid: true });
    if (!m) continue;
    const raw = m[4] as string;
    const value = /^nan$/i.test(raw) ? Number.NaN : Number(raw);
    expect({ line, number: !Number.isNaN(value) || /^nan$/i.test(raw) }).toEqual({
      line,
      number: true,
    });
    samples.push({ name: m[1] as string, labels: parseLabels(m[3] ?? ""), value });
  }
  const includes = (s: Sample, labels: Record<string, string>) =>
    Object.entries(labels).every(([k, v]) => s.labels[k] === v);
  return {
    samples,
    types,
    text,
    value(name, labels = {}) {
      const found = samples.filter(
        (s) =>
          s.name === name &&
          includes(s, labels) &&
          Object.keys(s.labels).length === Object.keys(labels).length,
      );
      expect(found.length).toBeLessThanOrEqual(1);
      return found[0]?.value;
    },
    all: (name, labels = {}) =>
      samples.filter((s) => s.name === name && includes(s, labels)),
  };
}

/** The exposition format's content type, as prom-client sends it. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
