/**
 * Prometheus metrics with prom-client (API.md "Operations"). One registry per
 * container, never prom-client's global one: tests build many containers in
 * one process, and each must count only its own traffic.
 *
 * The hot path is one counter increment and one histogram observation per
 * request (well under a microsecond each, measured); everything that needs
 * a lookup — the hash queue, the storage circuit, the outbox count — is read
 * when Prometheus scrapes, not when it changes.
 */
import type * as PromClient from "prom-client";
import type { Budget } from "../core/limits.ts";
import type { AuthEvents, LoginOutcome, RefreshOutcome } from "../core/telemetry.ts";

// These come from their own files: prom-client's index also loads
// its Pushgateway (node:http, node:https, node:zlib) and its cluster
// aggregator, which the daemon never uses, ~18 ms of a start from source
// (docs/performance.md). prom-client is pinned; the /metrics tests
// (tests/http/metrics.test.ts, tests/e2e/metrics.test.ts) fail if they move.
const Registry = require("prom-client/lib/registry") as typeof PromClient.Registry;
const Counter = require("prom-client/lib/counter") as typeof PromClient.Counter;
const Gauge = require("prom-client/lib/gauge") as typeof PromClient.Gauge;

export interface MetricsSources {
  /** The daemon's version, for `authd_build_info`. */
  version: string;
  /** The password hasher's semaphore (src/infra/hasher.ts), when it has one. */
  hashStats?: () => { active: number; waiting: number };
  /** Whether the storage circuit is open (src/infra/resilience.ts). */
  circuitOpen: () => boolean;
  /** Mails waiting in the outbox; read at scrape time. */
  outboxPending: () => Promise<number>;
  /** A source that failed during a scrape (its gauge reads NaN). */
  onSourceError?: (source: string, error: unknown) => void;
}

/**
 * Request duration buckets, in seconds: /users/me answers in about a
 * millisecond and a login in about a second (argon2id), so the buckets span
 * 0.5 ms to 10 s.
 */
const DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** One route's requests since the process started, as the scrape reads them. */
interface RouteTally {
  route: string;
  /** Per duration bound, the requests whose duration fell at or below it and above the one before. */
  buckets: number[];
  sum: number;
  count: number;
  /** Requests not yet handed to prom-client's counter, by status, then method. */
  answered: Map<number, Map<string, { labels: Record<string, string>; n: number }>>;
}

const DURATION_NAME = "authd_http_request_duration_seconds";

/**
 * The request-duration histogram, read from the tallies: what prom-client's
 * registry asks of a metric (`get()`), in the shape and label order its own
 * Histogram gives (`le` first, then `route`).
 */
function routeDurations(tallies: Map<string, RouteTally>) {
  const help =
    "Time from receiving a request to its response being ready, by route pattern.";
  return {
    name: DURATION_NAME,
    help,
    type: "histogram",
    aggregator: "sum",
    async get() {
      const values = [...tallies.values()].flatMap((t) => {
        const route = { route: t.route };
        let below = 0;
        return [
          ...DURATION_BUCKETS.map((le, i) => {
            below += t.buckets[i] as number;
            return {
              labels: { le },
              sharedLabels: route,
              value: below,
              metricName: `${DURATION_NAME}_bucket`,
            };
          }),
          {
            labels: { le: "+Inf" },
            sharedLabels: route,
            value: t.count,
            metricName: `${DURATION_NAME}_bucket`,
          },
          {
            labels: {},
            sharedLabels: route,
            value: t.sum,
            metricName: `${DURATION_NAME}_sum`,
          },
          {
            labels: {},
            sharedLabels: route,
            value: t.count,
            metricName: `${DURATION_NAME}_count`,
          },
        ];
      });
      return {
        name: DURATION_NAME,
        help,
        type: "histogram",
        aggregator: "sum",
        values,
      };
    },
  };
}

/** Methods that get their own label value; anything else is `other`. */
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** The `route` label of a request no route served (404, 405, a preflight). */
export const UNMATCHED_ROUTE = "unmatched";

