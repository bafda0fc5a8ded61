/**
 * The suite's own machinery: the default timeout, and the two checks `.ci/run`
 * makes on a test run (the PostgreSQL half ran, the coverage floor holds).
 *
 * The preload (tests/helpers/setup.ts) gives every
 * test file a 30 s default timeout; bun's own default is 5 s, and a
 * `setDefaultTimeout` in the preload alone reached only the first file, so
 * process-spawning tests timed out at 5 s on a busy machine. This file is
 * never the first to run alone in a full run, and outlives 5 s on purpose.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { checkFloors, FLOORS } from "../../.ci/coverage-floor.ts";
import { checkPgHalf } from "../../.ci/pg-half.ts";
import {
  defaultTimeoutFor,
  PROCESS_TIMEOUT_MS,
  SUITE_TIMEOUT_MS,
} from "../helpers/setup.ts";

test("every test file gets the 30 s default timeout, not bun's 5 s", async () => {
  expect(SUITE_TIMEOUT_MS).toBe(30_000);
  // Longer than bun's 5 s default: under it, this test would fail as timed out.
  await Bun.sleep(5_500);
});

test("a file that starts processes gets 120 s by default, whichever helper it uses", () => {
  expect(PROCESS_TIMEOUT_MS).toBe(120_000);
  expect(defaultTimeoutFor('const r = await runAuthctl(["doctor"], env);')).toBe(
    PROCESS_TIMEOUT_MS,
  );
  expect(defaultTimeoutFor("const proc = Bun.spawn([process.execPath]);")).toBe(
    PROCESS_TIMEOUT_MS,
  );
  expect(defaultTimeoutFor("const app = useTestApp();")).toBe(SUITE_TIMEOUT_MS);
  // Every file under tests/ that spawns (the flaky `authctl --help` one among
  // them) is recognised, with or without a setDefaultTimeout of its own.
  const root = join(import.meta.dir, "..");
  const files = readdirSync(root, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(".test.ts"));
  const spawning = files.filter((f) =>
    /Bun\.spawn|startDaemon|runAuthctl|useCliDatabase/.test(
      readFileSync(join(root, f), "utf8"),
    ),
  );
  expect(spawning).toContain("cli/usage.test.ts");
  for (const f of spawning)
    expect({ f, ms: defaultTimeoutFor(readFileSync(join(root, f), "utf8")) }).toEqual({
      f,
      ms: PROCESS_TIMEOUT_MS,
    });
});

describe(".ci/pg-half.ts: did the PostgreSQL half run?", () => {
  const log = (...lines: string[]) => lines.join("\n");
  const both = log(
    "tests/http/a.test.ts:",
    "(pass) refresh [sqlite] > rotates [12.50ms]",
    "(pass) refresh [sqlite] > a repeat [1.20ms]",
    "(pass) refresh [pg] > rotates [40.10ms]",
    "(fail) refresh [pg] > a repeat [5000.00ms]",
    "(pass) OpenAPI document > is OpenAPI 3 [0.20ms]",
    " 4 pass",
    " 1 fail",
  );

  test("both halves ran: ok, a failing pg twin still counts as run", () => {
    expect(checkPgHalf(both)).toEqual({
      ok: true,
      sqliteRan: 2,
      pgRan: 2,
      pgPassed: 1,
      missing: [],
    });
  });

  test("no pg tests at all (TEST_DATABASE_URL unset): not ok, every twin named", () => {
    const sqliteOnly = both
      .split("\n")
      .filter((l) => !l.includes("[pg]"))
      .join("\n");
    expect(checkPgHalf(sqliteOnly)).toMatchObject({
      ok: false,
      pgRan: 0,
      missing: ["refresh [pg] > rotates", "refresh [pg] > a repeat"],
    });
  });

  test("one suite lost its pg half, or it was skipped: not ok", () => {
    const skipped = both.replace(
      "(fail) refresh [pg] > a repeat",
      "(skip) refresh [pg] > a repeat",
    );
    expect(checkPgHalf(skipped)).toMatchObject({
      ok: false,
      missing: ["refresh [pg] > a repeat"],
    });
  });

  test("pg tests ran but none passed: not ok", () => {
    expect(
      checkPgHalf(both.replace("(pass) refresh [pg]", "(fail) refresh [pg]")).ok,
    ).toBe(false);
  });

  test("colour codes around the result are ignored", () => {
    const coloured = both.replaceAll("(pass)", "\x1b[32m(pass)\x1b[0m");
    expect(checkPgHalf(coloured).ok).toBe(true);
  });
});

describe(".ci/coverage-floor.ts: line coverage of src/core and src/db", () => {
  const record = (file: string, found: number, hit: number) =>
    `SF:${file}\nLF:${found}\nLH:${hit}\nend_of_record`;
  const root = "/repo";

  test("sums the records under each directory and holds each to its floor", () => {
    const lcov = [
      record("src/core/a.ts", 100, 95),
      record("src/core/b.ts", 100, 90),
      record("src/db/store.ts", 50, 40),
      record("src/http/app.ts", 100, 0),
    ].join("\n");
    expect(checkFloors(lcov, root)).toEqual([
      { dir: "src/core/", found: 200, hit: 185, percent: 92.5, floor: 90, ok: true },
      { dir: "src/db/", found: 50, hit: 40, percent: 80, floor: 90, ok: false },
    ]);
  });

  test("absolute paths count; a directory with no lines reported fails", () => {
    const lcov = record("/repo/src/core/a.ts", 10, 10);
    expect(checkFloors(lcov, root).map((r) => [r.dir, r.ok])).toEqual([
      ["src/core/", true],
      ["src/db/", false],
    ]);
  });

  test("the floors are 90 % for both", () => {
    expect(FLOORS).toEqual({ "src/core/": 90, "src/db/": 90 });
  });
});
