/**
 * The admin user API as an admin uses it: what each route does to the
 * database, the user's sessions and the audit log (who may call it at all is
 * admin-access.test.ts).
 */
import { describe, expect, test } from "bun:test";
import {
  getUser,
  jsonOf,
  patchUser,
  signedInAdmin,
  USER_KEYS,
  type UserBody,
} from "../helpers/admin.ts";
import { DIALECTS } from "../helpers/databases.ts";
import {
  GOOD_PASSWORD,
  registerUser,
  uniqueEmail,
  useTestApp,
} from "../helpers/harness.ts";
import {
  auditOf,
  expectProblem,
  expectRejectedToken,
  expectValidation,
  liveSessionIds,
  login,
  loginOk,
  me,
  refresh,
} from "../helpers/http.ts";

const OTHER_PASSWORD = "plaid tractor mountain 7";

for (const dialect of DIALECTS) {
  describe(`admin API: users [${dialect}]`, () => {
    const app = useTestApp(dialect, { TRUST_PROXY: "true" });
    const headers = {
      "x-forwarded-for": "203.0.113.50",
      "user-agent": "AdminPanel/2.0",
    };
    const as = (token: string, method: string, path: string, json?: unknown) =>
      app.request(method, path, {
        token,
        headers,
        ...(json === undefined ? {} : { json }),
      });

    test("POST /users: 201 User with default roles; the user can log in; audited", async () => {
      const admin = await signedInAdmin(app);
      const email = uniqueEmail("created");
      const res = await as(admin.access_token, "POST", "/users", {
        email: `  ${email.toUpperCase()} `,
        password: OTHER_PASSWORD,
        name: "Created",
      });
      const user = await jsonOf<UserBody>(res, 201);
      expect(Object.keys(user).sort()).toEqual(USER_KEYS);
      expect(user).toMatchObject({
        email,
        name: "Created",
        roles: ["user"],
        disabled: false,
        email_verified: false,
      });
      expect(JSON.stringify(user)).not.toContain("argon2");
      await loginOk(app, email, OTHER_PASSWORD);
      const [event] = await auditOf(app, "user.create", user.id);
      expect(event).toMatchObject({
        actorId: admin.user.id,
        userId: user.id,
        ip: "203.0.113.50",
        userAgent: "AdminPanel/2.0",
        requestId: res.headers.get("x-request-id"),
        outcome: "success",
        detail: { email, name: "Created", roles: ["user"] },
      });
    });

    test("POST /users with roles; an unknown role, a weak password or unknown field is 422", async () => {
      const admin = await signedInAdmin(app);
      const email = uniqueEmail("svc");
      const created = await jsonOf<UserBody>(
        await as(admin.access_token, "POST", "/users", {
          email,
          password: GOOD_PASSWORD,
          roles: ["service", "service"],
        }),
        201,
      );
      expect(created.roles).toEqual(["service"]);
      const bad = uniqueEmail("bad");
      await expectValidation(
        await as(admin.access_token, "POST", "/users", {
          email: bad,
          password: GOOD_PASSWORD,
          roles: ["superuser"],
        }),
        "/roles/0",
      );
      await expectValidation(
        await as(admin.access_token, "POST", "/users", {
          email: bad,
          password: "password1",
        }),
        "/password",
      );
      await expectValidation(
        await as(admin.access_token, "POST", "/users", {
          email: bad,
          password: GOOD_PASSWORD,
          disabled: true,
        }),
        "/disabled",
      );
      await expectValidation(
        await as(admin.access_token, "POST", "/users", { email: bad }),
        "/password",
      );
      expect(await app.container.store.findUserByEmail(bad)).toBeNull();
    });

    test("POST /users with a taken email (any case) is 409 email_taken, audited as a failure", async () => {
      const admin = await signedInAdmin(app);
      const existing = await registerUser(app);
      const res = await as(admin.access_token, "POST", "/users", {
        email: existing.email.toUpperCase(),
        password: OTHER_PASSWORD,
      });
      await expectProblem(res, 409, "email_taken");
      const failures = (await auditOf(app, "user.create")).filter(
        (e) => e.outcome === "failure",
      );
      expect(failures.map((e) => e.detail)).toContainEqual({
        email: existing.email,
        reason: "email_taken",
      });
      await loginOk(app, existing.email, existing.password);
    });

    test("GET /users/{id}: the User; an unknown or malformed id is 404 not_found", async () => {
      const admin = await signedInAdmin(app);
      const user = await registerUser(app);
      const got = await jsonOf<UserBody>(
        await getUser(app, admin.access_token, user.user.id),
      );
      expect(got).toEqual(user.user as unknown as UserBody);
      for (const id of ["0192aaaa-0000-7000-8000-000000000000", "nope", user.email]) {
        await expectProblem(
          await getUser(app, admin.access_token, encodeURIComponent(id)),
          404,
          "not_found",
        );
      }
    });

    test("PATCH /users/{id}: name, roles, email_verified; before/after of changed fields only", async () => {
      const admin = await signedInAdmin(app);
      const user = await registerUser(app);
      app.clock.advance(1000);
      const res = await as(admin.access_token, "PATCH", `/users/${user.user.id}`, {
        name: "Renamed",
        roles: ["user", "service"],
        email_verified: true,
        disabled: false,
      });
      const updated = await jsonOf<UserBody>(res);
      expect(updated).toMatchObject({
        name: "Renamed",
        roles: ["user", "service"],
        email_verified: true,
        disabled: false,
      });
      expect(updated.updated_at).not.toBe(user.user.updated_at);
      expect(await app.container.store.findUserById(user.user.id)).toMatchObject({
        name: "Renamed",
        roles: ["user", "service"],
        emailVerified: true,
      });
      const requestId = res.headers.get("x-request-id");
      const [update] = await auditOf(app, "user.update", user.user.id);
      expect(update).toMatchObject({
        actorId: admin.user.id,
        ip: "203.0.113.50",
        userAgent: "AdminPanel/2.0",
        requestId,
        detail: {
          before: { name: null, email_verified: false },
          after: { name: "Renamed", email_verified: true },
        },
      });
      const [roles] = await auditOf(app, "user.set_roles", user.user.id);
      expect(roles?.detail).toEqual({
        before: { roles: ["user"] },
        after: { roles: ["user", "service"] },
      });
      // disabled did not change: no disable or enable event.
      expect(await auditOf(app, "user.enable", user.user.id)).toEqual([]);
      // The user keeps their session: nothing here ends it.
      expect((await me(app, user.access_token)).status).toBe(200);
    });

    test("PATCH /users/{id}: unknown fields, bad types and unknown roles are 422; nothing changes", async () => {
      const admin = await signedInAdmin(app);
      const user = await registerUser(app);
      const id = user.user.id;
      for (const [json, path] of [
        [{ email: "new@example.com" }, "/email"],
        [{ password: "whatever whatever" }, "/password"],
        [{ password_hash: "$2b$..." }, "/password_hash"],
        [{ disabled: "yes" }, "/disabled"],
        [{ roles: "admin" }, "/roles"],
        [{ roles: ["Admin"] }, "/roles/0"],
        [{ name: "" }, "/name"],
      ] as const) {
        await expectValidation(
          await patchUser(app, admin.access_token, id, json),
          path,
        );
      }
      expect(await app.container.store.findUserById(id)).toMatchObject({
        email: user.email,
        roles: ["user"],
        disabled: false,
        name: null,
      });
      await expectProblem(
        await patchUser(app, admin.access_token, "missing-id", { name: "x" }),
        404,
        "not_found",
      );
    });

    test("disable: the user's access token is 401 on the next request, refresh and login fail", async () => {
      const admin = await signedInAdmin(app);
      const user = await registerUser(app);
      const second = await loginOk(app, user.email, user.password);
      expect((await me(app, user.access_token)).status).toBe(200);

      const res = await as(admin.access_token, "PATCH", `/users/${user.user.id}`, {
        disabled: true,
      });
      expect((await jsonOf<UserBody>(res)).disabled).toBe(true);
      await expectRejectedToken(await me(app, user.access_token));
      await expectRejectedToken(await me(app, second.access_token));
      expect((await refresh(app, user.refresh_token)).status).toBe(401);
      expect((await login(app, user.email, user.password)).status).toBe(401);
      expect(await liveSessionIds(app, user.user.id)).toEqual([]);
      const [event] = await auditOf(app, "user.disable", user.user.id);
      expect(event).toMatchObject({
        actorId: admin.user.id,
        outcome: "success",
        detail: {
          before: { disabled: false },
          after: { disabled: true },
          sessions_ended: 2,
        },
      });

      // Enabling lets them log in again (old sessions stay ended).
      const back = await as(admin.access_token, "PATCH", `/users/${user.user.id}`, {
        disabled: false,
      });
      expect((await jsonOf<UserBody>(back)).disabled).toBe(false);
      expect(await auditOf(app, "user.enable", user.user.id)).toHaveLength(1);
      await loginOk(app, user.email, user.password);
      expect((await refresh(app, second.refresh_token)).status).toBe(401);
    });

    test("an empty PATCH changes nothing and writes no event", async () => {
      const admin = await signedInAdmin(app);
      const user = await registerUser(app);
      app.clock.advance(1000);
      const same = await jsonOf<UserBody>(
        await patchUser(app, admin.access_token, user.user.id, {}),
      );
      expect(same).toEqual(user.user as unknown as UserBody);
      const unchanged = await jsonOf<UserBody>(
        await patchUser(app, admin.access_token, user.user.id, { roles: ["user"] }),
      );
      expect(unchanged.roles).toEqual(["user"]);
      expect(await auditOf(app, "user.set_roles", user.user.id)).toEqual([]);
    });

    test("DELETE /users/{id}: 204, their tokens die, then 404; the audit log keeps the history", async () => {
      const admin = await signedInAdmin(app);
      const user = await registerUser(app);
      const res = await as(admin.access_token, "DELETE", `/users/${user.user.id}`);
      expect(res.status).toBe(204);
      expect(await res.text()).toBe("");
      await expectRejectedToken(await me(app, user.access_token));
      expect((await refresh(app, user.refresh_token)).status).toBe(401);
      expect(await app.container.store.findUserById(user.user.id)).toBeNull();
      await expectProblem(
        await getUser(app, admin.access_token, user.user.id),
        404,
        "not_found",
      );
      await expectProblem(
        await as(admin.access_token, "DELETE", `/users/${user.user.id}`),
        404,
        "not_found",
      );
      const [event] = await auditOf(app, "user.delete", user.user.id);
      expect(event).toMatchObject({
        actorId: admin.user.id,
        outcome: "success",
        detail: { email: user.email, roles: ["user"] },
      });
      // The history of the deleted user is still there.
      expect(await auditOf(app, "user.register", user.user.id)).toHaveLength(1);
    });

    test("GET /users/{id}/sessions lists their live sessions, none current; DELETE ends them all", async () => {
      const admin = await signedInAdmin(app);
      const user = await registerUser(app);
      await loginOk(app, user.email, user.password);
      const list = await jsonOf<{ items: Record<string, unknown>[] }>(
        await as(admin.access_token, "GET", `/users/${user.user.id}/sessions`),
      );
      expect(list.items).toHaveLength(2);
      for (const s of list.items) {
        expect(Object.keys(s).sort()).toEqual([
          "created_at",
          "current",
          "expires_at",
          "id",
          "ip",
          "last_used_at",
          "user_agent",
        ]);
        expect(s.current).toBe(false);
      }
      expect(list.items.map((s) => s.id).sort()).toEqual(
        await liveSessionIds(app, user.user.id),
      );

      const res = await as(
        admin.access_token,
        "DELETE",
        `/users/${user.user.id}/sessions`,
      );
      expect(res.status).toBe(204);
      await expectRejectedToken(await me(app, user.access_token));
      expect(await liveSessionIds(app, user.user.id)).toEqual([]);
      const [event] = await auditOf(app, "session.revoke", user.user.id);
      expect(event).toMatchObject({
        actorId: admin.user.id,
        detail: { session_id: "all", count: 2 },
      });
      // The admin's own session is untouched.
      expect((await me(app, admin.access_token)).status).toBe(200);
      const empty = await jsonOf<{ items: unknown[] }>(
        await as(admin.access_token, "GET", `/users/${user.user.id}/sessions`),
      );
      expect(empty.items).toEqual([]);
      for (const method of ["GET", "DELETE"]) {
        await expectProblem(
          await as(admin.access_token, method, "/users/missing-id/sessions"),
          404,
          "not_found",
        );
      }
    });
  });
}
