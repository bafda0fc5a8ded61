/**
 * The access log is buffered and written asynchronously; none of it may be
 * lost on the way out. The real daemon serves a burst, is sent SIGTERM the
 * moment the last answer arrives (lines still in the buffer), and every
 * request's line must be in its stdout. A failed start-up's fatal line, too.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DIALECTS } from "../helpers/databases.ts";
import { TEST_KEK } from "../helpers/harness.ts";
import {
  type Daemon,
  daemonEnv,
  freshDatabase,
  MAIN,
  REPO,
  startDaemon,
} from "./daemon-process.ts";

const REQUESTS = 400;
const BATCH = 50;

for (const dialect of DIALECTS) {
  describe(`access log on the way out [${dialect}]`, () => {
    let dir: string;
    let database: Awaited<ReturnType<typeof freshDatabase>> | undefined;
    let daemon: Daemon | undefined;

    afterEach(async () => {
      if (daemon && daemon.proc.exitCode === null) daemon.proc.kill("SIGKILL");
      await daemon?.proc.exited;
      daemon = undefined;
      await database?.drop();
      database = undefined;
      rmSync(dir, { recursive: true, force: true });
    });

    test(`${REQUESTS} requests, SIGTERM at once: every access line is in stdout`, async () => {
      dir = mkdtempSync(join(tmpdir(), "authd-access-log-"));
      database = await freshDatabase(dialect, dir);
      daemon = await startDaemon({ env: database.env });
      const d = daemon;
      const ids = Array.from({ length: REQUESTS }, (_, i) => `flush-${i}`);
      for (let i = 0; i < ids.length; i += BATCH) {
        const statuses = await Promise.all(
          ids
            .slice(i, i + BATCH)
            .map((id) =>
              fetch(`${d.url}/healthz`, { headers: { "x-request-id": id } }).then(
                (r) => r.status,
              ),
            ),
        );
        expect(statuses).toEqual(Array(statuses.length).fill(200));
      }
      d.proc.kill("SIGTERM");
      expect(await d.proc.exited).toBe(0);
      await d.stop(); // lets the stdout reader take the last lines

      const logged = new Set(
        d.lines
          .filter((l) => l.msg === "request" && l.route === "/healthz")
          .map((l) => String(l.request_id)),
      );
      expect(ids.filter((id) => !logged.has(id))).toEqual([]);
      expect(d.lines.at(-1)?.msg).toBe("stopped");
      expect(d.junk).toEqual([]);
    });

    test("a quiet daemon's access line reaches stdout while it runs", async () => {
      dir = mkdtempSync(join(tmpdir(), "authd-access-log-"));
      database = await freshDatabase(dialect, dir);
      daemon = await startDaemon({ env: database.env });
      const res = await fetch(`${daemon.url}/healthz`, {
        headers: { "x-request-id": "quiet-1" },
      });
      expect(res.status).toBe(200);
      // One short line, far below the buffer's size: only the periodic
      // hand-over (every 100 ms) can bring it out before the daemon stops.
      const line = await daemon.waitForLine((l) => l.request_id === "quiet-1", 10_000);
      expect(line).toMatchObject({ msg: "request", route: "/healthz", status: 200 });
      expect(daemon.proc.exitCode).toBeNull();
    });
  });
}

describe("access log on a failed start", () => {
  test("the fatal line is written before the process exits 1", async () => {
    const proc = Bun.spawn([process.execPath, MAIN], {
      cwd: REPO,
      env: daemonEnv({
        PORT: "0",
        // Nothing listens on port 1: start-up fails at once.
        DATABASE_URL: "postgres://postgres@127.0.0.1:1/authd",
        KEY_ENCRYPTION_KEY: TEST_KEK,
      }),
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, out] = await Promise.all([
      proc.exited,
      new Response(proc.stdout).text(),
    ]);
    expect(code).toBe(1);
    const lines = out
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.at(-1)).toMatchObject({ level: "fatal", msg: "start-up failed" });
  });
});
