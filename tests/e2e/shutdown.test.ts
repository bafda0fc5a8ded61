/**
 * SIGTERM and SIGINT: the daemon stops accepting, lets in-flight requests
 * finish (bounded by SHUTDOWN_TIMEOUT_MS), closes the database and exits 0.
 *
 * In-flight work is held by the test, not hoped for: each login is sent with
 * `Expect: 100-continue` and its body held back. The daemon answers
 * "100 Continue" once it has taken the request, and the request cannot finish
 * until the test sends the body. So the signal provably lands while requests
 * are in flight, on any machine, however fast or loaded.
 */
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { like } from "drizzle-orm";
import { openDatabase } from "../../src/db/connect.ts";
import { rateLimits as pgLimits } from "../../src/db/schema/pg.ts";
import { rateLimits as sqliteLimits } from "../../src/db/schema/sqlite.ts";
import { registerOver } from "../helpers/daemon-http.ts";
import {
  createTestDatabase,
  DIALECTS,
  type TestDatabase,
} from "../helpers/databases.ts";
import { GOOD_PASSWORD, TEST_KEK } from "../helpers/harness.ts";
import { type Daemon, startDaemon } from "./daemon-process.ts";

// Each test starts a daemon on a busy 2-core machine: generous, never the point.
setDefaultTimeout(120_000);
/** A login flood: the first ALLOWED pass the per-IP budget, the rest get 429. */
const FLOOD = 40;
const ALLOWED = 12;

const HELD = 3;

/** Polls the per-IP budget rows until one has counted `n` requests (bounded). */
async function untilIpHits(url: string, n: number): Promise<void> {
  const database = await openDatabase({ url });
  try {
    for (let i = 0; i < 600; i++) {
      const counts =
        database.dialect === "sqlite"
          ? database.db
              .select({ count: sqliteLimits.count })
              .from(sqliteLimits)
              .where(like(sqliteLimits.key, "ip:%"))
              .all()
          : await database.db
              .select({ count: pgLimits.count })
              .from(pgLimits)
              .where(like(pgLimits.key, "ip:%"));
      if (counts.some((r) => r.count >= n)) return;
      await Bun.sleep(20);
    }
    throw new Error(`the per-IP budget never counted ${n} requests`);
  } finally {
    await database.close();
  }
}

/** Opens a fresh TCP connection; resolves true if the daemon accepted it. */
const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });

/** Probes until the daemon refuses new connections (bounded, to fail rather than hang). */
async function untilRefused(port: number): Promise<boolean> {
  for (let i = 0; i < 600; i++) {
    if (!(await accepts(port))) return true;
    await Bun.sleep(50);
  }
  return false;
}

interface HeldRequest {
  /** Sends the body: the daemon can finish the request. */
  release(): void;
  /** The final status, or "closed" when the connection ended without one. */
  outcome: Promise<number | "closed">;
}

/**
 * A login whose body is held back. Resolves once the daemon has taken the
 * request (it answered "100 Continue"), so the request is in flight.
 */
async function heldLogin(port: number, email: string): Promise<HeldRequest> {
  const body = JSON.stringify({ email, password: GOOD_PASSWORD });
  const socket = connect({ host: "127.0.0.1", port });
  let received = "";
  const taken = Promise.withResolvers<void>();
  const outcome = new Promise<number | "closed">((resolve) => {
    socket.on("close", () => {
      const statuses = [...received.matchAll(/^HTTP\/1\.1 (\d{3})/gm)]
        .map((m) => Number(m[1]))
        .filter((s) => s !== 100);
      resolve(statuses[0] ?? "closed");
    });
  });
  socket.on("data", (chunk) => {
    received += String(chunk);
    if (received.includes(" 100 Continue")) taken.resolve();
  });
  socket.on("error", () => {});
  socket.on("close", () => taken.reject(new Error(`closed before 100: ${received}`)));
  socket.write(
    [
      "POST /auth/login HTTP/1.1",
      "Host: 127.0.0.1",
      "Content-Type: application/json",
      `Content-Length: ${Buffer.byteLength(body)}`,
      "Expect: 100-continue",
      "Connection: close",
      "",
      "",
    ].join("\r\n"),
  );
  await taken.promise;
  return { release: () => socket.write(body), outcome };
}

