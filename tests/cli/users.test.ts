/**
 * `authctl admin create`, `users …` and `sessions …` as an operator runs them:
 * the output, --json, exit codes, and afterwards what the database holds, the
 * audit log (actor "cli"), and what a client sees over HTTP.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { DIALECTS } from "../helpers/databases.ts";
import { GOOD_PASSWORD } from "../helpers/harness.ts";
import { claimsOf } from "../helpers/jwt.ts";
import {
  expectAuditedByCli,
  expectFailure,
  useCliDatabase,
} from "./authctl-process.ts";

// Every test runs authctl processes, on a busy 2-core machine: generous.
setDefaultTimeout(120_000);

const OTHER_PASSWORD = "plaid tractor mountain 7";
const USER_KEYS = [
  "created_at",
  "disabled",
  "email",
  "email_verified",
  "id",
  "name",
  "roles",
  "updated_at",
];

interface UserJson {
  id: string;
  email: string;
  email_verified: boolean;
  name: string | null;
  roles: string[];
  disabled: boolean;
  created_at: string;
  updated_at: string;
}

interface SessionJson {
  id: string;
  user_id: string;
  created_at: string;
  last_used_at: string;
  expires_at: string;
  revoked_at: string | null;
  ip: string | null;
  user_agent: string | null;
}

interface Tokens {
  access_token: string;
  refresh_token: string;
}

for (const dialect of DIALECTS) {
  describe(`authctl users, admin, sessions [${dialect}]`, () => {
    const { db, c } = useCliDatabase(dialect);

    const login = (email: string, password: string) =>
      db.http("POST", "/auth/login", { json: { email, password } });
    const loginOk = async (email: string, password: string) => {
      const res = await login(email, password);
      expect(res.status).toBe(200);
      return (await res.json()) as Tokens;
    };
    const meStatus = async (token: string) =>
      (await db.http("GET", "/users/me", { token })).status;
    const refreshStatus = async (refreshToken: string) =>
      (
        await db.http("POST", "/auth/refresh", {
          json: { refresh_token: refreshToken },
        })
      ).status;
    const createUser = async (email: string, password = GOOD_PASSWORD) => {
      const u = await db.json<UserJson>(
        ["users", "create", "--email", email, "--password-stdin"],
        {
          stdin: `${password}\n`,
        },
      );
      return u;
    };

    describe("admin create, without a terminal", () => {
      test("--password-stdin creates an admin who can log in", async () => {
        const r = await db.run(
          ["admin", "create", "--email", " Root@Example.com ", "--password-stdin"],
          { stdin: `${GOOD_PASSWORD}\n` },
        );
        expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
        const admin = await c.userAdmin.get("root@example.com");
        expect(r.stdout).toBe(`created admin root@example.com (${admin.id})\n`);
        expect(admin).toMatchObject({ roles: ["admin", "user"], disabled: false });
        await expectAuditedByCli(c, "user.create", admin.id);
        await loginOk("root@example.com", GOOD_PASSWORD);
      });

      test("AUTHCTL_PASSWORD works too; --json is the user, snake_case, no hash", async () => {
        const json = await db.json<UserJson>(
          ["admin", "create", "--email", "ops-admin@example.com", "--name", "Ops"],
          { env: { AUTHCTL_PASSWORD: OTHER_PASSWORD } },
        );
        expect(Object.keys(json).sort()).toEqual(USER_KEYS);
        expect(json).toMatchObject({
          email: "ops-admin@example.com",
          name: "Ops",
          roles: ["admin", "user"],
          disabled: false,
          // The operator vouches for an admin's address (REQUIRE_EMAIL_VERIFICATION).
          email_verified: true,
        });
        expect(new Date(json.created_at).toISOString()).toBe(json.created_at);
        expect((await c.userAdmin.get(json.id)).email).toBe("ops-admin@example.com");
        await loginOk("ops-admin@example.com", OTHER_PASSWORD);
      });

      test("a weak password or a taken email is refused (exit 1) and nothing is written", async () => {
        const [weak, taken] = await Promise.all([
          db.run(
            ["admin", "create", "--email", "weak@example.com", "--password-stdin"],
            {
              stdin: "password1\n",
            },
          ),
          db.run(
            ["admin", "create", "--email", "ROOT@example.com", "--password-stdin"],
            {
              stdin: `${OTHER_PASSWORD}\n`,
            },
          ),
        ]);
        expectFailure(weak, 1, "authctl: password is one of the most common passwords");
        expectFailure(taken, 1, "authctl: an account with this email exists");
        expectFailure(
          await db.run(["users", "show", "weak@example.com"]),
          1,
          "no user",
        );
        // The existing admin keeps their password.
        await loginOk("root@example.com", GOOD_PASSWORD);
        expect((await login("root@example.com", OTHER_PASSWORD)).status).toBe(401);
      });

      test("no terminal and no password or email: exit 2 at once, with a clear message", async () => {
        // Standard input is an open pipe that never speaks: a command that
        // waited on a prompt would hang there (and fail the test) instead of
        // exiting. No clock is involved.
        const [noEmail, noPassword, emptyStdin] = await Promise.all([
          db.run(["admin", "create"], { stdinOpen: true }),
          db.run(["admin", "create", "--email", "a@b.co"], { stdinOpen: true }),
          db.run(["admin", "create", "--email", "a@b.co", "--password-stdin"], {
            stdin: "",
          }),
        ]);
        expectFailure(noEmail, 2, "authctl: no email given: use --email");
        expectFailure(
          noPassword,
          2,
          "authctl: no password given: pipe one to --password-stdin",
        );
        expectFailure(
          emptyStdin,
          2,
          "--password-stdin was given but standard input was empty",
        );
        expectFailure(await db.run(["users", "show", "a@b.co"]), 1, "no user a@b.co");
      });
    });

    describe("users create, list, show", () => {
      test("create without a password: the user exists but cannot log in", async () => {
        const r = await db.run([
          "users",
          "create",
          "--email",
          "Ada@Example.com",
          "--name",
          "Ada Lovelace",
          "--role",
          "user",
          "--role",
          "service",
        ]);
        expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
        const ada = await c.userAdmin.get("ada@example.com");
        expect(r.stdout).toBe(`created ada@example.com (${ada.id})\n`);
        expect(ada).toMatchObject({ name: "Ada Lovelace", roles: ["user", "service"] });
        expect(
          (await c.store.findUserByEmail("ada@example.com"))?.passwordHash,
        ).toBeNull();
        expect((await login("ada@example.com", "")).status).toBe(422);
        expect((await login("ada@example.com", GOOD_PASSWORD)).status).toBe(401);
        await expectAuditedByCli(c, "user.create", ada.id);
      });

      test("create refuses a bad email or role, and a taken email (exit 1)", async () => {
        const [email, role, taken] = await Promise.all([
          db.run(["users", "create", "--email", "not-an-email"]),
          db.run([
            "users",
            "create",
            "--email",
            "x@example.com",
            "--role",
            "Super User",
          ]),
          db.run(["users", "create", "--email", "ada@example.com"]),
        ]);
        expectFailure(email, 1, "authctl: email must be an email address");
        expectFailure(
          role,
          1,
          'authctl: roles "Super User" is not a known role (known: user, admin, service)',
        );
        expectFailure(taken, 1, "authctl: an account with this email exists");
        expect(
          (await c.userAdmin.list({ email: "x@example.com", limit: 5 })).items,
        ).toEqual([]);
      });

      test("list: a table, oldest first, filtered by --email, --role, --limit", async () => {
        const all = await db.run(["users", "list"]);
        expect({ code: all.code, stderr: all.stderr }).toEqual({ code: 0, stderr: "" });
        const lines = all.stdout.trimEnd().split("\n");
        expect(lines[0]).toMatch(/^ID\s+EMAIL\s+NAME\s+ROLES\s+DISABLED\s+CREATED$/);
        expect(lines.slice(1).map((l) => l.split(/\s{2,}/)[1])).toEqual([
          "root@example.com",
          "ops-admin@example.com",
          "ada@example.com",
        ]);
        const ada = await c.userAdmin.get("ada@example.com");
        expect(lines[3]).toMatch(
          new RegExp(
            `^${ada.id}\\s+ada@example.com\\s+Ada Lovelace\\s+user,service\\s+false\\s+\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$`,
          ),
        );

        const [byEmail, byRole, limited, none] = await Promise.all([
          db.json<UserJson[]>(["users", "list", "--email", "ADA@example.com"]),
          db.json<UserJson[]>(["users", "list", "--role", "admin"]),
          db.json<UserJson[]>(["users", "list", "--limit", "1"]),
          db.run(["users", "list", "--email", "nobody@example.com"]),
        ]);
        expect(byEmail.map((u) => u.email)).toEqual(["ada@example.com"]);
        expect(Object.keys(byEmail[0] ?? {}).sort()).toEqual(USER_KEYS);
        expect(byRole.map((u) => u.email)).toEqual([
          "root@example.com",
          "ops-admin@example.com",
        ]);
        expect(limited.map((u) => u.email)).toEqual(["root@example.com"]);
        expect(none).toEqual({ code: 0, stdout: "no users\n", stderr: "" });
        expectFailure(
          await db.run(["users", "list", "--role", "nobody"]),
          1,
          'authctl: role "nobody" is not a known role',
        );
      });

      test("show: by email or id, as a table or JSON; an unknown user is exit 1", async () => {
        const ada = await c.userAdmin.get("ada@example.com");
        const [byEmail, byId, unknown, verbose] = await Promise.all([
          db.run(["users", "show", "ada@example.com"]),
          db.json<UserJson>(["users", "show", ada.id]),
          db.run(["users", "show", "nobody@example.com"]),
          db.run(["users", "show", "nobody@example.com", "--verbose"]),
        ]);
        expect(byEmail.code).toBe(0);
        const [head, row] = byEmail.stdout.trimEnd().split("\n");
        expect(head).toMatch(
          /^ID\s+EMAIL\s+NAME\s+ROLES\s+DISABLED\s+CREATED\s+VERIFIED$/,
        );
        expect(row).toStartWith(
          `${ada.id}  ada@example.com  Ada Lovelace  user,service  false  `,
        );
        expect(byId).toMatchObject({
          id: ada.id,
          email: "ada@example.com",
          roles: ["user", "service"],
        });
        expect(byId).not.toHaveProperty("password_hash");
        expectFailure(unknown, 1, "authctl: no user nobody@example.com");
        // --verbose adds the stack trace for a bug report.
        expect(verbose.code).toBe(1);
        expect(verbose.stderr).toStartWith("authctl: no user nobody@example.com\n");
        expect(verbose.stderr).toMatch(/^\s+at /m);
      });

      test("set-roles replaces the roles, validates them, and is audited", async () => {
        const r = await db.run([
          "users",
          "set-roles",
          "ada@example.com",
          "service",
          "user",
          "service",
        ]);
        const ada = await c.userAdmin.get("ada@example.com");
        expect(r).toEqual({
          code: 0,
          stdout: `set roles service,user for ada@example.com (${ada.id})\n`,
          stderr: "",
        });
        expect(ada.roles).toEqual(["service", "user"]);
        const [event] = await expectAuditedByCli(c, "user.set_roles", ada.id);
        expect(event?.detail).toEqual({
          before: { roles: ["user", "service"] },
          after: { roles: ["service", "user"] },
        });

        expectFailure(
          await db.run(["users", "set-roles", "ada@example.com", "ROOT"]),
          1,
          '"ROOT" is not a known role',
        );
        expectFailure(
          await db.run(["users", "set-roles", "nobody@example.com", "service"]),
          1,
          "no user",
        );
        expect((await c.userAdmin.get("ada@example.com")).roles).toEqual([
          "service",
          "user",
        ]);
      });
    });

    describe("sessions", () => {
      test("list shows a user's live sessions; revoke --id ends just that one", async () => {
        const u = await createUser("sessions@example.com");
        const empty = await db.run(["sessions", "list", "--user", u.email]);
        expect(empty).toEqual({ code: 0, stdout: "no live sessions\n", stderr: "" });

        const first = await loginOk(u.email, GOOD_PASSWORD);
        const second = await loginOk(u.email, GOOD_PASSWORD);
        const live = await c.store.listLiveSessions(u.id, new Date());
        expect(live).toHaveLength(2);

        const table = await db.run(["sessions", "list", "--user", u.email]);
        const lines = table.stdout.trimEnd().split("\n");
        expect(lines[0]).toMatch(
          /^ID\s+CREATED\s+LAST USED\s+EXPIRES\s+IP\s+USER AGENT$/,
        );
        expect(
          lines
            .slice(1)
            .map((l) => l.split(/\s+/)[0])
            .sort(),
        ).toEqual(live.map((s) => s.id).sort());
        const json = await db.json<SessionJson[]>(["sessions", "list", "--user", u.id]);
        expect(json.map((s) => s.id).sort()).toEqual(live.map((s) => s.id).sort());
        expect(Object.keys(json[0] ?? {}).sort()).toEqual([
          "created_at",
          "expires_at",
          "id",
          "ip",
          "last_used_at",
          "revoked_at",
          "user_agent",
          "user_id",
        ]);
        expect(json[0]).toMatchObject({ user_id: u.id, revoked_at: null });

        // Which session does the first token belong to? Its `sid` claim.
        const sid = claimsOf(first.access_token).sid;
        const one = await db.run([
          "sessions",
          "revoke",
          "--user",
          u.email,
          "--id",
          sid,
        ]);
        expect(one).toEqual({ code: 0, stdout: "revoked 1 session(s)\n", stderr: "" });
        expect(await meStatus(first.access_token)).toBe(401);
        expect(await meStatus(second.access_token)).toBe(200);
        const [event] = await expectAuditedByCli(c, "session.revoke", u.id);
        expect(event?.detail).toMatchObject({ session_id: sid, count: 1 });

        expectFailure(
          await db.run(["sessions", "revoke", "--user", u.email, "--id", sid]),
          1,
          `authctl: no live session ${sid}`,
        );
        expect(await db.json(["sessions", "revoke", "--user", u.email])).toEqual({
          revoked: 1,
        });
        expect(await meStatus(second.access_token)).toBe(401);
        expect(await refreshStatus(second.refresh_token)).toBe(401);
        expect(await c.store.listLiveSessions(u.id, new Date())).toEqual([]);
        expectFailure(
          await db.run(["sessions", "list", "--user", "nobody@example.com"]),
          1,
          "no user nobody@example.com",
        );
        expect((await db.run(["sessions", "list"])).code).toBe(2);
      });
    });

    describe("disable, enable, set-password, delete", () => {
      test("disable ends the user's sessions and stops logins; enable lets them back", async () => {
        const u = await createUser("disable-me@example.com");
        const tokens = await loginOk(u.email, GOOD_PASSWORD);
        expect(await meStatus(tokens.access_token)).toBe(200);

        const r = await db.run(["users", "disable", u.email]);
        expect(r).toEqual({
          code: 0,
          stdout: `disabled disable-me@example.com (${u.id})\n`,
          stderr: "",
        });
        expect(await meStatus(tokens.access_token)).toBe(401);
        expect(await refreshStatus(tokens.refresh_token)).toBe(401);
        expect((await login(u.email, GOOD_PASSWORD)).status).toBe(401);
        expect((await c.userAdmin.get(u.id)).disabled).toBe(true);
        const [event] = await expectAuditedByCli(c, "user.disable", u.id);
        expect(event?.detail).toMatchObject({ sessions_ended: 1 });
        const listed = await db.json<UserJson[]>(["users", "list", "--email", u.email]);
        expect(listed.map((x) => x.disabled)).toEqual([true]);

        const enabled = await db.json<UserJson>(["users", "enable", u.id]);
        expect(enabled).toMatchObject({ id: u.id, disabled: false });
        await expectAuditedByCli(c, "user.enable", u.id);
        await loginOk(u.email, GOOD_PASSWORD);
        expectFailure(
          await db.run(["users", "disable", "nobody@example.com"]),
          1,
          "no user",
        );
      });

      test("set-password ends sessions; only the new password works; weak is exit 1", async () => {
        const u = await createUser("set-password@example.com");
        const tokens = await loginOk(u.email, GOOD_PASSWORD);

        const weak = await db.run(
          ["users", "set-password", u.email, "--password-stdin"],
          {
            stdin: "password1\n",
          },
        );
        expectFailure(weak, 1, "authctl: password is one of the most common passwords");
        expect(await meStatus(tokens.access_token)).toBe(200);

        const r = await db.run(["users", "set-password", u.email, "--password-stdin"], {
          stdin: `${OTHER_PASSWORD}\n`,
        });
        expect(r).toEqual({
          code: 0,
          stdout: `set the password of set-password@example.com (${u.id})\n`,
          stderr: "",
        });
        expect(await meStatus(tokens.access_token)).toBe(401);
        expect((await login(u.email, GOOD_PASSWORD)).status).toBe(401);
        await loginOk(u.email, OTHER_PASSWORD);
        const [event] = await expectAuditedByCli(c, "user.set_password", u.id);
        expect(event?.detail).toMatchObject({ sessions_ended: 1 });
        expect(JSON.stringify(event)).not.toContain(OTHER_PASSWORD);

        // No terminal and no password: a usage error, at once.
        expectFailure(
          await db.run(["users", "set-password", u.email]),
          2,
          "no password given",
        );
      });

      test("delete removes the user and their sessions; the audit log keeps the history", async () => {
        const u = await createUser("delete-me@example.com");
        const tokens = await loginOk(u.email, GOOD_PASSWORD);
        const deleted = await db.json(["users", "delete", u.email]);
        expect(deleted).toEqual({ deleted: u.id, email: u.email });
        expect(await meStatus(tokens.access_token)).toBe(401);
        expect(await c.store.findUserById(u.id)).toBeNull();
        const [event] = await expectAuditedByCli(c, "user.delete", u.id);
        expect(event?.detail).toMatchObject({ email: u.email });
        expectFailure(
          await db.run(["users", "delete", u.email]),
          1,
          `no user ${u.email}`,
        );

        const v = await createUser("delete-me-too@example.com");
        expect(await db.run(["users", "delete", v.id])).toEqual({
          code: 0,
          stdout: `deleted delete-me-too@example.com (${v.id})\n`,
          stderr: "",
        });
        expect(await c.store.findUserById(v.id)).toBeNull();
      });
    });
  });
}
