/**
 * The HIBP adapter on its own, against a real local range-API server: the
 * response parsing, and the breaker's whole cycle — open after consecutive
 * failures, no waiting while open, a trial after the half-open delay, closed
 * again once the service answers.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { Writable } from "node:stream";
import { createHibpCheck, hibpHash, rangeListsSuffix } from "../../src/infra/hibp.ts";
import { createLogger } from "../../src/infra/logger.ts";
import { startHibpServer } from "../helpers/hibp-server.ts";

const BREACHED = "monkey business 1999";

function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger(
    "info",
    new Writable({
      write(chunk, _enc, done) {
        for (const l of String(chunk).split("\n").filter(Boolean))
          lines.push(JSON.parse(l));
        done();
      },
    }),
  );
  return { logger, lines };
}

describe("HIBP range API adapter", () => {
  const hibp = startHibpServer({ [BREACHED]: 42 });
  afterAll(() => hibp.stop());

  test("hash split and response parsing: counts above 0 only, any case, CRLF", () => {
    const { prefix, suffix } = hibpHash("password");
    expect(prefix).toBe("5BAA6");
    expect(suffix).toBe("1E4C9B93F3F0682250B6CF8331B7EE68FD8");
    const body = `0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n${suffix.toLowerCase()}:9545824\r\n`;
    expect(rangeListsSuffix(body, suffix)).toBe(true);
    expect(rangeListsSuffix(`${suffix}:0\r\n`, suffix)).toBe(false);
    expect(rangeListsSuffix("", suffix)).toBe(false);
  });

  test("the breaker opens, skips lookups while open, and closes once the service answers", async () => {
    const { logger, lines } = capturedLogger();
    const check = createHibpCheck({
      url: `${hibp.url}/`,
      timeoutMs: 100,
      logger,
      threshold: 2,
      halfOpenAfterMs: 300,
    });
    expect(await check.isBreached(BREACHED)).toBe(true);
    expect(await check.isBreached("an unlisted password 1")).toBe(false);

    hibp.setMode("error");
    const before = hibp.requests.length;
    expect(await check.isBreached(BREACHED)).toBe(false);
    expect(await check.isBreached(BREACHED)).toBe(false);
    expect(hibp.requests.length).toBe(before + 2);
    expect(lines.some((l) => String(l.msg).includes("keeps failing"))).toBe(true);
    // Open: answered at once, nothing sent.
    expect(await check.isBreached(BREACHED)).toBe(false);
    expect(hibp.requests.length).toBe(before + 2);
    expect(lines.map((l) => l.reason)).toContain("circuit_open");
    expect(lines.filter((l) => l.reason === "unavailable")[0]).toMatchObject({
      cause: "the service answered 503",
    });

    // Back: after the half-open delay a trial goes through and closes the breaker.
    hibp.setMode("ok");
    const deadline = Date.now() + 10_000;
    while (!(await check.isBreached(BREACHED))) {
      if (Date.now() > deadline) throw new Error("the breaker never closed again");
      await Bun.sleep(50);
    }
    expect(lines.some((l) => l.msg === "breached-password service answers again")).toBe(
      true,
    );
    expect(JSON.stringify(lines)).not.toContain(BREACHED);
  });
});