export function createMetrics(sources: MetricsSources) {
  const registry = new Registry();
  const registers = [registry];

  // The two per-request families are tallied here, with a map lookup and a
  // few additions, and handed to prom-client when Prometheus scrapes: its
  // Counter and Histogram validate and hash the labels on every call, ~2 µs
  // of a ~40 µs GET /users/me (docs/performance.md, "Metrics, tallied").
  const tallies = new Map<string, RouteTally>();
  new Counter({
    name: "authd_http_requests_total",
    help: "HTTP requests answered, by method, route pattern and status.",
    labelNames: ["method", "route", "status"] as const,
    registers,
    collect() {
      for (const t of tallies.values())
        for (const byMethod of t.answered.values())
          for (const a of byMethod.values())
            if (a.n > 0) {
              this.inc(a.labels, a.n);
              a.n = 0;
            }
    },
  });
  registry.registerMetric(routeDurations(tallies) as unknown as PromClient.Metric);
  const logins = new Counter({
    name: "authd_logins_total",
    help: "Logins by outcome: success, invalid_credentials, rate_limited, refused, error.",
    labelNames: ["outcome"] as const,
    registers,
  });
  const refreshes = new Counter({
    name: "authd_refresh_total",
    help: "Refresh-token exchanges by outcome: rotated, reused (within the grace interval), reuse_detected (session revoked), invalid.",
    labelNames: ["outcome"] as const,
    registers,
  });
  const rateLimited = new Counter({
    name: "authd_rate_limited_total",
    help: "Requests refused with 429, by budget: ip, account_ip, account.",
    labelNames: ["budget"] as const,
    registers,
  });
  // Every label value a dashboard may look for exists from the start, at 0.
  for (const o of [
    "success",
    "invalid_credentials",
    "rate_limited",
    "refused",
    "error",
  ] as const)
    logins.inc({ outcome: o }, 0);
  for (const o of ["rotated", "reused", "reuse_detected", "invalid"] as const)
    refreshes.inc({ outcome: o }, 0);
  for (const b of ["ip", "account_ip", "account"] as const)
    rateLimited.inc({ budget: b }, 0);

  const failed = (source: string, e: unknown) => {
    sources.onSourceError?.(source, e);
    return Number.NaN;
  };
  const { hashStats } = sources;
  if (hashStats) {
    new Gauge({
      name: "authd_password_hash_queue",
      help: "Password hashes waiting for a hashing slot (HASH_QUEUE_MAX refuses more).",
      registers,
      collect() {
        this.set(hashStats().waiting);
      },
    });
    new Gauge({
      name: "authd_password_hashes_running",
      help: "Password hashes running now (at most HASH_CONCURRENCY).",
      registers,
      collect() {
        this.set(hashStats().active);
      },
    });
  }
  new Gauge({
    name: "authd_storage_circuit_open",
    help: "1 while the storage circuit breaker is open or half-open (storage calls fail fast with 503), else 0.",
    registers,
    collect() {
      this.set(sources.circuitOpen() ? 1 : 0);
    },
  });
  new Gauge({
    name: "authd_outbox_pending",
    help: "Mails in the outbox not yet sent nor given up on (NaN when storage did not answer).",
    registers,
    async collect() {
      this.set(
        await sources
          .outboxPending()
          .catch((e: unknown) => failed("outbox_pending", e)),
      );
    },
  });
  new Gauge({
    name: "authd_build_info",
    help: "Always 1; the labels name the running build.",
    labelNames: ["version"] as const,
    registers,
  }).set({ version: sources.version }, 1);

  // Elysia's `/users/:id` becomes the OpenAPI document's `/users/{id}`, once per pattern.
  const routeLabels = new Map<string, string>();
  const routeLabel = (pattern: string | null): string => {
    if (pattern === null) return UNMATCHED_ROUTE;
    let label = routeLabels.get(pattern);
    if (label === undefined) {
      label = pattern.replace(/:([^/]+)/g, "{$1}");
      routeLabels.set(pattern, label);
    }
    return label;
  };

  // prom-client's default process metrics: "off" in a container that is not a
  // daemon, "wanted" once the daemon asks, "on" once registered.
  let processMetrics: "off" | "wanted" | "on" = "off";
  const startProcessMetrics = (): void => {
    if (processMetrics !== "wanted") return;
    processMetrics = "on";
    // Loaded here, not with the module: it requires @opentelemetry/api (51
    // modules, for exemplars the daemon does not use), ~35 ms of a start.
    const collectDefaultMetrics =
      require("prom-client/lib/defaultMetrics") as typeof PromClient.collectDefaultMetrics;
    collectDefaultMetrics({ register: registry });
    // prom-client counts CPU from here on; a process's CPU counter counts from
    // its start (Prometheus's convention, and what `ps` shows).
    const { user, system } = process.cpuUsage();
    for (const [name, micros] of [
      ["process_cpu_user_seconds_total", user],
      ["process_cpu_system_seconds_total", system],
      ["process_cpu_seconds_total", user + system],
    ] as const)
      (registry.getSingleMetric(name) as PromClient.Counter | undefined)?.inc(
        micros / 1e6,
      );
  };

  const events: AuthEvents = {
    login: (outcome: LoginOutcome) => logins.inc({ outcome }),
    refresh: (outcome: RefreshOutcome) => refreshes.inc({ outcome }),
    rateLimited: (budget: Budget) => rateLimited.inc({ budget }),
  };

  return {
    events,

    /** One answered request; `route` is the matched pattern, or null. */
    observeRequest(
      method: string,
      route: string | null,
      status: number,
      seconds: number,
    ) {
      const label = routeLabel(route);
      let t = tallies.get(label);
      if (t === undefined) {
        t = {
          route: label,
          buckets: DURATION_BUCKETS.map(() => 0),
          sum: 0,
          count: 0,
          answered: new Map(),
        };
        tallies.set(label, t);
      }
      let i = 0;
      while (i < DURATION_BUCKETS.length && seconds > (DURATION_BUCKETS[i] as number))
        i++;
      if (i < DURATION_BUCKETS.length) t.buckets[i] = (t.buckets[i] as number) + 1;
      t.sum += seconds;
      t.count++;
      const m = METHODS.has(method) ? method : "other";
      let byMethod = t.answered.get(status);
      if (byMethod === undefined) {
        byMethod = new Map();
        t.answered.set(status, byMethod);
      }
      const a = byMethod.get(m);
      if (a === undefined)
        byMethod.set(m, {
          labels: { method: m, route: label, status: String(status) },
          n: 1,
        });
      else a.n++;
    },

    /**
     * Asks for prom-client's default process metrics (CPU, memory, file
     * descriptors, event loop, GC). Asked by the daemon (src/main.ts), not by
     * every container: `authctl` and in-process tests have no process of
     * their own to report, and the event-loop monitor and the GC observer
     * live as long as the process. They are registered by the first scrape
     * or by `startProcessMetrics`, whichever comes first, so that loading
     * them is not part of the daemon's start (docs/performance.md).
     */
    collectProcessMetrics(): void {
      if (processMetrics === "off") processMetrics = "wanted";
    },

    /** Registers the process metrics now, if they were asked for. */
    startProcessMetrics,

    contentType: registry.contentType,

    /** The text Prometheus scrapes. */
    scrape: (): Promise<string> => {
      startProcessMetrics();
      return registry.metrics();
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
