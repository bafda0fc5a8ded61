/**
 * GET /audit: the log as an admin reads it — every admin action with actor,
 * target, ip, user agent, request id and outcome; filters and paging; and no
 * password, token or hash anywhere in what is stored.
 */
import { describe, expect, test } from "bun:test";
import * as pgSchema from "../../src/db/schema/pg.ts";
import * as sqliteSchema from "../../src/db/schema/sqlite.ts";
import { jsonOf, type Page, signedInAdmin, type UserBody } from "../helpers/admin.ts";
import { DIALECTS } from "../helpers/databases.ts";
import {
  registerUser,
  type TestApp,
  uniqueEmail,
  useTestApp,
} from "../helpers/harness.ts";
import {
  expectProblem,
  expectValidation,
  login,
  loginOk,
  post,
  refreshOk,
} from "../helpers/http.ts";

interface EventBody {
  id: string;
  at: string;
  action: string;
  actor_id: string | null;
  user_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  outcome: "success" | "failure";
  detail: Record<string, unknown> | null;
}

const EVENT_KEYS = [
  "action",
  "actor_id",
  "at",
  "detail",
  "id",
  "ip",
  "outcome",
  "request_id",
  "user_agent",
  "user_id",
];

/** Every stored audit row, straight from the table. */
async function auditRows(app: TestApp): Promise<unknown[]> {
  const database = app.container.database;
  if (database.dialect === "pg") return database.db.select().from(pgSchema.auditEvents);
  return database.db.select().from(sqliteSchema.auditEvents).all();
}

/** Every stored password hash, straight from the table. */
async function passwordHashes(app: TestApp): Promise<string[]> {
  const database = app.container.database;
  const rows =
    database.dialect === "pg"
      ? await database.db.select().from(pgSchema.users)
      : database.db.select().from(sqliteSchema.users).all();
  return rows.flatMap((r) => (r.passwordHash ? [r.passwordHash] : []));
}

