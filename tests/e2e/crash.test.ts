/**
 * kill -9 under writes: registrations stream into a real daemon from several
 * clients at once, the daemon is SIGKILLed mid-stream, and after a restart on
 * the same database every registration that was answered 201 is there (and
 * can log in). A request cut off by the kill may or may not have landed; one
 * that was acknowledged must have.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config.ts";
import { createContainer } from "../../src/container.ts";
import { createLogger } from "../../src/infra/logger.ts";
import { createPgDatabase, DIALECTS, type TestDatabase } from "../helpers/databases.ts";
import { GOOD_PASSWORD, TEST_KEK, uniqueEmail } from "../helpers/harness.ts";
import { type Daemon, startDaemon } from "./daemon-process.ts";

const CLIENTS = 6;
/** Acknowledged registrations to wait for before the kill. */
const BEFORE_KILL = 30;

for (const dialect of DIALECTS) {
  describe(`kill -9 under writes [${dialect}]`, () => {
    let dir: string | undefined;
    let pg: TestDatabase | undefined;
    let daemons: Daemon[] = [];

    afterEach(async () => {
      for (const d of daemons) if (d.proc.exitCode === null) d.proc.kill("SIGKILL");
      await Promise.all(daemons.map((d) => d.proc.exited));
      daemons = [];
      await pg?.drop();
      pg = undefined;
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test("every registration answered 201 is in the database after a restart", async () => {
      dir = mkdtempSync(join(tmpdir(), "authd-crash-"));
      const env: Record<string, string> = {
        DATABASE_URL: `sqlite:${join(dir, "auth.db")}`,
        KEY_ENCRYPTION_KEY: TEST_KEK,
        ARGON2_MEMORY_KIB: "1024",
        ARGON2_TIME_COST: "1",
        LOG_LEVEL: "info",
        ISSUER: "http://authd.e2e",
      };
      if (dialect === "pg") {
        pg = await createPgDatabase();
        env.DATABASE_URL = pg.url;
      }
      const first = await startDaemon({ env });
      daemons.push(first);

      const acknowledged: string[] = [];
      const cutOff: string[] = [];
      let killed = false;
      let reachedTarget: () => void = () => {};
      const target = new Promise<void>((resolve) => {
        reachedTarget = resolve;
      });
      const client = async () => {
        while (!killed) {
          const email = uniqueEmail("crash");
          const status = await fetch(`${first.url}/auth/register`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ email, password: GOOD_PASSWORD }),
          }).then(
            (r) => r.status,
            () => 0,
          );
          if (status === 201) acknowledged.push(email);
          else if (status === 0) cutOff.push(email);
          else throw new Error(`register answered ${status} before the kill`);
          if (acknowledged.length >= BEFORE_KILL) reachedTarget();
        }
      };
      const clients = Array.from({ length: CLIENTS }, client);
      await target;
      first.proc.kill("SIGKILL");
      killed = true;
      await Promise.all(clients);
      expect(await first.proc.exited).not.toBe(0);
      expect(first.proc.signalCode).toBe("SIGKILL");

      // Restart on the same database: it starts cleanly and has every 201.
      const second = await startDaemon({ env });
      daemons.push(second);
      const container = await createContainer(
        loadConfig({ ...env, LOG_LEVEL: "silent" }),
        {
          logger: createLogger("silent"),
        },
      );
      try {
        const missing: string[] = [];
        for (const email of acknowledged) {
          if (!(await container.store.findUserByEmail(email))) missing.push(email);
        }
        expect({ acknowledged: acknowledged.length, missing }).toEqual({
          acknowledged: acknowledged.length,
          missing: [],
        });
      } finally {
        await container.close();
      }
      // And the last acknowledged one can sign in through the restarted daemon.
      const login = await fetch(`${second.url}/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: acknowledged.at(-1), password: GOOD_PASSWORD }),
      });
      expect(login.status).toBe(200);
    });
  });
}
