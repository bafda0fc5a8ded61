/**
 * Roles over HTTP: a role change takes effect in the daemon at once and in
 * the token at the next refresh, and no change may take away the last
 * enabled admin — not even two admins demoting each other at the same time.
 */
import { describe, expect, test } from "bun:test";
import {
  activeAdminCount,
  jsonOf,
  listUsers,
  patchUser,
  signedInAdmin,
  type UserBody,
} from "../helpers/admin.ts";
import { DIALECTS } from "../helpers/databases.ts";
import { registerUser, type TestApp, useTestApp } from "../helpers/harness.ts";
import {
  auditOf,
  claimsOf,
  expectProblem,
  expectRejectedToken,
  refreshOk,
} from "../helpers/http.ts";

/** Test setup only: every admin made a plain user, past the guard (the store's plain update). */
async function noAdmins(app: TestApp) {
  const store = app.container.store;
  for (const u of await store.listUsers({ role: "admin", limit: 10_000 }))
    await store.updateUser(u.id, { roles: ["user"] }, app.clock.now());
}

for (const dialect of DIALECTS) {
  describe(`roles take effect [${dialect}]`, () => {
    const app = useTestApp(dialect);

    test("a promotion works with the user's current token; a demotion locks it out at once", async () => {
      const admin = await signedInAdmin(app);
      const user = await registerUser(app);
      expect(claimsOf(user.access_token).roles).toEqual(["user"]);
      await expectProblem(await listUsers(app, user.access_token), 403, "forbidden");

      await jsonOf<UserBody>(
        await patchUser(app, admin.access_token, user.user.id, {
          roles: ["user", "admin"],
        }),
      );
      // The token still says ["user"]; the daemon reads the roles it has now.
      expect((await listUsers(app, user.access_token)).status).toBe(200);
      const promoted = await refreshOk(app, user.refresh_token);
      expect(claimsOf(promoted.access_token).roles).toEqual(["user", "admin"]);

      await jsonOf<UserBody>(
        await patchUser(app, admin.access_token, user.user.id, { roles: ["user"] }),
      );
      // The refreshed token still claims admin; the daemon refuses at once.
      await expectProblem(
        await listUsers(app, promoted.access_token),
        403,
        "forbidden",
      );
      const demoted = await refreshOk(app, promoted.refresh_token);
      expect(claimsOf(demoted.access_token).roles).toEqual(["user"]);
      expect(demoted.user.roles).toEqual(["user"]);
    });

    test("a disabled admin's token is refused by the admin API at once", async () => {
      const admin = await signedInAdmin(app);
      const other = await signedInAdmin(app);
      await jsonOf<UserBody>(
        await patchUser(app, admin.access_token, other.user.id, { disabled: true }),
      );
      await expectRejectedToken(await listUsers(app, other.access_token));
    });
  });

  describe(`the last admin [${dialect}]`, () => {
    const app = useTestApp(dialect);

    test("cannot demote, disable or delete themselves when alone: 409, nothing changes, audited", async () => {
      await noAdmins(app);
      const admin = await signedInAdmin(app);
      // A disabled admin does not count as another admin.
      const off = await signedInAdmin(app);
      await app.container.store.updateUser(
        off.user.id,
        { disabled: true },
        app.clock.now(),
      );
      const id = admin.user.id;
      const attempts: [string, unknown?][] = [
        ["PATCH", { roles: ["user"] }],
        ["PATCH", { roles: [] }],
        ["PATCH", { disabled: true }],
        ["PATCH", { name: "Still Root", roles: ["service"] }],
        ["DELETE"],
      ];
      for (const [method, json] of attempts) {
        const res = await app.request(method, `/users/${id}`, {
          token: admin.access_token,
          headers: { "x-request-id": `last-admin-${method}` },
          ...(json ? { json } : {}),
        });
        const body = await expectProblem(res, 409, "last_admin");
        expect(body.detail).toContain("no active admin");
      }
      expect(await app.container.store.findUserById(id)).toMatchObject({
        roles: ["admin", "user"],
        disabled: false,
        name: null,
      });
      expect((await listUsers(app, admin.access_token)).status).toBe(200);

      const refusedRoles = (await auditOf(app, "user.set_roles", id)).filter(
        (e) => e.outcome === "failure",
      );
      expect(refusedRoles).toHaveLength(3);
      expect(refusedRoles[2]).toMatchObject({
        actorId: id,
        requestId: "last-admin-PATCH",
        detail: {
          before: { roles: ["admin", "user"] },
          after: { roles: ["user"] },
          reason: "last_admin",
        },
      });
      // The refused PATCH that also renamed: the whole request was refused.
      const [renamed] = await auditOf(app, "user.update", id);
      expect(renamed).toMatchObject({
        outcome: "failure",
        detail: { reason: "last_admin" },
      });
      const [disable] = await auditOf(app, "user.disable", id);
      expect(disable).toMatchObject({
        outcome: "failure",
        detail: { reason: "last_admin" },
      });
      const [del] = await auditOf(app, "user.delete", id);
      expect(del).toMatchObject({
        outcome: "failure",
        requestId: "last-admin-DELETE",
        detail: { reason: "last_admin" },
      });
    });

    test("with a second enabled admin, an admin may step down", async () => {
      await noAdmins(app);
      const a = await signedInAdmin(app);
      const b = await signedInAdmin(app);
      await jsonOf<UserBody>(
        await patchUser(app, a.access_token, a.user.id, { roles: ["user"] }),
      );
      await expectProblem(await listUsers(app, a.access_token), 403, "forbidden");
      // Now b is the last one.
      await expectProblem(
        await patchUser(app, b.access_token, b.user.id, { disabled: true }),
        409,
        "last_admin",
      );
      expect(await activeAdminCount(app)).toBe(1);
    });

    test("two admins demoting each other at once never leave zero admins", async () => {
      for (let round = 0; round < 8; round++) {
        await noAdmins(app);
        const a = await signedInAdmin(app);
        const b = await signedInAdmin(app);
        const [ra, rb] = await Promise.all([
          patchUser(app, a.access_token, b.user.id, { roles: ["user"] }),
          patchUser(app, b.access_token, a.user.id, { roles: ["user"] }),
        ]);
        const statuses = [ra.status, rb.status].sort();
        // One wins; the other is refused: 409 when its check ran second, or
        // 403 when it was already demoted by the time it was authorised.
        expect([
          [200, 403],
          [200, 409],
        ]).toContainEqual(statuses);
        expect(await activeAdminCount(app)).toBe(1);
      }
    });
  });
}
