import { beforeAll, describe, expect, test } from "bun:test";
import { DIALECTS } from "../helpers/databases.ts";
import {
  GOOD_PASSWORD,
  registerUser,
  type TokenBody,
  uniqueEmail,
  useTestApp,
} from "../helpers/harness.ts";
import {
  auditOf,
  claimsOf,
  expectProblem,
  expectRejectedToken,
  expectTokens,
  liveSessionIds,
  me,
  refresh,
  refreshOk,
} from "../helpers/http.ts";

interface SessionItem {
  id: string;
  created_at: string;
  last_used_at: string;
  expires_at: string;
  ip: string | null;
  user_agent: string | null;
  current: boolean;
}

for (const dialect of DIALECTS) {
  describe(`/users/me/sessions [${dialect}]`, () => {
    const app = useTestApp(dialect);

    async function loginAs(email: string, password: string, agent: string) {
      const res = await app.request("POST", "/auth/login", {
        json: { email, password },
        headers: { "user-agent": agent },
      });
      return expectTokens(res);
    }

    const list = async (token: string) => {
      const res = await app.request("GET", "/users/me/sessions", { token });
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-control")).toBe("no-store");
      return ((await res.json()) as { items: SessionItem[] }).items;
    };
    const remove = (token: string, id: string) =>
      app.request("DELETE", `/users/me/sessions/${id}`, { token });

    let user: TokenBody & { email: string; password: string };
    let phone: TokenBody;
    let laptop: TokenBody;

    beforeAll(async () => {
      user = await registerUser(app);
      app.clock.advance(60_000);
      phone = await loginAs(user.email, user.password, "Phone/1.0");
      app.clock.advance(60_000);
      laptop = await loginAs(user.email, user.password, "Laptop/2.0");
    });

    test("lists live sessions, newest use first, with the current one flagged", async () => {
      const items = await list(phone.access_token);
      expect(items.map((s) => s.id)).toEqual(
        [laptop, phone, user].map((t) => claimsOf(t.access_token).sid),
      );
      expect(items.map((s) => s.current)).toEqual([false, true, false]);
      expect(items.map((s) => s.user_agent)).toEqual(["Laptop/2.0", "Phone/1.0", null]);
      const phoneItem = items[1];
      expect(phoneItem).toEqual({
        id: claimsOf(phone.access_token).sid,
        created_at: "2026-11-26T12:01:00.000Z",
        last_used_at: "2026-11-26T12:01:00.000Z",
        expires_at: new Date(
          Date.parse("2026-11-26T12:01:00.000Z") + 2_592_000_000,
        ).toISOString(),
        ip: null,
        user_agent: "Phone/1.0",
        current: true,
      });
      // The flag follows the caller.
      const fromLaptop = await list(laptop.access_token);
      expect(fromLaptop.filter((s) => s.current).map((s) => s.id)).toEqual([
        claimsOf(laptop.access_token).sid,
      ]);
    });

    test("a refresh moves the session to the front", async () => {
      app.clock.advance(60_000);
      user = { ...user, ...(await refreshOk(app, user.refresh_token)) };
      const items = await list(phone.access_token);
      expect(items[0]?.id).toBe(claimsOf(user.access_token).sid);
      expect(items[0]?.last_used_at).toBe(app.clock.now().toISOString());
    });

    test("DELETE ends one of my other sessions", async () => {
      const laptopSid = claimsOf(laptop.access_token).sid;
      const res = await remove(phone.access_token, laptopSid);
      expect(res.status).toBe(204);
      await expectRejectedToken(await me(app, laptop.access_token));
      await expectProblem(
        await refresh(app, laptop.refresh_token),
        401,
        "invalid_grant",
      );
      expect((await list(phone.access_token)).map((s) => s.id)).not.toContain(
        laptopSid,
      );
      expect(await liveSessionIds(app, user.user.id)).not.toContain(laptopSid);
      const audit = await auditOf(app, "session.revoke", user.user.id);
      expect(audit[0]?.detail).toEqual({ session_id: laptopSid });
      // Ending it twice is a 404: there is no live session of that id any more.
      await expectProblem(
        await remove(phone.access_token, laptopSid),
        404,
        "not_found",
      );
    });

    test("404 for another user's session, which stays live", async () => {
      const stranger = await registerUser(app);
      const strangerSid = claimsOf(stranger.access_token).sid;
      await expectProblem(
        await remove(phone.access_token, strangerSid),
        404,
        "not_found",
      );
      expect(await liveSessionIds(app, stranger.user.id)).toEqual([strangerSid]);
      expect((await me(app, stranger.access_token)).status).toBe(200);
      // And it never shows up in my list.
      const ids = (await list(phone.access_token)).map((s) => s.id);
      expect(ids).not.toContain(strangerSid);
    });

    test("404 for an unknown id", async () => {
      await expectProblem(
        await remove(phone.access_token, "01900000-0000-7000-8000-000000000000"),
        404,
        "not_found",
      );
    });

    test("DELETE of the current session signs this client out", async () => {
      const res = await remove(phone.access_token, claimsOf(phone.access_token).sid);
      expect(res.status).toBe(204);
      await expectRejectedToken(await me(app, phone.access_token));
    });

    test("401 without a token", async () => {
      const res = await app.request("GET", "/users/me/sessions");
      await expectProblem(res, 401, "unauthenticated");
      expect(res.headers.get("www-authenticate")).toBe("Bearer");
      const del = await app.request("DELETE", "/users/me/sessions/whatever");
      await expectProblem(del, 401, "unauthenticated");
    });
  });

  describe(`the client's address and TRUST_PROXY [${dialect}]`, () => {
    const behindProxy = useTestApp(dialect, { TRUST_PROXY: "true" });
    const direct = useTestApp(dialect);
    const forwarded = { "x-forwarded-for": "203.0.113.7, 10.0.0.1" };

    const register = (app: typeof direct) =>
      app
        .request("POST", "/auth/register", {
          json: { email: uniqueEmail("ip"), password: GOOD_PASSWORD },
          headers: forwarded,
        })
        .then((r) => expectTokens(r, 201));

    test("TRUST_PROXY=true: the first X-Forwarded-For address is the client's", async () => {
      const reg = await register(behindProxy);
      const res = await behindProxy.request("GET", "/users/me/sessions", {
        token: reg.access_token,
      });
      const { items } = (await res.json()) as { items: SessionItem[] };
      expect(items.map((i) => i.ip)).toEqual(["203.0.113.7"]);
      // Stored so, and audited so.
      const [session] = await behindProxy.container.store.listLiveSessions(
        reg.user.id,
        behindProxy.clock.now(),
      );
      expect(session?.ip).toBe("203.0.113.7");
      const [event] = await auditOf(behindProxy, "user.register", reg.user.id);
      expect(event?.ip).toBe("203.0.113.7");
    });

    test("TRUST_PROXY=false (the default): a forged X-Forwarded-For is ignored", async () => {
      const reg = await register(direct);
      const [session] = await direct.container.store.listLiveSessions(
        reg.user.id,
        direct.clock.now(),
      );
      // In process there is no peer address; over TCP it is the peer's
      // (tests/e2e/daemon.test.ts). Never the header's.
      expect(session?.ip).toBeNull();
      const [event] = await auditOf(direct, "user.register", reg.user.id);
      expect(event?.ip).toBeNull();
    });
  });
}
