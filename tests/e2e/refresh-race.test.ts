/**
 * Refresh races across processes, on each dialect: four real daemons and the
 * real `authctl` on ONE database (one SQLite file, or one PostgreSQL
 * database), as a deployment has them. Races inside one process prove little
 * on SQLite: bun:sqlite runs each synchronous transaction straight through,
 * so one process serves concurrent requests one after another. Only separate
 * processes make two transactions overlap.
 *
 * What must hold, whatever the interleaving: one successor per refreshed
 * token, exactly one live refresh token per live session, none after a logout
 * or a revoke, and no 5xx (on SQLite, no SQLITE_BUSY escaping as a 503).
 *
 * The regression this catches: SQLite transactions opened DEFERRED instead of
 * IMMEDIATE (src/db/store-sqlite.ts). A deferred transaction reads first and
 * asks for the write lock only at its first write; when another process
 * committed in between, SQLite refuses the upgrade at once (SQLITE_BUSY, no
 * busy-timeout retry), and the refresh answers 503. Verified by hand on
 * 2026-11-30, three runs with `behavior: "deferred"`: each time every test
 * here failed on SQLite with 503s (once the daemons' racing start-up already
 * failed), and all pass with "immediate". The one-process suite
 * (tests/http/concurrency.test.ts) passes either way.
 *
 * REFRESH_REUSE_INTERVAL is its maximum, 300 s: the daemons run on the real clock,
 * and a repeat of a spent token must stay a repeat (same successor) however
 * slow a loaded machine is; reuse detection has its own fake-clock tests.
 */
import {
  afterAll,
  beforeAll,
  describe,
  expect,
  setDefaultTimeout,
  test,
} from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config.ts";
import { type Container, createContainer } from "../../src/container.ts";
import { createLogger } from "../../src/infra/logger.ts";
import { cliEnv, runAuthctl } from "../cli/authctl-process.ts";
import { getFrom, loginOver, postJson, registerOver } from "../helpers/daemon-http.ts";
import {
  createTestDatabase,
  DIALECTS,
  type TestDatabase,
} from "../helpers/databases.ts";
import type { TokenBody } from "../helpers/harness.ts";
import { claimsOf, sessionTokens } from "../helpers/http.ts";
import { type Daemon, startDaemon } from "./daemon-process.ts";

// Four daemons and a CLI on a busy 2-core machine: generous, never the point.
setDefaultTimeout(180_000);

const DAEMONS = 4;
const ROUNDS = 6;
/** Concurrent refreshes of one token per round, spread over the daemons. */
const PER_ROUND = 48;

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

const answer = async (res: Response): Promise<Answer> => {
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return { status: res.status, body };
};

