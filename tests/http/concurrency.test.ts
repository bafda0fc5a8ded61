/**
 * Races inside one process, on each dialect. The contract: a repeat of one
 * refresh inside REFRESH_REUSE_INTERVAL gets 200 and the same successor, so
 * 50 simultaneous refreshes of one token all succeed with one successor, and
 * the session ends up with exactly one live refresh token.
 *
 * On SQLite these requests are served one after another (bun:sqlite runs
 * each synchronous transaction straight through), so they prove the
 * interleaving of awaits, not transaction isolation: they pass even with
 * DEFERRED transactions. The races that need real overlap run across
 * processes in tests/e2e/refresh-race.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { sha256 } from "../../src/core/crypto.ts";
import { DIALECTS } from "../helpers/databases.ts";
import {
  GOOD_PASSWORD,
  registerUser,
  uniqueEmail,
  useTestApp,
} from "../helpers/harness.ts";
import {
  claimsOf,
  expectProblem,
  expectTokens,
  liveSessionIds,
  me,
  post,
  refresh,
  refreshOk,
  refreshTokenRows,
} from "../helpers/http.ts";

for (const dialect of DIALECTS) {
  describe(`concurrency [${dialect}]`, () => {
    const app = useTestApp(dialect);

    test("50 concurrent refreshes of one token: one successor, one live token", async () => {
      const reg = await registerUser(app);
      const sid = claimsOf(reg.access_token).sid;
      const responses = await Promise.all(
        Array.from({ length: 50 }, () => refresh(app, reg.refresh_token)),
      );
      const bodies = await Promise.all(responses.map((r) => expectTokens(r)));
      const successors = new Set(bodies.map((b) => b.refresh_token));
      expect(successors.size).toBe(1);
      const [successor] = [...successors];
      expect(successor).not.toBe(reg.refresh_token);
      expect(new Set(bodies.map((b) => claimsOf(b.access_token).sid))).toEqual(
        new Set([sid]),
      );

      const rows = (await refreshTokenRows(app)).filter((r) => r.sessionId === sid);
      const live = rows.filter((r) => r.usedAt === null && r.revokedAt === null);
      expect(rows).toHaveLength(2);
      expect(live.map((r) => r.tokenHash)).toEqual([
        sha256(successor ?? "").toString("base64url"),
      ]);
      expect(await liveSessionIds(app, reg.user.id)).toEqual([sid]);

      // The successor works, once, and the chain carries on.
      const next = await refreshOk(app, successor ?? "");
      expect((await me(app, next.access_token)).status).toBe(200);
    });

    test("50 concurrent refreshes of the successor, too", async () => {
      const reg = await registerUser(app);
      const first = await refreshOk(app, reg.refresh_token);
      const responses = await Promise.all(
        Array.from({ length: 50 }, () => refresh(app, first.refresh_token)),
      );
      const bodies = await Promise.all(responses.map((r) => expectTokens(r)));
      expect(new Set(bodies.map((b) => b.refresh_token)).size).toBe(1);
      const sid = claimsOf(reg.access_token).sid;
      const rows = (await refreshTokenRows(app)).filter((r) => r.sessionId === sid);
      expect(
        rows.filter((r) => r.usedAt === null && r.revokedAt === null),
      ).toHaveLength(1);
      expect(rows).toHaveLength(3);
    });

    test("refreshes racing logout, logout-all and reuse never fail with 5xx", async () => {
      const statuses = new Set<number>();
      for (let i = 0; i < 8; i++) {
        const reg = await registerUser(app);
        const first = await refreshOk(app, reg.refresh_token);
        app.clock.advance(11_000); // past the reuse interval: a repeat revokes
        const responses = await Promise.all([
          refresh(app, first.refresh_token),
          refresh(app, reg.refresh_token),
          post(app, "/auth/logout", { refresh_token: first.refresh_token }),
          refresh(app, first.refresh_token),
          post(app, "/auth/logout-all", undefined, first.access_token),
          refresh(app, first.refresh_token),
        ]);
        for (const r of responses) statuses.add(r.status);
        // Whatever the interleaving, the session is over and nothing is live.
        expect(await liveSessionIds(app, reg.user.id)).toEqual([]);
        const sid = claimsOf(reg.access_token).sid;
        const rows = (await refreshTokenRows(app)).filter((r) => r.sessionId === sid);
        expect(rows.filter((r) => r.usedAt === null && r.revokedAt === null)).toEqual(
          [],
        );
      }
      expect([...statuses].filter((s) => s >= 500)).toEqual([]);
    });

    test("20 concurrent registrations of one email create one user", async () => {
      const email = uniqueEmail("race");
      const responses = await Promise.all(
        Array.from({ length: 20 }, () =>
          post(app, "/auth/register", { email, password: GOOD_PASSWORD }),
        ),
      );
      const created = responses.filter((r) => r.status === 201);
      const conflicts = responses.filter((r) => r.status !== 201);
      expect(created).toHaveLength(1);
      expect(conflicts).toHaveLength(19);
      for (const res of conflicts) await expectProblem(res, 409, "email_taken");
      const winner = await expectTokens(created[0] as Response, 201);

      const users = await app.container.store.listUsers({ email, limit: 50 });
      expect(users.map((u) => u.id)).toEqual([winner.user.id]);
      expect(await liveSessionIds(app, winner.user.id)).toEqual([
        claimsOf(winner.access_token).sid,
      ]);
    });
  });
}
