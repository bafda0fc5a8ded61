/**
 * Who may call the admin API: no token is 401, a rejected token 401, and
 * any signed-in user without the admin role 403 on every admin route —
 * including for their own id — with nothing changed. And the self-service
 * route does not take privileged fields (mass assignment).
 */
import { describe, expect, test } from "bun:test";
import { signedInAs } from "../helpers/admin.ts";
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
  liveSessionIds,
  me,
} from "../helpers/http.ts";

for (const dialect of DIALECTS) {
  describe(`admin API: who may call it [${dialect}]`, () => {
    const app = useTestApp(dialect);

    const routes = (id: string): [string, string, unknown?][] => [
      ["GET", "/users"],
      ["POST", "/users", { email: uniqueEmail(), password: GOOD_PASSWORD }],
      ["GET", `/users/${id}`],
      ["PATCH", `/users/${id}`, { disabled: true, roles: ["admin"] }],
      ["DELETE", `/users/${id}`],
      ["GET", `/users/${id}/sessions`],
      ["DELETE", `/users/${id}/sessions`],
      ["GET", "/audit"],
    ];

    test("no token: 401 with a bare Bearer challenge on every admin route", async () => {
      const victim = await registerUser(app);
      for (const [method, path, json] of routes(victim.user.id)) {
        const res = await app.request(method, path, json ? { json } : {});
        await expectProblem(res, 401, "unauthenticated");
        expect(res.headers.get("www-authenticate")).toBe("Bearer");
      }
    });

    test("a rejected token: 401 invalid_token", async () => {
      const victim = await registerUser(app);
      for (const [method, path, json] of routes(victim.user.id)) {
        const res = await app.request(method, path, {
          token: "not.a.jwt",
          ...(json ? { json } : {}),
        });
        await expectRejectedToken(res);
      }
    });

    test("IDOR: a user reading or changing another user gets 403, and nothing changes", async () => {
      const attacker = await registerUser(app);
      const victim = await registerUser(app);
      const usersBefore = await app.container.store.listUsers({ limit: 1000 });
      for (const [method, path, json] of routes(victim.user.id)) {
        const res = await app.request(method, path, {
          token: attacker.access_token,
          ...(json ? { json } : {}),
        });
        const body = await expectProblem(res, 403, "forbidden");
        expect(body.detail).toBe("this needs the admin role");
      }
      // Their own id is no different: the admin routes are for admins.
      for (const [method, path, json] of routes(attacker.user.id)) {
        const res = await app.request(method, path, {
          token: attacker.access_token,
          ...(json ? { json } : {}),
        });
        await expectProblem(res, 403, "forbidden");
      }
      expect(await app.container.store.listUsers({ limit: 1000 })).toEqual(usersBefore);
      expect(await liveSessionIds(app, victim.user.id)).toHaveLength(1);
      expect((await me(app, victim.access_token)).status).toBe(200);
      expect(await auditOf(app, "user.create")).toEqual([]);
    });

    test("the service role is not admin", async () => {
      const service = await signedInAs(app, ["service"]);
      await expectProblem(
        await app.request("GET", "/users", { token: service.access_token }),
        403,
        "forbidden",
      );
    });

    test("mass assignment: PATCH /users/me with roles or disabled is 422 and changes nothing", async () => {
      const user = await registerUser(app);
      for (const json of [
        { roles: ["admin"] },
        { disabled: false },
        { name: "x", roles: ["admin", "user"] },
        { email_verified: true },
      ]) {
        const res = await app.request("PATCH", "/users/me", {
          token: user.access_token,
          json,
        });
        const body = await expectProblem(res, 422, "validation_failed");
        expect(body.errors?.map((e) => e.message)).toContain(
          "is not a field of this request",
        );
      }
      const stored = await app.container.store.findUserById(user.user.id);
      expect(stored).toMatchObject({
        roles: ["user"],
        name: null,
        emailVerified: false,
      });
      await expectProblem(
        await app.request("GET", "/users", { token: user.access_token }),
        403,
        "forbidden",
      );
    });
  });
}
