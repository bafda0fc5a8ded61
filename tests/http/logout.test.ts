import { describe, expect, test } from "bun:test";
import { DIALECTS } from "../helpers/databases.ts";
import { registerUser, type TestApp, useTestApp } from "../helpers/harness.ts";
import {
  auditOf,
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
} from "../helpers/http.ts";

const logout = (app: TestApp, refreshToken: string) =>
  post(app, "/auth/logout", { refresh_token: refreshToken });

for (const dialect of DIALECTS) {
  describe(`logout [${dialect}]`, () => {
    const app = useTestApp(dialect);

    test("204 ends that session only: its refresh and access tokens stop", async () => {
      const reg = await registerUser(app);
      const other = await loginOk(app, reg.email, reg.password);
      const res = await logout(app, reg.refresh_token);
      expect(res.status).toBe(204);
      expect(await res.text()).toBe("");

      await expectProblem(await refresh(app, reg.refresh_token), 401, "invalid_grant");
      await expectRejectedToken(await me(app, reg.access_token));
      expect(await liveSessionIds(app, reg.user.id)).toEqual([
        claimsOf(other.access_token).sid,
      ]);
      expect((await me(app, other.access_token)).status).toBe(200);
      const audit = await auditOf(app, "session.logout", reg.user.id);
      expect(audit.map((a) => a.detail)).toEqual([
        { session_id: claimsOf(reg.access_token).sid },
      ]);
    });

    test("is idempotent: a repeat and an unknown token are 204 too", async () => {
      const reg = await registerUser(app);
      expect((await logout(app, reg.refresh_token)).status).toBe(204);
      expect((await logout(app, reg.refresh_token)).status).toBe(204);
      const bystander = await registerUser(app);
      expect((await logout(app, "unknown-refresh-token")).status).toBe(204);
      // Only the first call ended anything; nobody else was touched.
      expect(await auditOf(app, "session.logout", reg.user.id)).toHaveLength(1);
      expect(await liveSessionIds(app, bystander.user.id)).toHaveLength(1);
    });

    test("a rotated-away token still identifies, and ends, its session", async () => {
      const reg = await registerUser(app);
      const next = await refreshOk(app, reg.refresh_token);
      expect((await logout(app, reg.refresh_token)).status).toBe(204);
      await expectProblem(await refresh(app, next.refresh_token), 401, "invalid_grant");
      await expectRejectedToken(await me(app, next.access_token));
    });

    test("422 without a refresh_token", async () => {
      await expectValidation(await post(app, "/auth/logout", {}), "/refresh_token");
    });
  });

  describe(`logout-all [${dialect}]`, () => {
    const app = useTestApp(dialect);

    test("204 ends every session of the user and nobody else's", async () => {
      const reg = await registerUser(app);
      const second = await loginOk(app, reg.email, reg.password);
      const third = await loginOk(app, reg.email, reg.password);
      const bystander = await registerUser(app);

      const res = await post(app, "/auth/logout-all", undefined, second.access_token);
      expect(res.status).toBe(204);
      for (const t of [reg, second, third]) {
        await expectRejectedToken(await me(app, t.access_token));
        await expectProblem(await refresh(app, t.refresh_token), 401, "invalid_grant");
      }
      expect(await liveSessionIds(app, reg.user.id)).toEqual([]);
      expect((await me(app, bystander.access_token)).status).toBe(200);
      const audit = await auditOf(app, "session.logout_all", reg.user.id);
      expect(audit.map((a) => a.detail)).toEqual([{ sessions: 3 }]);
      expect(audit[0]?.actorId).toBe(reg.user.id);
      // Signing in again works: logout-all is not a lock-out.
      await loginOk(app, reg.email, reg.password);
    });

    test("401 without a token, or with the same token again", async () => {
      const missing = await app.request("POST", "/auth/logout-all");
      await expectProblem(missing, 401, "unauthenticated");
      expect(missing.headers.get("www-authenticate")).toBe("Bearer");

      const reg = await registerUser(app);
      expect(
        (await app.request("POST", "/auth/logout-all", { token: reg.access_token }))
          .status,
      ).toBe(204);
      await expectRejectedToken(
        await app.request("POST", "/auth/logout-all", { token: reg.access_token }),
      );
    });
  });
}