for (const dialect of DIALECTS) {
  describe(`GET /audit [${dialect}]`, () => {
    const app = useTestApp(dialect, { TRUST_PROXY: "true" });
    const audit = async (token: string, query = "") =>
      jsonOf<Page<EventBody>>(
        await app.request("GET", `/audit${query ? `?${query}` : ""}`, { token }),
      );

    test("each admin action, with actor, target, ip, user agent, request id and outcome", async () => {
      const admin = await signedInAdmin(app);
      const call = (method: string, path: string, requestId: string, json?: unknown) =>
        app.request(method, path, {
          token: admin.access_token,
          headers: {
            "x-request-id": requestId,
            "x-forwarded-for": "198.51.100.23, 10.0.0.1",
            "user-agent": "support-tool/1.4",
          },
          ...(json === undefined ? {} : { json }),
        });
      const email = uniqueEmail("target");
      const created = await jsonOf<UserBody>(
        await call("POST", "/users", "req-create", {
          email,
          password: "target pass 123",
        }),
        201,
      );
      const id = created.id;
      await loginOk(app, email, "target pass 123");
      await jsonOf(await call("PATCH", `/users/${id}`, "req-patch", { name: "T" }));
      await jsonOf(
        await call("PATCH", `/users/${id}`, "req-roles", { roles: ["service"] }),
      );
      await jsonOf(await call("PATCH", `/users/${id}`, "req-off", { disabled: true }));
      await jsonOf(await call("PATCH", `/users/${id}`, "req-on", { disabled: false }));
      expect((await call("DELETE", `/users/${id}/sessions`, "req-revoke")).status).toBe(
        204,
      );
      expect((await call("DELETE", `/users/${id}`, "req-delete")).status).toBe(204);

      const page = await audit(admin.access_token, `user_id=${id}`);
      for (const e of page.items) expect(Object.keys(e).sort()).toEqual(EVENT_KEYS);
      const byAdmin = page.items.filter((e) => e.actor_id === admin.user.id);
      expect(
        byAdmin.map((e) => [
          e.action,
          e.request_id,
          e.outcome,
          e.ip,
          e.user_agent,
          e.user_id,
        ]),
      ).toEqual(
        (
          [
            ["user.create", "req-create"],
            ["user.update", "req-patch"],
            ["user.set_roles", "req-roles"],
            ["user.disable", "req-off"],
            ["user.enable", "req-on"],
            ["session.revoke", "req-revoke"],
            ["user.delete", "req-delete"],
          ] as [string, string][]
        )
          .reverse()
          .map(([action, req]) => [
            action,
            req,
            "success",
            "198.51.100.23",
            "support-tool/1.4",
            id,
          ]),
      );
      const detail = (action: string) =>
        byAdmin.find((e) => e.action === action)?.detail;
      expect(detail("user.update")).toEqual({
        before: { name: null },
        after: { name: "T" },
      });
      expect(detail("user.set_roles")).toEqual({
        before: { roles: ["user"] },
        after: { roles: ["service"] },
      });
      expect(detail("user.disable")).toEqual({
        before: { disabled: false },
        after: { disabled: true },
        sessions_ended: 1,
      });
      expect(detail("user.enable")).toEqual({
        before: { disabled: true },
        after: { disabled: false },
      });
      // The user's own login is there too, with the user as the actor.
      expect(page.items.map((e) => [e.action, e.actor_id])).toContainEqual([
        "user.login",
        id,
      ]);
      const at = page.items[0]?.at ?? "";
      expect(new Date(at).toISOString()).toBe(at);
    });

    test("filters: user_id, action, since; newest first", async () => {
      const admin = await signedInAdmin(app);
      const user = await registerUser(app);
      const t0 = app.clock.now();
      app.clock.advance(60_000);
      const t1 = app.clock.now();
      await loginOk(app, user.email, user.password);
      expect((await login(app, user.email, "wrong password here")).status).toBe(401);

      const logins = await audit(
        admin.access_token,
        `user_id=${user.user.id}&action=user.login`,
      );
      expect(logins.items.map((e) => e.outcome)).toEqual(["failure", "success"]);
      expect(logins.items[0]?.detail).toEqual({ reason: "wrong_password" });

      const recent = await audit(
        admin.access_token,
        `user_id=${user.user.id}&since=${encodeURIComponent(t1.toISOString())}`,
      );
      expect(recent.items.map((e) => e.action)).toEqual(["user.login", "user.login"]);
      const all = await audit(
        admin.access_token,
        `user_id=${user.user.id}&since=${t0.toISOString().slice(0, 10)}`,
      );
      expect(all.items.map((e) => e.action)).toEqual([
        "user.login",
        "user.login",
        "user.register",
      ]);
      const future = await audit(
        admin.access_token,
        "since=2999-01-01T00:00:00%2B02:00",
      );
      expect(future).toEqual({ items: [], next_cursor: null });
      expect(await audit(admin.access_token, "user_id=nobody")).toEqual({
        items: [],
        next_cursor: null,
      });
    });

    test("paging: limit and cursor walk the whole log once, newest first", async () => {
      const admin = await signedInAdmin(app);
      const everything = (await audit(admin.access_token, "limit=200")).items.map(
        (e) => e.id,
      );
      expect(everything.length).toBeGreaterThan(10);
      expect(everything).toEqual([...everything].sort().reverse());
      const walked: string[] = [];
      let cursor: string | null = null;
      do {
        const page: Page<EventBody> = await audit(
          admin.access_token,
          `limit=3${cursor ? `&cursor=${cursor}` : ""}`,
        );
        expect(page.items.length).toBeLessThanOrEqual(3);
        walked.push(...page.items.map((e) => e.id));
        cursor = page.next_cursor;
      } while (cursor);
      // New events (this test's own reads are not audited) would come first.
      expect(walked).toEqual(everything);
      expect((await audit(admin.access_token)).items.length).toBeLessThanOrEqual(50);
    });

    test("bad parameters are 422; a non-admin is 403", async () => {
      const admin = await signedInAdmin(app);
      for (const [query, path] of [
        ["since=2026-02-31", "/query/since"],
        ["since=2026-11-26T25:00:00Z", "/query/since"],
        ["since=yesterday", "/query/since"],
        ["since=1700000000", "/query/since"],
        ["action=User.Login", "/query/action"],
        ["limit=0", "/query/limit"],
        ["cursor=xyz", "/query/cursor"],
        ["actor=cli", "/query/actor"],
      ] as const) {
        await expectValidation(
          await app.request("GET", `/audit?${query}`, { token: admin.access_token }),
          path,
        );
      }
      const user = await registerUser(app);
      await expectProblem(
        await app.request("GET", "/audit", { token: user.access_token }),
        403,
        "forbidden",
      );
    });
  });

  describe(`the audit log holds no secret [${dialect}]`, () => {
    const app = useTestApp(dialect);

    test("no password, access token, refresh token or hash used here is stored in it", async () => {
      const secrets: string[] = [];
      const admin = await signedInAdmin(app);
      secrets.push(admin.password, admin.access_token, admin.refresh_token);

      const passwords = {
        register: "first secret passphrase",
        changed: "second secret passphrase",
        byAdmin: "third secret passphrase",
        byOperator: "fourth secret passphrase",
        wrong: "guessed secret passphrase",
        weak: "password1",
      };
      secrets.push(...Object.values(passwords));
      const user = await registerUser(app, uniqueEmail(), passwords.register);
      secrets.push(user.access_token, user.refresh_token);
      const refreshed = await refreshOk(app, user.refresh_token);
      secrets.push(refreshed.access_token, refreshed.refresh_token);
      // A repeat within the reuse interval gets the same successor back.
      expect(
        (await post(app, "/auth/refresh", { refresh_token: user.refresh_token }))
          .status,
      ).toBe(200);
      expect(
        (
          await post(
            app,
            "/users/me/password",
            { current_password: passwords.wrong, new_password: passwords.changed },
            refreshed.access_token,
          )
        ).status,
      ).toBe(401);
      expect(
        (
          await post(
            app,
            "/users/me/password",
            { current_password: passwords.register, new_password: passwords.changed },
            refreshed.access_token,
          )
        ).status,
      ).toBe(204);
      expect((await login(app, user.email, passwords.wrong)).status).toBe(401);
      const again = await loginOk(app, user.email, passwords.changed);
      secrets.push(again.access_token, again.refresh_token);
      expect(
        (await post(app, "/auth/logout", { refresh_token: again.refresh_token }))
          .status,
      ).toBe(204);

      const created = await jsonOf<UserBody>(
        await app.request("POST", "/users", {
          token: admin.access_token,
          json: { email: uniqueEmail(), password: passwords.byAdmin, roles: ["user"] },
        }),
        201,
      );
      await expectValidation(
        await app.request("POST", "/users", {
          token: admin.access_token,
          json: { email: uniqueEmail(), password: passwords.weak },
        }),
        "/password",
      );
      await app.container.userAdmin.setPassword(created.id, passwords.byOperator, {
        actorId: "cli",
      });
      await jsonOf(
        await app.request("PATCH", `/users/${created.id}`, {
          token: admin.access_token,
          json: { disabled: true },
        }),
      );
      secrets.push(...(await passwordHashes(app)));

      const stored = JSON.stringify(await auditRows(app));
      expect(stored.length).toBeGreaterThan(1000);
      const served = await app.request("GET", "/audit?limit=200", {
        token: admin.access_token,
      });
      const servedText = await served.text();
      for (const secret of secrets) {
        expect(secret.length).toBeGreaterThanOrEqual(8);
        expect({ secret, inStore: stored.includes(secret) }).toEqual({
          secret,
          inStore: false,
        });
        expect({ secret, served: servedText.includes(secret) }).toEqual({
          secret,
          served: false,
        });
      }
      // Nor anything that looks like a hash or a JWT.
      expect(stored).not.toMatch(/\$argon2|\$2[aby]\$|eyJ[A-Za-z0-9_-]{10,}\./);
    });
  });
}
