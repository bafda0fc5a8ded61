/**
 * SIGTERM and SIGINT: the daemon stops accepting, lets in-flight requests
 * finish (bounded by SHUTDOWN_TIMEOUT_MS), closes the database and exits 0.
 *
 * In-flight work is made real, not simulated: logins with argon2id at the
 * OWASP parameters, one hash at a time (HASH_CONCURRENCY=1), so a burst of
 * them queues inside the daemon. The signal goes out when the first login
 * has answered — by then the daemon holds the rest.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPgDatabase, DIALECTS, type TestDatabase } from "../helpers/databases.ts";
import { GOOD_PASSWORD, TEST_KEK, uniqueEmail } from "../helpers/harness.ts";
import { type Daemon, startDaemon } from "./daemon-process.ts";

const BURST = 8;

interface Outcome {
  status: number | "failed";
  /** Whether the answer came after the signal was sent. */
  afterSignal: boolean;
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

for (const dialect of DIALECTS) {
  describe(`shutdown [${dialect}]`, () => {
    let dir: string;
    let pg: TestDatabase | undefined;
    let daemon: Daemon | undefined;

    afterEach(async () => {
      if (daemon && daemon.proc.exitCode === null) daemon.proc.kill("SIGKILL");
      await daemon?.proc.exited;
      daemon = undefined;
      await pg?.drop();
      pg = undefined;
      rmSync(dir, { recursive: true, force: true });
    });

    async function start(env: Record<string, string>) {
      dir = mkdtempSync(join(tmpdir(), "authd-shutdown-"));
      const base: Record<string, string> = {
        DATABASE_URL: `sqlite:${join(dir, "auth.db")}`,
        HASH_CONCURRENCY: "1",
      };
      if (dialect === "pg") {
        pg = await createPgDatabase();
        base.DATABASE_URL = pg.url;
        base.KEY_ENCRYPTION_KEY = TEST_KEK;
      }
      daemon = await startDaemon({ env: { ...base, ...env } });
      return daemon;
    }

    async function register(d: Daemon) {
      const email = uniqueEmail("shutdown");
      const res = await fetch(`${d.url}/auth/register`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email, password: GOOD_PASSWORD }),
      });
      expect(res.status).toBe(201);
      return email;
    }

    /** Fires `count` logins at once; each outcome notes if it came after the signal. */
    function logins(d: Daemon, email: string, count: number) {
      const state = { signalled: false, answered: 0 };
      const outcomes = Array.from(
        { length: count },
        (): Promise<Outcome> =>
          fetch(`${d.url}/auth/login`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ email, password: GOOD_PASSWORD }),
          })
            .then(
              (r): Outcome => ({ status: r.status, afterSignal: state.signalled }),
              (): Outcome => ({ status: "failed", afterSignal: state.signalled }),
            )
            .finally(() => {
              state.answered++;
            }),
      );
      return { state, outcomes };
    }

    test("SIGTERM: in-flight requests finish normally, then the daemon exits 0", async () => {
      const d = await start({});
      const email = await register(d);
      const { state, outcomes } = logins(d, email, BURST);
      await Promise.race(outcomes);
      d.proc.kill("SIGTERM");
      state.signalled = true;

      await d.waitForLine((l) => l.msg === "shutting down");
      // Once shutdown has begun, new connections are refused while old ones run.
      const pendingAtProbe = BURST - state.answered;
      expect(await accepts(d.port)).toBe(false);
      expect(pendingAtProbe).toBeGreaterThan(0);

      const done = await Promise.all(outcomes);
      expect(done.map((o) => o.status)).toEqual(Array(BURST).fill(200));
      expect(done.filter((o) => o.afterSignal).length).toBeGreaterThan(0);

      expect(await d.proc.exited).toBe(0);
      await Bun.sleep(20);
      const msgs = d.lines.map((l) => l.msg);
      expect(d.lines.find((l) => l.msg === "shutting down")).toMatchObject({
        signal: "SIGTERM",
      });
      expect(msgs.indexOf("stopped")).toBeGreaterThan(msgs.indexOf("shutting down"));
      expect(msgs.at(-1)).toBe("stopped");
      expect(msgs).not.toContain(
        "in-flight requests did not finish in time; closing them",
      );
      const served = d.lines.filter(
        (l) => l.msg === "request" && l.route === "/auth/login",
      );
      expect(served.map((l) => l.status)).toEqual(Array(BURST).fill(200));
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
      // 64 MiB, t=3: each hash is slow enough that the queue outlasts 50 ms.
      const d = await start({
        SHUTDOWN_TIMEOUT_MS: "50",
        ARGON2_MEMORY_KIB: "65536",
        ARGON2_TIME_COST: "3",
      });
      const email = await register(d);
      const { state, outcomes } = logins(d, email, 4);
      await Promise.race(outcomes);
      d.proc.kill("SIGTERM");
      state.signalled = true;
      expect(await d.proc.exited).toBe(0);
      await Bun.sleep(20);
      const msgs = d.lines.map((l) => l.msg);
      expect(msgs).toContain("in-flight requests did not finish in time; closing them");
      expect(msgs.at(-1)).toBe("stopped");
      const done = await Promise.all(outcomes);
      expect(done.some((o) => o.status !== 200)).toBe(true);
    });
  });
}
