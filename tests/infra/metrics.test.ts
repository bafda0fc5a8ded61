/**
 * The request families as a scrape reads them, from observations of known
 * durations: each duration in the bucket whose bound it does not exceed,
 * the buckets cumulative, and counts that add up across scrapes (the tallies
 * are handed to the counter once, not once per scrape).
 */
import { describe, expect, test } from "bun:test";
import { createMetrics } from "../../src/infra/metrics.ts";
import { parsePrometheus } from "../helpers/prometheus.ts";

function metrics() {
  return createMetrics({
    version: "0.0.0-test",
    circuitOpen: () => false,
    outboxPending: async () => 0,
  });
}

const scrape = async (m: ReturnType<typeof metrics>) =>
  parsePrometheus(await m.scrape());

describe("request metrics", () => {
  test("durations land in the first bucket they do not exceed", async () => {
    const m = metrics();
    for (const seconds of [0.0004, 0.0005, 0.001, 0.003, 20])
      m.observeRequest("GET", "/users/me", 200, seconds);
    const s = await scrape(m);
    const bucket = (le: string) =>
      s.value("authd_http_request_duration_seconds_bucket", { route: "/users/me", le });
    expect(bucket("0.0005")).toBe(2); // a bound holds what equals it
    expect(bucket("0.001")).toBe(3);
    expect(bucket("0.0025")).toBe(3);
    expect(bucket("0.005")).toBe(4);
    expect(bucket("10")).toBe(4);
    expect(bucket("+Inf")).toBe(5);
    expect(s.all("authd_http_request_duration_seconds_bucket").length).toBe(15);
    expect(
      s.value("authd_http_request_duration_seconds_sum", { route: "/users/me" }),
    ).toBeCloseTo(20.0049, 10);
    expect(
      s.value("authd_http_request_duration_seconds_count", { route: "/users/me" }),
    ).toBe(5);
  });

  test("counts add up across scrapes, per method, route and status", async () => {
    const m = metrics();
    m.observeRequest("GET", "/users/me", 200, 0.001);
    m.observeRequest("GET", "/users/me", 200, 0.001);
    m.observeRequest("GET", "/users/:id", 404, 0.001);
    m.observeRequest("PROPFIND", null, 405, 0.001);
    const count = (
      s: Awaited<ReturnType<typeof scrape>>,
      labels: Record<string, string>,
    ) => s.value("authd_http_requests_total", labels);
    const first = await scrape(m);
    expect(count(first, { method: "GET", route: "/users/me", status: "200" })).toBe(2);
    expect(count(first, { method: "GET", route: "/users/{id}", status: "404" })).toBe(
      1,
    );
    expect(count(first, { method: "other", route: "unmatched", status: "405" })).toBe(
      1,
    );

    m.observeRequest("GET", "/users/me", 200, 0.001);
    m.observeRequest("GET", "/users/me", 500, 0.001);
    const second = await scrape(m);
    expect(count(second, { method: "GET", route: "/users/me", status: "200" })).toBe(3);
    expect(count(second, { method: "GET", route: "/users/me", status: "500" })).toBe(1);
    expect(count(second, { method: "GET", route: "/users/{id}", status: "404" })).toBe(
      1,
    );
    expect(
      second.value("authd_http_request_duration_seconds_count", { route: "/users/me" }),
    ).toBe(4);
    expect(second.types.get("authd_http_requests_total")).toBe("counter");
    expect(second.types.get("authd_http_request_duration_seconds")).toBe("histogram");
  });
});