for (const dialect of DIALECTS) {
  describe(`refresh races across ${DAEMONS} daemons and authctl [${dialect}]`, () => {
    let dir: string;
    let db: TestDatabase;
    let env: Record<string, string>;
    let daemons: Daemon[] = [];
    let reader: Container;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "authd-race-"));
      db = await createTestDatabase(dialect, join(dir, "auth.db"));
      env = {
        ...cliEnv(db.url),
        ISSUER: "http://authd.race",
        REFRESH_REUSE_INTERVAL: "300",
        DB_POOL_MAX: "4",
        LOG_LEVEL: "info",
      };
      // Started together: they also race to migrate and to create the first keys.
      daemons = await Promise.all(
        Array.from({ length: DAEMONS }, () => startDaemon({ env })),
      );
      reader = await createContainer(loadConfig({ ...env, LOG_LEVEL: "silent" }), {
        logger: createLogger("silent"),
      });
    });

    afterAll(async () => {
      await Promise.all(daemons.map((d) => d.stop()));
      await reader?.close();
      await db?.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    const at = (i: number) => daemons[i % daemons.length]?.url ?? "";
    const refresh = (i: number, token: string) =>
      postJson(at(i), "/auth/refresh", { refresh_token: token });

    /** No daemon answered 5xx or logged a storage failure, and none logged a token. */
    function expectCleanLogs(...secrets: string[]) {
      for (const d of daemons) {
        const bad = d.lines.filter(
          (l) =>
            (l.msg === "request" && Number(l.status) >= 500) ||
            ["error", "fatal"].includes(String(l.level)) ||
            l.msg === "storage unavailable",
        );
        expect(bad).toEqual([]);
        const text = JSON.stringify(d.lines);
        for (const s of secrets) expect(text).not.toContain(s);
      }
    }

    test("concurrent refreshes of one token: all 200, one successor, one live token", async () => {
      const seen: string[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const reg = await registerOver(at(round));
        const sid = claimsOf(reg.access_token).sid;
        const answers = await Promise.all(
          Array.from({ length: PER_ROUND }, (_, i) =>
            refresh(i, reg.refresh_token).then(answer),
          ),
        );
        expect(answers.filter((a) => a.status !== 200)).toEqual([]);
        const successors = new Set(answers.map((a) => a.body.refresh_token));
        expect(successors.size).toBe(1);
        const [successor] = [...successors] as string[];
        expect(successor).not.toBe(reg.refresh_token);
        expect(
          new Set(answers.map((a) => claimsOf(String(a.body.access_token)).sid)),
        ).toEqual(new Set([sid]));

        // The database agrees: the session is live with exactly one live token,
        // the one every caller was given.
        const { rows, live } = await sessionTokens({ container: reader }, sid);
        expect(rows).toHaveLength(2);
        expect(live.map((r) => r.id)).toEqual([
          rows.find((r) => r.usedAt !== null)?.successorId ?? "missing",
        ]);
        const sessions = await reader.store.listLiveSessions(reg.user.id, new Date());
        expect(sessions.map((s) => s.id)).toEqual([sid]);

        // The successor works on another daemon, once, and the chain goes on.
        const next = await refresh(round + 1, successor ?? "").then(answer);
        expect(next.status).toBe(200);
        expect((await sessionTokens({ container: reader }, sid)).live).toHaveLength(1);
        seen.push(reg.refresh_token, successor ?? "");
      }
      expectCleanLogs(...seen);
    });

    test("refreshes racing a logout: the session ends with no live token, no 5xx", async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const reg = await registerOver(at(round));
        const sid = claimsOf(reg.access_token).sid;
        const half = PER_ROUND / 2;
        const calls = Array.from({ length: PER_ROUND + 1 }, (_, i) =>
          i === half
            ? postJson(at(i), "/auth/logout", { refresh_token: reg.refresh_token })
            : refresh(i, reg.refresh_token),
        );
        const answers = await Promise.all(calls.map((c) => c.then(answer)));
        const logout = answers[half];
        expect(logout?.status).toBe(204);
        const refreshes = answers.filter((_, i) => i !== half);
        // Before the logout: the successor; after it: invalid_grant. Nothing else.
        expect(refreshes.filter((a) => a.status !== 200 && a.status !== 401)).toEqual(
          [],
        );
        for (const a of refreshes.filter((r) => r.status === 401)) {
          expect(a.body.code).toBe("invalid_grant");
        }
        const successors = new Set(
          refreshes.filter((a) => a.status === 200).map((a) => a.body.refresh_token),
        );
        expect(successors.size).toBeLessThanOrEqual(1);

        // Whatever won, the logout ended the session and every token in it.
        expect(await reader.store.listLiveSessions(reg.user.id, new Date())).toEqual(
          [],
        );
        const { rows, live } = await sessionTokens({ container: reader }, sid);
        expect(rows.length).toBe(successors.size + 1);
        expect(live).toEqual([]);
        for (const s of successors) {
          const after = await refresh(round, String(s)).then(answer);
          expect({ status: after.status, code: after.body.code }).toEqual({
            status: 401,
            code: "invalid_grant",
          });
        }
      }
      expectCleanLogs();
    });

    test("refreshes racing `authctl sessions revoke`: every session ends, no 5xx", async () => {
      const reg = await registerOver(at(0));
      const others = [
        await loginOver(at(1), reg.email),
        await loginOver(at(2), reg.email),
      ];
      const starts: TokenBody[] = [reg, ...others];
      const sids = starts.map((t) => claimsOf(t.access_token).sid);

      let revokeFinished = false;
      const failures: string[] = [];
      let refreshed = 0;
      /**
       * Walks one session's refresh chain until the session is revoked, each
       * step on the next daemon. One walker per session: two walkers on one
       * chain would replay ancestors of the live token, which is reuse and
       * ends the session before the revoke could.
       */
      const walk = async (start: string, first: number) => {
        let token = start;
        for (let step = first; ; step++) {
          const daemon = step % daemons.length;
          const sentAfterRevoke = revokeFinished;
          const a = await refresh(daemon, token).then(answer);
          if (a.status === 401 && a.body.code === "invalid_grant") return;
          if (a.status !== 200) {
            failures.push(`daemon ${daemon}: ${a.status} ${JSON.stringify(a.body)}`);
            return;
          }
          if (sentAfterRevoke) {
            failures.push(`daemon ${daemon}: a refresh after the revoke succeeded`);
            return;
          }
          refreshed++;
          token = String(a.body.refresh_token);
        }
      };
      const walkers = starts.map((t, i) => walk(t.refresh_token, i));
      const revoke = runAuthctl(["sessions", "revoke", "--user", reg.email], env).then(
        (r) => {
          revokeFinished = true;
          return r;
        },
      );
      const [result] = await Promise.all([revoke, ...walkers]);

      expect(result).toEqual({
        code: 0,
        stdout: `revoked ${starts.length} session(s)\n`,
        stderr: "",
      });
      expect(failures).toEqual([]);
      // The walkers were refreshing while authctl ran (it takes a whole process
      // start), so the revoke raced real rotations.
      expect(refreshed).toBeGreaterThan(0);
      expect(await reader.store.listLiveSessions(reg.user.id, new Date())).toEqual([]);
      for (const sid of sids) {
        const { rows, live } = await sessionTokens({ container: reader }, sid);
        expect({ sid, live: live.length }).toEqual({ sid, live: 0 });
        expect(rows.length).toBeGreaterThanOrEqual(1);
      }
      const events = await reader.store.listAudit({
        action: "session.revoke",
        userId: reg.user.id,
        limit: 10,
      });
      expect(events.map((e) => e.actorId)).toEqual(["cli"]);
      // Access tokens of the revoked sessions are refused at once, on every daemon.
      for (const [i, t] of starts.entries()) {
        const me = await getFrom(at(i), "/users/me", { token: t.access_token });
        expect(me.status).toBe(401);
      }
      expectCleanLogs();
    });
  });
}
