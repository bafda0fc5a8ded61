/**
 * A database outage under a real daemon: a TCP proxy between the daemon and
 * a real PostgreSQL cuts the connections (refusing new ones) or hangs them
 * (open, but nothing forwarded). The daemon answers 503 `unavailable` with
 * Retry-After, opens its storage circuit so that requests stop waiting,
 * reports /readyz 503 while /healthz stays 200, and once the database is back
 * serves again by itself, with no restart. Runs only with TEST_DATABASE_URL.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createPgDatabase, PG_URL, type TestDatabase } from "../helpers/databases.ts";
import {
  GOOD_PASSWORD,
  TEST_KEK,
  type TokenBody,
  uniqueEmail,
} from "../helpers/harness.ts";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.ts";
import { type Daemon, startDaemon } from "./daemon-process.ts";

/** Small, so the suite is quick; the behaviour does not depend on the values. */
const OUTAGE_ENV = {
  DB_TIMEOUT_MS: "1000",
  DB_BREAKER_THRESHOLD: "2",
  DB_BREAKER_HALF_OPEN_MS: "3000",
  ARGON2_MEMORY_KIB: "1024",
  ARGON2_TIME_COST: "1",
  KEY_ENCRYPTION_KEY: TEST_KEK,
  LOG_LEVEL: "info",
};

const BREAKER_OPEN = "Execution prevented because the circuit breaker is open";

interface Problem {
  status: number;
  code: string;
  retryAfter: string | null;
}

describe.skipIf(!PG_URL)("database outage [pg]", () => {
  let db: TestDatabase | undefined;
  let proxy: TcpProxy | undefined;
  let daemon: Daemon | undefined;

  afterEach(async () => {
    if (daemon && daemon.proc.exitCode === null) daemon.proc.kill("SIGKILL");
    await daemon?.proc.exited;
    await proxy?.close();
    await db?.drop();
    daemon = proxy = db = undefined;
  });

  async function start() {
    db = await createPgDatabase();
    const url = new URL(db.url);
    proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    daemon = await startDaemon({
      env: { ...OUTAGE_ENV, DATABASE_URL: proxy.via(db.url) },
    });
    const d = daemon;
    const res = await fetch(`${d.url}/auth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: uniqueEmail("outage"), password: GOOD_PASSWORD }),
    });
    expect(res.status).toBe(201);
    const tokens = (await res.json()) as TokenBody;
    const me = () =>
      fetch(`${d.url}/users/me`, {
        headers: { authorization: `Bearer ${tokens.access_token}` },
      });
    return { d, p: proxy, me };
  }

  const problemOf = async (res: Response): Promise<Problem> => ({
    status: res.status,
    code: ((await res.json()) as { code: string }).code,
    retryAfter: res.headers.get("retry-after"),
  });

  const unavailable = { status: 503, code: "unavailable", retryAfter: "5" };

  /** Asks until the daemon logs that its storage circuit is open; every answer is a 503. */
  async function untilBreakerOpen(d: Daemon, me: () => Promise<Response>) {
    const deadline = Date.now() + 30_000;
    const opened = () =>
      d.lines.some(
        (l) =>
          l.msg === "storage unavailable" &&
          (l.cause as { message?: string })?.message === BREAKER_OPEN,
      );
    while (!opened()) {
      if (Date.now() > deadline) throw new Error("the storage circuit never opened");
      expect(await problemOf(await me())).toEqual(unavailable);
    }
  }

  /** Asks until the daemon serves again; the same process, never restarted. */
  async function untilServing(d: Daemon, me: () => Promise<Response>) {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const res = await me();
      if (res.status === 200) break;
      expect(await problemOf(res)).toEqual(unavailable);
      if (Date.now() > deadline) throw new Error("the daemon did not recover");
      await Bun.sleep(100);
    }
    expect(d.proc.exitCode).toBeNull();
    expect(d.lines.filter((l) => l.msg === "listening")).toHaveLength(1);
    expect(d.stderr()).toBe("");
  }

  async function expectProbesDuringOutage(d: Daemon) {
    const ready = await fetch(`${d.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ checks: { storage: "failing" } });
    const health = await fetch(`${d.url}/healthz`);
    expect(health.status).toBe(200);
  }

  test("cut: 503 with Retry-After, the circuit opens, then it serves again by itself", async () => {
    const { d, p, me } = await start();
    expect((await me()).status).toBe(200);

    await p.cut();
    expect(await problemOf(await me())).toEqual(unavailable);
    await untilBreakerOpen(d, me);
    await expectProbesDuringOutage(d);

    await p.restore();
    await untilServing(d, me);
    const ready = await fetch(`${d.url}/readyz`);
    expect(ready.status).toBe(200);
    const login = await fetch(`${d.url}/auth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: uniqueEmail("after"), password: GOOD_PASSWORD }),
    });
    expect(login.status).toBe(201);
  });

  test("hang: a request that comes while another's lookup is stalled waits its own timeout, not the other's too", async () => {
    const { p, me } = await start();
    p.hang();
    const timed = async () => {
      const t0 = performance.now();
      const problem = await problemOf(await me());
      return { problem, ms: performance.now() - t0 };
    };
    // At most two session lookup batches are out at once; batches out for
    // longer than 50 ms no longer hold the next one back (src/core/sessions.ts).
    const first = timed();
    await Bun.sleep(100);
    const second = await timed();
    const firstDone = await first;
    expect(firstDone.problem).toEqual(unavailable);
    expect(second.problem).toEqual(unavailable);
    // Held behind the first batch, the second would wait ~900 ms more.
    expect(second.ms).toBeLessThan(firstDone.ms + 500);
  });

  test("hang: 503 after the storage timeout, then no request even reaches the database", async () => {
    const { d, p, me } = await start();
    p.hang();
    const timedOut = await me();
    expect(await problemOf(timedOut)).toEqual(unavailable);
    await untilBreakerOpen(d, me);

    // The circuit is open: answers come without a byte sent to the database.
    const sent = p.bytesFromClients();
    for (let i = 0; i < 5; i++)
      expect(await problemOf(await me())).toEqual(unavailable);
    await expectProbesDuringOutage(d);
    expect(p.bytesFromClients()).toBe(sent);
    expect(
      d.lines.some(
        (l) =>
          l.msg === "storage unavailable" &&
          // The first answers waited for the timeout, not for a refusal.
          (l.cause as { message?: string })?.message ===
            `Operation timed out after ${OUTAGE_ENV.DB_TIMEOUT_MS}ms`,
      ),
    ).toBe(true);

    await p.restore();
    await untilServing(d, me);
    expect((await fetch(`${d.url}/readyz`)).status).toBe(200);
  });
});
