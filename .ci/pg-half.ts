#!/usr/bin/env bun
/**
 * Did the PostgreSQL half of the suite run? `.ci/run` asks this of the test
 * log, because without TEST_DATABASE_URL (or with a suite that skips pg) the
 * pg variants simply do not exist, and the run would still be green.
 *
 *   bun .ci/pg-half.ts .ci/test.log
 *
 * The rule, on the "(pass) name" / "(fail) name" lines bun prints:
 * - every suite that runs on both dialects names its dialect, `[sqlite]` or
 *   `[pg]` (tests/helpers/databases.ts DIALECTS);
 * - so every test that ran with `[sqlite]` in its name must have a twin that
 *   ran with `[pg]` in the same place (skipped does not count), and
 * - at least one `[pg]` test passed.
 * Failing twins are already counted as failures; this check is about tests
 * that never ran. Exits 1, naming the first missing twins, when the rule fails.
 */

export interface PgHalf {
  ok: boolean;
  sqliteRan: number;
  pgRan: number;
  pgPassed: number;
  /** `[pg]` names that should have run (their `[sqlite]` twin did) but did not. */
  missing: string[];
}

const RESULT = /^\((pass|fail)\) (.+?)(?: \[[0-9.]+m?s\])?$/;

export function checkPgHalf(log: string): PgHalf {
  const ran = new Map<string, "pass" | "fail">();
  for (const raw of log.split("\n")) {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes
    const line = raw.replace(/\x1b\[[0-9;]*m/g, "").trimEnd();
    const m = RESULT.exec(line);
    if (m?.[1] && m[2]) ran.set(m[2], m[1] as "pass" | "fail");
  }
  const names = [...ran.keys()];
  const sqlite = names.filter((n) => n.includes("[sqlite]"));
  const pg = names.filter((n) => n.includes("[pg]"));
  const missing = sqlite
    .map((n) => n.replaceAll("[sqlite]", "[pg]"))
    .filter((n) => !ran.has(n));
  const pgPassed = pg.filter((n) => ran.get(n) === "pass").length;
  return {
    ok: pgPassed > 0 && missing.length === 0,
    sqliteRan: sqlite.length,
    pgRan: pg.length,
    pgPassed,
    missing,
  };
}

if (import.meta.main) {
  const path = process.argv[2] ?? ".ci/test.log";
  const file = Bun.file(path);
  if (!(await file.exists())) {
    console.error(`pg half: no test log at ${path}`);
    process.exit(1);
  }
  const r = checkPgHalf(await file.text());
  console.log(
    `pg half: ${r.pgRan} [pg] tests ran (${r.pgPassed} passed) for ${r.sqliteRan} [sqlite] tests; ${r.missing.length} without a pg twin`,
  );
  for (const name of r.missing.slice(0, 10)) console.log(`  missing: ${name}`);
  if (r.missing.length > 10) console.log(`  … and ${r.missing.length - 10} more`);
  process.exit(r.ok ? 0 : 1);
}
