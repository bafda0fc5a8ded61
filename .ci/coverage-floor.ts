#!/usr/bin/env bun
/**
 * The coverage floor `.ci/run` holds: line coverage of src/core and src/db,
 * computed from the lcov report `npm test -- --coverage` writes, must not fall
 * below FLOORS. Prints one line per directory; exits 1 when one is under its
 * floor or has no lines reported at all (a report that lost a directory must
 * not pass).
 *
 *   bun .ci/coverage-floor.ts [coverage/lcov.info]
 *
 * Only the test process is measured: the daemons and CLIs the end-to-end tests
 * start are separate processes. src/core and src/db are exercised in process
 * by the HTTP, store-contract and CLI-container tests.
 */
import { relative, resolve } from "node:path";

/** Least share of lines run, in percent, per directory (relative to the repository). */
export const FLOORS: Record<string, number> = {
  "src/core/": 90,
  "src/db/": 90,
};

export interface DirectoryCoverage {
  dir: string;
  found: number;
  hit: number;
  percent: number;
  floor: number;
  ok: boolean;
}

/** Sums LF (lines found) and LH (lines hit) of every lcov record under each floor's directory. */
export function checkFloors(
  lcov: string,
  root: string,
  floors: Record<string, number> = FLOORS,
): DirectoryCoverage[] {
  const totals = new Map(Object.keys(floors).map((d) => [d, { found: 0, hit: 0 }]));
  let file = "";
  for (const line of lcov.split("\n")) {
    if (line.startsWith("SF:")) file = relative(root, resolve(root, line.slice(3)));
    const dir = [...totals.keys()].find((d) => file.startsWith(d));
    const total = dir ? totals.get(dir) : undefined;
    if (!total) continue;
    if (line.startsWith("LF:")) total.found += Number(line.slice(3));
    if (line.startsWith("LH:")) total.hit += Number(line.slice(3));
  }
  return [...totals].map(([dir, { found, hit }]) => {
    const percent = found === 0 ? 0 : (hit / found) * 100;
    const floor = floors[dir] ?? 100;
    return { dir, found, hit, percent, floor, ok: found > 0 && percent >= floor };
  });
}

if (import.meta.main) {
  const root = resolve(import.meta.dir, "..");
  const path = resolve(root, process.argv[2] ?? "coverage/lcov.info");
  const file = Bun.file(path);
  if (!(await file.exists())) {
    console.error(`coverage floor: no lcov report at ${relative(root, path)}`);
    process.exit(1);
  }
  const results = checkFloors(await file.text(), root);
  for (const r of results) {
    console.log(
      `coverage ${r.ok ? "ok  " : "LOW "} ${r.dir.padEnd(10)} lines ${r.percent.toFixed(2)}% (${r.hit}/${r.found}), floor ${r.floor}%`,
    );
  }
  process.exit(results.every((r) => r.ok) ? 0 : 1);
}
