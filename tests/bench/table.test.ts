/**
 * The bench's verdicts (bench/lib/table.ts): a pair's ratio is the median of
 * its rounds' ratios when they are given, so a machine that drifts between
 * rounds does not pair one round's row with another round's baseline.
 */
import { describe, expect, test } from "bun:test";
import { renderTable, type TableRow } from "../../bench/lib/table.ts";

const cells = (row: TableRow) =>
  (renderTable([row]).split("\n")[2] as string).split("|").map((c) => c.trim());
// | workload | db | req/s | … | baseline | ratio | target | met? |
const RATIO = 11;
const MET = 13;

const login: TableRow = {
  label: "POST /auth/login",
  dialect: "pg",
  // Rounds: login 24, 24, 32 against verify 25, 27, 34 (run 24 of docs/performance.md).
  measure: { rps: 24 },
  metric: "rps",
  baselineLabel: "raw verify",
  baseline: 27,
  target: { kind: "min-ratio", ratio: 0.9 },
};

describe("bench table", () => {
  test("without rounds, the ratio is the row's median over the baseline's", () => {
    const c = cells(login);
    expect(c[RATIO]).toBe("0.89×");
    expect(c[MET]).toBe("**no**");
  });

  test("with rounds, the ratio is the median of the rounds' ratios, each shown", () => {
    const c = cells({ ...login, ratios: [24 / 25, 24 / 27, 32 / 34] });
    expect(c[RATIO]).toBe("0.94× (0.96, 0.89, 0.94)");
    expect(c[MET]).toBe("yes");
  });

  test("a ceiling is judged on the median round too", () => {
    const flood: TableRow = {
      label: "GET /users/me p99 during a login flood",
      dialect: "sqlite",
      measure: { p99: 9 },
      metric: "p99",
      baselineLabel: "idle p99",
      baseline: 3,
      ratios: [2.5, 3.5, 3.2],
      target: { kind: "max-ratio", ratio: 3 },
    };
    const c = cells(flood);
    expect(c[RATIO]).toBe("3.20× (2.50, 3.50, 3.20)");
    expect(c[MET]).toBe("**no**");
  });

  test("one round: the ratio alone, as before", () => {
    const c = cells({ ...login, ratios: [24 / 25] });
    expect(c[RATIO]).toBe("0.96×");
    expect(c[MET]).toBe("yes");
  });
});
