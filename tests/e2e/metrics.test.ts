/**
 * /metrics on the real daemon process, scraped over the network as
 * Prometheus would: the authd families with route patterns, the process
 * metrics prom-client collects (only the daemon starts those), the
 * METRICS_TOKEN over HTTP, and no access line per successful scrape.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import pkg from "../../package.json" with { type: "json" };
import { getFrom, registerOver } from "../helpers/daemon-http.ts";
import { DIALECTS } from "../helpers/databases.ts";
import { PROMETHEUS_CONTENT_TYPE, parsePrometheus } from "../helpers/prometheus.ts";
import { useDaemon } from "./daemon-process.ts";

/** User plus system CPU seconds of a process, from /proc (Linux, 100 ticks a second). */
function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

// A real daemon on a busy 2-core machine: generous.
setDefaultTimeout(120_000);

const TOKEN = "e2e-metrics-token-never-logged";

for (const dialect of DIALECTS) {
  describe(`/metrics on the daemon [${dialect}]`, () => {
    const daemon = useDaemon(dialect, {
      METRICS_TOKEN: TOKEN,
      ARGON2_MEMORY_KIB: "1024",
      ARGON2_TIME_COST: "1",
      LOG_LEVEL: "info",
    });

    test("a scrape after traffic: route patterns, outcomes, process metrics", async () => {
      const user = await registerOver(daemon.url);
      const me = await getFrom(daemon.url, "/users/me", { token: user.access_token });
      expect(me.status).toBe(200);
      const session = (
        (await (
          await getFrom(daemon.url, "/users/me/sessions", { token: user.access_token })
        ).json()) as { items: { id: string }[] }
      ).items[0]?.id;
      expect(session).toBeString();
      const other = crypto.randomUUID();
      const gone = await fetch(`${daemon.url}/users/me/sessions/${other}`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${user.access_token}` },
      });
      expect(gone.status).toBe(404);

      const refused = await getFrom(daemon.url, "/metrics");
      expect(refused.status).toBe(401);
      expect(refused.headers.get("content-type")).toBe("application/problem+json");
      expect(((await refused.json()) as { code: string }).code).toBe("unauthenticated");

      const cpuBefore = cpuSecondsOf(daemon.proc.pid);
      const res = await getFrom(daemon.url, "/metrics", { token: TOKEN });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe(PROMETHEUS_CONTENT_TYPE);
      const s = parsePrometheus(await res.text());

      const count = (method: string, route: string, status: string) =>
        s.value("authd_http_requests_total", { method, route, status });
      expect(count("POST", "/auth/register", "201")).toBe(1);
      expect(count("GET", "/users/me", "200")).toBe(1);
      expect(count("GET", "/users/me/sessions", "200")).toBe(1);
      expect(count("DELETE", "/users/me/sessions/{id}", "404")).toBe(1);
      expect(count("GET", "/metrics", "401")).toBe(1);
      expect(s.text).not.toContain(other);
      expect(s.text).not.toContain(String(session));
      expect(s.value("authd_build_info", { version: pkg.version })).toBe(1);
      expect(s.value("authd_storage_circuit_open")).toBe(0);
      expect(s.value("authd_outbox_pending")).toBe(0);

      // prom-client's default process metrics, collected by the daemon.
      for (const name of [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
        "nodejs_heap_size_used_bytes",
      ]) {
        expect({ name, value: s.value(name) ?? -1 }).toMatchObject({ name });
        expect(s.value(name)).toBeGreaterThan(0);
      }
      expect(s.types.get("process_cpu_seconds_total")).toBe("counter");
      // The CPU counter counts from the process's start, as `ps` does, not from
      // when the metrics were registered (after the start's CPU was spent).
      // /proc counts in ticks of 10 ms.
      expect(s.value("process_cpu_seconds_total")).toBeGreaterThanOrEqual(
        cpuBefore - 0.02,
      );

      // The refused scrape has an access line; the successful one does not.
      await getFrom(daemon.url, "/healthz"); // a later line: the buffer is flushed by then
      await daemon.waitForLine((l) => l.msg === "request" && l.route === "/healthz");
      const scrapes = daemon.lines.filter(
        (l) => l.msg === "request" && l.route === "/metrics",
      );
      expect(scrapes.map((l) => l.status)).toEqual([401]);
      expect(JSON.stringify(daemon.lines)).not.toContain(TOKEN);
    });
  });
}
