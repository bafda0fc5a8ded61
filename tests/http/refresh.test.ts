import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sha256 } from "../../src/core/crypto.ts";
import { DIALECTS } from "../helpers/databases.ts";
import {
  createTestApp,
  registerUser,
  type TestApp,
  useTestApp,
} from "../helpers/harness.ts";
import {
  auditOf,
  CLI,
  claimsOf,
  expectProblem,
  expectRejectedToken,
  expectValidation,
  liveSessionIds,
  loginOk,
  me,
  post,
  refresh,
  refreshOk,
  refreshTokenRows,
  sessionTokens,
} from "../helpers/http.ts";

const hashOf = (token: string) => sha256(token).toString("base64url");

async function expectInvalidGrant(res: Response) {
  await expectProblem(res, 401, "invalid_grant");
  expect(res.headers.get("cache-control")).toBe("no-store");
}

for (const dialect of DIALECTS) {
  describe(`refresh [${dialect}]`, () => {
    const app = useTestApp(dialect);

    test("rotates: a new pair for the same session, the old token spent", async () => {
      const reg = await registerUser(app);
      const sid = claimsOf(reg.access_token).sid;
      app.clock.advance(60_000);
      const next = await refreshOk(app, reg.refresh_token);
      expect(next.refresh_token).not.toBe(reg.refresh_token);
      expect(next.access_token).not.toBe(reg.access_token);
      expect(next.refresh_expires_in).toBe(2_592_000);
      expect(next.expires_in).toBe(900);
      expect(next.user.id).toBe(reg.user.id);
      const claims = claimsOf(next.access_token);
      expect(claims.sid).toBe(sid);
      expect(claims.sub).toBe(reg.user.id);
      expect(claims.iat).toBe(Math.floor(app.clock.now().getTime() / 1000));
      expect(claims.jti).not.toBe(claimsOf(reg.access_token).jti);
      expect((await me(app, next.access_token)).status).toBe(200);

      const { rows } = await sessionTokens(app, sid);
      expect(rows).toHaveLength(2);
      const old = rows.find((r) => r.tokenHash === hashOf(reg.refresh_token));
      const successor = rows.find((r) => r.tokenHash === hashOf(next.refresh_token));
      expect(old?.usedAt?.getTime()).toBe(app.clock.now().getTime());
      expect(old?.successorId).toBe(successor?.id ?? "missing");
      expect(successor?.usedAt).toBeNull();
      expect(successor?.revokedAt).toBeNull();
      const [session] = await app.container.store.listLiveSessions(
        reg.user.id,
        app.clock.now(),
      );
      expect(session?.id).toBe(sid);
      expect(session?.lastUsedAt.getTime()).toBe(app.clock.now().getTime());
    });

    test("a repeat within REFRESH_REUSE_INTERVAL gets the same successor", async () => {
      const reg = await registerUser(app);
      const first = await refreshOk(app, reg.refresh_token);
      app.clock.advance(9_000);
      const repeat = await refreshOk(app, reg.refresh_token);
      expect(repeat.refresh_token).toBe(first.refresh_token);
      expect(claimsOf(repeat.access_token).sid).toBe(claimsOf(first.access_token).sid);
      expect((await me(app, repeat.access_token)).status).toBe(200);
      // The session still has one live refresh token, and it works once.
      expect(await liveSessionIds(app, reg.user.id)).toHaveLength(1);
      const after = await refreshOk(app, first.refresh_token);
      expect(after.refresh_token).not.toBe(first.refresh_token);
      expect(await liveSessionIds(app, reg.user.id)).toHaveLength(1);
    });

    test("an older ancestor inside the interval is reuse: RT0 after RT0 → RT1 → RT2 revokes", async () => {
      const reg = await registerUser(app);
      const sid = claimsOf(reg.access_token).sid;
      const rt1 = await refreshOk(app, reg.refresh_token);
      app.clock.advance(1_000);
      const rt2 = await refreshOk(app, rt1.refresh_token);
      app.clock.advance(1_000);
      // RT1's successor (RT2) is live: a repeat of RT1 is a retry, and gets RT2.
      expect((await refreshOk(app, rt1.refresh_token)).refresh_token).toBe(
        rt2.refresh_token,
      );
      // RT0's successor (RT1) is spent: RT0 now is a stolen copy, well inside 10 s.
      await expectInvalidGrant(await refresh(app, reg.refresh_token));
      expect(await liveSessionIds(app, reg.user.id)).toEqual([]);
      await expectInvalidGrant(await refresh(app, rt2.refresh_token));
      await expectRejectedToken(await me(app, rt2.access_token));
      const rows = (await refreshTokenRows(app)).filter((r) => r.sessionId === sid);
      expect(rows).toHaveLength(3);
      expect(rows.every((r) => r.revokedAt !== null)).toBe(true);
      const audit = await auditOf(app, "session.refresh_reuse", reg.user.id);
      expect(audit.map((a) => a.detail)).toEqual([{ session_id: sid }]);
    });

    test("reuse after the interval revokes the whole session", async () => {
      const reg = await registerUser(app);
      const other = await loginOk(app, reg.email, reg.password);
      const sid = claimsOf(reg.access_token).sid;
      const successor = await refreshOk(app, reg.refresh_token);
      app.clock.advance(11_000);

      await expectInvalidGrant(await refresh(app, reg.refresh_token));
      // Every token of that session is dead: the successor and its access token.
      await expectInvalidGrant(await refresh(app, successor.refresh_token));
      await expectRejectedToken(await me(app, successor.access_token));
      expect(await liveSessionIds(app, reg.user.id)).toEqual([
        claimsOf(other.access_token).sid,
      ]);
      // The user's other session is untouched.
      expect((await me(app, other.access_token)).status).toBe(200);
      await refreshOk(app, other.refresh_token);

      const audit = await auditOf(app, "session.refresh_reuse", reg.user.id);
      expect(audit).toHaveLength(1);
      expect(audit[0]?.outcome).toBe("failure");
      expect(audit[0]?.detail).toEqual({ session_id: sid });
      // Both of its tokens (the spent one and the successor) are revoked.
      const { rows, live } = await sessionTokens(app, sid);
      expect(rows).toHaveLength(2);
      expect(rows.map((r) => r.revokedAt?.getTime())).toEqual(
        rows.map(() => app.clock.now().getTime()),
      );
      expect(live).toEqual([]);
    });

    test("a later repeat inside the window still cannot revive a revoked session", async () => {
      const reg = await registerUser(app);
      const sid = claimsOf(reg.access_token).sid;
      const successor = await refreshOk(app, reg.refresh_token);
      const logout = await post(app, "/auth/logout", {
        refresh_token: successor.refresh_token,
      });
      expect(logout.status).toBe(204);
      await expectInvalidGrant(await refresh(app, reg.refresh_token));
      await expectInvalidGrant(await refresh(app, successor.refresh_token));
      // Nothing was issued: still the two tokens, both dead, the session ended.
      const { rows, live } = await sessionTokens(app, sid);
      expect(rows.map((r) => r.tokenHash).sort()).toEqual(
        [hashOf(reg.refresh_token), hashOf(successor.refresh_token)].sort(),
      );
      expect(live).toEqual([]);
      expect(await liveSessionIds(app, reg.user.id)).toEqual([]);
    });

    test("unknown tokens and access tokens are invalid_grant; bad bodies 422", async () => {
      const reg = await registerUser(app);
      await expectInvalidGrant(await refresh(app, "x".repeat(43)));
      await expectInvalidGrant(await refresh(app, reg.access_token.slice(0, 500)));
      await expectValidation(await post(app, "/auth/refresh", {}), "/refresh_token");
      await expectValidation(await refresh(app, ""), "/refresh_token");
      await expectValidation(
        await post(app, "/auth/refresh", {
          refresh_token: reg.refresh_token,
          grant_type: "refresh_token",
        }),
        "/grant_type",
      );
      // None of that spent the real token or issued one.
      const sid = claimsOf(reg.access_token).sid;
      const untouched = await sessionTokens(app, sid);
      expect(untouched.rows).toHaveLength(1);
      expect(untouched.live.map((r) => r.tokenHash)).toEqual([
        hashOf(reg.refresh_token),
      ]);
      await refreshOk(app, reg.refresh_token);
    });

    test("a refreshed access token carries the user's current roles", async () => {
      const reg = await registerUser(app);
      await app.container.userAdmin.setRoles(reg.email, ["user", "service"], CLI);
      const next = await refreshOk(app, reg.refresh_token);
      expect(claimsOf(next.access_token).roles).toEqual(["user", "service"]);
      expect(next.user.roles).toEqual(["user", "service"]);
    });

    test("refresh fails once the user is disabled, and stays failed", async () => {
      const reg = await registerUser(app);
      const sid = claimsOf(reg.access_token).sid;
      await app.container.userAdmin.setDisabled(reg.email, true, CLI);
      await expectInvalidGrant(await refresh(app, reg.refresh_token));
      await app.container.userAdmin.setDisabled(reg.email, false, CLI);
      await expectInvalidGrant(await refresh(app, reg.refresh_token));
      // Disabling ended the session; no refresh issued a token.
      const { rows, live } = await sessionTokens(app, sid);
      expect(rows).toHaveLength(1);
      expect(live).toEqual([]);
      expect(await liveSessionIds(app, reg.user.id)).toEqual([]);
    });

    test("refresh fails once the user is deleted", async () => {
      const reg = await registerUser(app);
      const sid = claimsOf(reg.access_token).sid;
      await app.container.userAdmin.delete(reg.email, CLI);
      await expectInvalidGrant(await refresh(app, reg.refresh_token));
      // The user's session and tokens went with the account.
      expect((await sessionTokens(app, sid)).rows).toEqual([]);
      expect(await app.container.store.findUserById(reg.user.id)).toBeNull();
    });
  });

  describe(`refresh lifetimes [${dialect}]`, () => {
    let app: TestApp;
    let strict: TestApp;
    beforeAll(async () => {
      app = await createTestApp(dialect, {
        REFRESH_TOKEN_IDLE_TTL: "300",
        REFRESH_TOKEN_ABSOLUTE_TTL: "900",
        ACCESS_TOKEN_TTL: "120",
      });
      strict = await createTestApp(dialect, { REFRESH_REUSE_INTERVAL: "0" });
    });
    afterAll(async () => {
      await app.close();
      await strict.close();
    });

    test("a refresh token unused for the idle lifetime expires", async () => {
      const reg = await registerUser(app);
      expect(reg.refresh_expires_in).toBe(300);
      // ACCESS_TOKEN_TTL is honoured in the response and in the token.
      expect(reg.expires_in).toBe(120);
      const { exp, iat } = claimsOf(reg.access_token);
      expect(exp - iat).toBe(120);
      app.clock.advance(299_000);
      const next = await refreshOk(app, reg.refresh_token);
      expect(next.refresh_expires_in).toBe(300);
      app.clock.advance(300_000);
      await expectInvalidGrant(await refresh(app, next.refresh_token));
      expect(await liveSessionIds(app, reg.user.id)).toEqual([]);
    });

    test("a session ends at its absolute lifetime however often it is refreshed", async () => {
      const reg = await registerUser(app);
      let token = reg.refresh_token;
      const seen: number[] = [];
      for (let i = 0; i < 3; i++) {
        app.clock.advance(250_000);
        const next = await refreshOk(app, token);
        seen.push(next.refresh_expires_in);
        token = next.refresh_token;
      }
      // At 750 s the next token may live only the 150 s left of the session.
      expect(seen).toEqual([300, 300, 150]);
      app.clock.advance(149_000);
      const last = await refreshOk(app, token);
      expect(last.refresh_expires_in).toBe(1);
      expect((await me(app, last.access_token)).status).toBe(200);
      app.clock.advance(1_000);
      await expectInvalidGrant(await refresh(app, last.refresh_token));
      // The session has ended, so its unexpired access token is refused at once.
      expect(claimsOf(last.access_token).exp * 1000).toBeGreaterThan(
        app.clock.now().getTime(),
      );
      await expectRejectedToken(await me(app, last.access_token));
      expect(await liveSessionIds(app, reg.user.id)).toEqual([]);
    });

    test("with REFRESH_REUSE_INTERVAL=0 any repeat revokes the session", async () => {
      const reg = await registerUser(strict);
      const next = await refreshOk(strict, reg.refresh_token);
      await expectInvalidGrant(await refresh(strict, reg.refresh_token));
      await expectInvalidGrant(await refresh(strict, next.refresh_token));
      expect(await liveSessionIds(strict, reg.user.id)).toEqual([]);
      expect(await auditOf(strict, "session.refresh_reuse", reg.user.id)).toHaveLength(
        1,
      );
    });
  });
}
