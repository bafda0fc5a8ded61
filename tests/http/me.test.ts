import { describe, expect, test } from "bun:test";
import { DIALECTS } from "../helpers/databases.ts";
import { registerUser, useTestApp } from "../helpers/harness.ts";
import {
  auditOf,
  claimsOf,
  expectProblem,
  expectRejectedToken,
  expectValidation,
  liveSessionIds,
  login,
  loginOk,
  me,
  post,
  refresh,
  refreshOk,
} from "../helpers/http.ts";

const NEW_PASSWORD = "a brand new passphrase";

for (const dialect of DIALECTS) {
  describe(`GET /users/me [${dialect}]`, () => {
    const app = useTestApp(dialect);

    test("200 with the user, never a hash", async () => {
      const reg = await registerUser(app);
      const res = await me(app, reg.access_token);
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-control")).toBe("no-store");
      const body = await res.json();
      expect(body).toEqual(reg.user);
      expect(Object.keys(body as object).sort()).toEqual([
        "created_at",
        "disabled",
        "email",
        "email_verified",
        "id",
        "name",
        "roles",
        "updated_at",
      ]);
    });

    test("the Bearer scheme is case-insensitive", async () => {
      const reg = await registerUser(app);
      for (const scheme of ["bearer", "BEARER", "Bearer"]) {
        const res = await app.request("GET", "/users/me", {
          headers: { authorization: `${scheme} ${reg.access_token}` },
        });
        expect(res.status).toBe(200);
        expect(((await res.json()) as { id: string }).id).toBe(reg.user.id);
      }
    });

    test("401 Bearer without a token; tokens in the query string are ignored", async () => {
      const reg = await registerUser(app);
      for (const path of [
        "/users/me",
        `/users/me?access_token=${reg.access_token}`,
        `/users/me?token=${reg.access_token}`,
      ]) {
        const res = await app.request("GET", path);
        await expectProblem(res, 401, "unauthenticated");
        expect(res.headers.get("www-authenticate")).toBe("Bearer");
      }
    });

    test("401 invalid_token for another scheme or an empty bearer", async () => {
      const reg = await registerUser(app);
      for (const authorization of [
        `Basic ${Buffer.from(`${reg.email}:${reg.password}`).toString("base64")}`,
        "Bearer ",
        `Token ${reg.access_token}`,
        `Bearer ${reg.access_token} extra`,
      ]) {
        await expectRejectedToken(
          await app.request("GET", "/users/me", { headers: { authorization } }),
        );
      }
    });
  });

  describe(`PATCH /users/me [${dialect}]`, () => {
    const app = useTestApp(dialect);

    const patch = (token: string, json: unknown) =>
      app.request("PATCH", "/users/me", { token, json });

    test("sets and clears the name; the DB and the audit log agree", async () => {
      const reg = await registerUser(app);
      app.clock.advance(5_000);
      const res = await patch(reg.access_token, { name: "Ada Lovelace" });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { name: string; updated_at: string };
      expect(body.name).toBe("Ada Lovelace");
      expect(body.updated_at).toBe(app.clock.now().toISOString());
      const stored = await app.container.store.findUserById(reg.user.id);
      expect(stored?.name).toBe("Ada Lovelace");
      expect(stored?.updatedAt.getTime()).toBe(app.clock.now().getTime());
      const audit = await auditOf(app, "user.update", reg.user.id);
      expect(audit.map((a) => a.detail)).toEqual([{ fields: ["name"] }]);

      const cleared = await patch(reg.access_token, { name: null });
      expect(((await cleared.json()) as { name: null }).name).toBeNull();
      expect((await app.container.store.findUserById(reg.user.id))?.name).toBeNull();
    });

    test("an absent field is left alone", async () => {
      const reg = await registerUser(app);
      await patch(reg.access_token, { name: "Grace" });
      const before = await app.container.store.findUserById(reg.user.id);
      app.clock.advance(5_000);
      const res = await patch(reg.access_token, {});
      expect(res.status).toBe(200);
      expect(((await res.json()) as { name: string }).name).toBe("Grace");
      expect(await app.container.store.findUserById(reg.user.id)).toEqual(before);
      expect(await auditOf(app, "user.update", reg.user.id)).toHaveLength(1);
    });

    test.each([
      ["roles", ["admin"]],
      ["id", "00000000-0000-7000-8000-000000000000"],
      ["email", "someone-else@example.com"],
      ["email_verified", true],
      ["disabled", false],
      ["password_hash", "$2b$04$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234"],
      ["password", "a sneaky new password"],
    ])("mass assignment: %s is a 422 and changes nothing", async (field, value) => {
      const reg = await registerUser(app);
      const before = await app.container.store.findUserById(reg.user.id);
      const res = await patch(reg.access_token, { name: "Mallory", [field]: value });
      await expectValidation(res, `/${field}`);
      expect(await app.container.store.findUserById(reg.user.id)).toEqual(before);
    });

    test("422 for an empty or over-long name", async () => {
      const reg = await registerUser(app);
      await patch(reg.access_token, { name: "Kept" });
      const before = await app.container.store.findUserById(reg.user.id);
      await expectValidation(await patch(reg.access_token, { name: "" }), "/name");
      await expectValidation(
        await patch(reg.access_token, { name: "n".repeat(201) }),
        "/name",
      );
      expect(await app.container.store.findUserById(reg.user.id)).toEqual(before);
      expect(await auditOf(app, "user.update", reg.user.id)).toHaveLength(1);
    });

    test("401 without or with a rejected token; nobody is changed", async () => {
      const reg = await registerUser(app);
      const before = await app.container.store.findUserById(reg.user.id);
      const res = await app.request("PATCH", "/users/me", { json: { name: "X" } });
      await expectProblem(res, 401, "unauthenticated");
      await expectRejectedToken(await patch("not.a.jwt", { name: "X" }));
      // A token of an ended session is rejected too.
      await post(app, "/auth/logout", { refresh_token: reg.refresh_token });
      await expectRejectedToken(await patch(reg.access_token, { name: "X" }));
      expect(await app.container.store.findUserById(reg.user.id)).toEqual(before);
      expect(await auditOf(app, "user.update", reg.user.id)).toEqual([]);
    });
  });

  describe(`POST /users/me/password [${dialect}]`, () => {
    const app = useTestApp(dialect);

    const change = (token: string, current: string, next: string) =>
      post(
        app,
        "/users/me/password",
        { current_password: current, new_password: next },
        token,
      );

    test("204; every other session ends, this one stays", async () => {
      const reg = await registerUser(app);
      const other = await loginOk(app, reg.email, reg.password);
      const bystander = await registerUser(app);
      const res = await change(reg.access_token, reg.password, NEW_PASSWORD);
      expect(res.status).toBe(204);

      await expectRejectedToken(await me(app, other.access_token));
      await expectProblem(
        await refresh(app, other.refresh_token),
        401,
        "invalid_grant",
      );
      expect((await me(app, reg.access_token)).status).toBe(200);
      await refreshOk(app, reg.refresh_token);
      expect(await liveSessionIds(app, reg.user.id)).toEqual([
        claimsOf(reg.access_token).sid,
      ]);
      expect((await me(app, bystander.access_token)).status).toBe(200);

      await expectProblem(
        await login(app, reg.email, reg.password),
        401,
        "invalid_credentials",
      );
      await loginOk(app, reg.email, NEW_PASSWORD);
      const stored = await app.container.store.findUserById(reg.user.id);
      expect(await Bun.password.verify(NEW_PASSWORD, stored?.passwordHash ?? "")).toBe(
        true,
      );
      const audit = await auditOf(app, "user.password_change", reg.user.id);
      expect(audit.map((a) => [a.outcome, a.detail])).toEqual([
        ["success", { sessions_ended: 1 }],
      ]);
    });

    test("401 invalid_credentials for a wrong current password; nothing changes", async () => {
      const reg = await registerUser(app);
      const other = await loginOk(app, reg.email, reg.password);
      const before = await app.container.store.findUserById(reg.user.id);
      const res = await change(reg.access_token, "not my password", NEW_PASSWORD);
      await expectProblem(res, 401, "invalid_credentials");
      expect(await app.container.store.findUserById(reg.user.id)).toEqual(before);
      expect((await me(app, other.access_token)).status).toBe(200);
      expect((await me(app, reg.access_token)).status).toBe(200);
      const audit = await auditOf(app, "user.password_change", reg.user.id);
      expect(audit.map((a) => a.outcome)).toEqual(["failure"]);
    });

    test("422 for missing or unknown fields; the password stays", async () => {
      const reg = await registerUser(app);
      const before = await app.container.store.findUserById(reg.user.id);
      await expectValidation(
        await post(
          app,
          "/users/me/password",
          { new_password: NEW_PASSWORD },
          reg.access_token,
        ),
        "/current_password",
      );
      await expectValidation(
        await post(
          app,
          "/users/me/password",
          { current_password: reg.password, new_password: NEW_PASSWORD, user_id: "x" },
          reg.access_token,
        ),
        "/user_id",
      );
      expect(await app.container.store.findUserById(reg.user.id)).toEqual(before);
      expect(await auditOf(app, "user.password_change", reg.user.id)).toEqual([]);
      expect(await liveSessionIds(app, reg.user.id)).toEqual([
        claimsOf(reg.access_token).sid,
      ]);
      await loginOk(app, reg.email, reg.password);
    });

    test("401 without a token; no password changes", async () => {
      const reg = await registerUser(app);
      const before = await app.container.store.findUserById(reg.user.id);
      const res = await post(app, "/users/me/password", {
        current_password: reg.password,
        new_password: NEW_PASSWORD,
      });
      await expectProblem(res, 401, "unauthenticated");
      expect(res.headers.get("www-authenticate")).toBe("Bearer");
      expect(await app.container.store.findUserById(reg.user.id)).toEqual(before);
      await loginOk(app, reg.email, reg.password);
    });
  });
}