for (const dialect of DIALECTS) {
  describe(`shutdown [${dialect}]`, () => {
    let dir: string;
    let db: TestDatabase | undefined;
    let daemon: Daemon | undefined;

    afterEach(async () => {
      if (daemon && daemon.proc.exitCode === null) daemon.proc.kill("SIGKILL");
      await daemon?.exited();
      daemon = undefined;
      await db?.drop();
      db = undefined;
      rmSync(dir, { recursive: true, force: true });
    });

    async function start(env: Record<string, string>) {
      dir = mkdtempSync(join(tmpdir(), "authd-shutdown-"));
      db = await createTestDatabase(dialect, join(dir, "auth.db"));
      daemon = await startDaemon({
        env: {
          DATABASE_URL: db.url,
          KEY_ENCRYPTION_KEY: TEST_KEK,
          ARGON2_MEMORY_KIB: "1024",
          ARGON2_TIME_COST: "1",
          ...env,
        },
      });
      return daemon;
    }

    test("SIGTERM: in-flight requests finish normally, then the daemon exits 0", async () => {
      const d = await start({});
      const { email } = await registerOver(d.url);
      const held = await Promise.all(
        Array.from({ length: HELD }, () => heldLogin(d.port, email)),
      );
      d.proc.kill("SIGTERM");
      await d.waitForLine((l) => l.msg === "shutting down");
      // New connections are refused while the held requests are still open.
      expect(await untilRefused(d.port)).toBe(true);
      expect(d.proc.exitCode).toBeNull();

      for (const h of held) h.release();
      expect(await Promise.all(held.map((h) => h.outcome))).toEqual(
        Array(HELD).fill(200),
      );
      expect(await d.exited()).toBe(0);
      const msgs = d.lines.map((l) => l.msg);
      expect(d.lines.find((l) => l.msg === "shutting down")).toMatchObject({
        signal: "SIGTERM",
      });
      expect(msgs.indexOf("stopped")).toBeGreaterThan(msgs.indexOf("shutting down"));
      expect(msgs.at(-1)).toBe("stopped");
      expect(msgs).not.toContain(
        "in-flight requests did not finish in time; closing them",
      );
      // The held logins were served, after the shutdown began.
      const served = d.lines.filter(
        (l) => l.msg === "request" && l.route === "/auth/login",
      );
      expect(served.map((l) => l.status)).toEqual(Array(HELD).fill(200));
      expect(msgs.indexOf("request", msgs.indexOf("shutting down"))).toBeGreaterThan(0);
      expect(d.stderr()).toBe("");
    });

    test("SIGTERM under a rate-limited login flood: every accepted request gets its whole answer", async () => {
      // A day-long window: a window boundary during the flood is all but impossible.
      const d = await start({
        RATE_LIMIT_PER_IP: String(1 + ALLOWED),
        RATE_LIMIT_WINDOW: "86400",
        // One hash at a time: the allowed logins queue behind each other.
        HASH_CONCURRENCY: "1",
        // Only the per-IP budget decides which requests are refused.
        LOGIN_FAILURES_PER_ACCOUNT_IP: "0",
        LOGIN_FAILURES_PER_ACCOUNT: "0",
      });
      const { email } = await registerOver(d.url);
      // HELD of the allowed logins are taken first and held open (their budget
      // is spent before the body is read), so they are provably in flight when
      // the signal comes, however fast the hashing is.
      const held = await Promise.all(
        Array.from({ length: HELD }, () => heldLogin(d.port, email)),
      );
      // "100 Continue" can come before the budget is charged (PostgreSQL is a
      // round trip away): wait until the database has counted the held ones.
      await untilIpHits(db?.url ?? "", 1 + HELD);
      const flood = Array.from({ length: FLOOD - HELD }, (_, i) =>
        fetch(`${d.url}/auth/login`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            email,
            password: i % 3 === 0 ? "not the password" : GOOD_PASSWORD,
          }),
        }).then(
          async (r) => ({
            status: r.status,
            retryAfter: r.headers.get("retry-after"),
            // The whole body, not just the status line: a cut-off answer fails here.
            body: (await r.json()) as Record<string, unknown>,
          }),
          (e: unknown) => ({
            status: 0,
            retryAfter: null,
            body: { error: String(e) } as Record<string, unknown>,
          }),
        ),
      );
      // Every refusal answered means every request of the flood was accepted
      // and counted.
      await d.waitForLine(
        () =>
          d.lines.filter((l) => l.msg === "request" && l.status === 429).length ===
          FLOOD - ALLOWED,
      );
      d.proc.kill("SIGTERM");
      await d.waitForLine((l) => l.msg === "shutting down");
      for (const h of held) h.release();
      expect(await Promise.all(held.map((h) => h.outcome))).toEqual(
        Array(HELD).fill(200),
      );

      const done = await Promise.all(flood);
      const byStatus = (status: number) => done.filter((o) => o.status === status);
      expect(byStatus(0)).toEqual([]);
      expect(byStatus(429)).toHaveLength(FLOOD - ALLOWED);
      for (const o of byStatus(429)) {
        expect(o.body.code).toBe("rate_limited");
        expect(Number(o.retryAfter)).toBeGreaterThanOrEqual(1);
      }
      expect(byStatus(200).length + byStatus(401).length).toBe(ALLOWED - HELD);
      for (const o of byStatus(200)) expect(typeof o.body.access_token).toBe("string");

      expect(await d.exited()).toBe(0);
      const msgs = d.lines.map((l) => l.msg);
      expect(msgs.at(-1)).toBe("stopped");
      expect(msgs).not.toContain(
        "in-flight requests did not finish in time; closing them",
      );
      expect(d.stderr()).toBe("");
    });

    test("SIGINT stops it the same way", async () => {
      const d = await start({});
      expect(await d.stop("SIGINT")).toBe(0);
      expect(d.lines.find((l) => l.msg === "shutting down")).toMatchObject({
        signal: "SIGINT",
      });
      expect(d.lines.at(-1)?.msg).toBe("stopped");
    });

    test("SHUTDOWN_TIMEOUT_MS bounds the wait for in-flight requests", async () => {
      // The held requests never get their bodies: only the timeout can end them.
      const d = await start({ SHUTDOWN_TIMEOUT_MS: "200" });
      const { email } = await registerOver(d.url);
      const held = await Promise.all(
        Array.from({ length: HELD }, () => heldLogin(d.port, email)),
      );
      d.proc.kill("SIGTERM");
      expect(await d.exited()).toBe(0);
      const msgs = d.lines.map((l) => l.msg);
      expect(msgs).toContain("in-flight requests did not finish in time; closing them");
      expect(msgs.at(-1)).toBe("stopped");
      expect(await Promise.all(held.map((h) => h.outcome))).toEqual(
        Array(HELD).fill("closed"),
      );
    });
  });
}
