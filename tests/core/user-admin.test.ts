/**
 * The operator's user management (src/core/users.ts), in process on each
 * dialect: what `authctl users …` and `authctl sessions …` call. The CLI
 * suites run the same code as separate processes; here every refusal and
 * every effect is checked against the database directly, with the fake clock.
 */
import { describe, expect, test } from "bun:test";
import { DIALECTS } from "../helpers/databases.ts";
import {
  GOOD_PASSWORD,
  registerUser,
  uniqueEmail,
  useTestApp,
} from "../helpers/harness.ts";
import { auditOf, CLI, liveSessionIds, loginOk } from "../helpers/http.ts";

const BCRYPT = "$2b$04$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234";

for (const dialect of DIALECTS) {
  describe(`user admin [${dialect}]`, () => {
    const app = useTestApp(dialect);
    const admin = () => app.container.userAdmin;
    const stored = (email: string) => app.container.store.findUserByEmail(email);

    test("create refuses a bad email, a bad role, both a password and a hash, a foreign hash, a weak password", async () => {
      const email = uniqueEmail("refused");
      const refusals: [Parameters<ReturnType<typeof admin>["create"]>[0], string][] = [
        [{ email: "not-an-email" }, "/email"],
        [{ email, roles: ["Admin!"] }, "/roles"],
        [{ email, password: GOOD_PASSWORD, passwordHash: BCRYPT }, "/password_hash"],
        [{ email, passwordHash: "$1$md5crypt$abc" }, "/password_hash"],
        [{ email, password: "password1" }, "/password"],
      ];
      for (const [input, path] of refusals) {
        const error = await admin()
          .create(input, CLI)
          .then(
            () => null,
            (e: unknown) => e,
          );
        expect({ path, error }).toMatchObject({
          path,
          error: {
            code: "validation_failed",
            errors: [expect.objectContaining({ path })],
          },
        });
      }
      expect(await stored(email)).toBeNull();
      expect(await app.container.store.listUsers({ email, limit: 5 })).toEqual([]);
    });

    test("create with a password, with an imported hash, and with neither", async () => {
      const withPassword = await admin().create(
        {
          email: uniqueEmail("pw"),
          password: GOOD_PASSWORD,
          roles: ["service", "service"],
        },
        CLI,
      );
      expect(withPassword.roles).toEqual(["service"]);
      await loginOk(app, withPassword.email, GOOD_PASSWORD);

      const imported = await admin().create(
        { email: uniqueEmail("hash"), passwordHash: BCRYPT },
        CLI,
      );
      expect((await stored(imported.email))?.passwordHash).toBe(BCRYPT);

      const none = await admin().create({ email: uniqueEmail("none") }, CLI);
      expect((await stored(none.email))?.passwordHash).toBeNull();
      expect(none.roles).toEqual(["user"]);
      const [event] = await auditOf(app, "user.create", none.id);
      expect(event).toMatchObject({ actorId: "cli", detail: { roles: ["user"] } });
    });

    test("get and every change refuse an unknown user with not_found", async () => {
      const nobody = uniqueEmail("nobody");
      const calls = [
        () => admin().get(nobody),
        () => admin().get("0192f4c8-0000-7000-8000-000000000000"),
        () => admin().setDisabled(nobody, true, CLI),
        () => admin().setPassword(nobody, GOOD_PASSWORD, CLI),
        () => admin().setRoles(nobody, ["user"], CLI),
        () => admin().delete(nobody, CLI),
        () => admin().listSessions(nobody),
        () => admin().revokeSessions(nobody, CLI),
      ];
      for (const call of calls) {
        await expect(call()).rejects.toMatchObject({ code: "not_found" });
      }
    });

    test("setPassword holds the policy, then ends every session", async () => {
      const reg = await registerUser(app);
      await expect(
        admin().setPassword(reg.email, reg.email, CLI),
      ).rejects.toMatchObject({
        code: "validation_failed",
      });
      expect(await liveSessionIds(app, reg.user.id)).toHaveLength(1);
      await admin().setPassword(reg.email, "a wholly new passphrase", CLI);
      expect(await liveSessionIds(app, reg.user.id)).toEqual([]);
      await loginOk(app, reg.email, "a wholly new passphrase");
      const [event] = await auditOf(app, "user.set_password", reg.user.id);
      expect(event?.detail).toEqual({ sessions_ended: 1 });
    });

    test("setRoles refuses a bad role name and changes nothing", async () => {
      const reg = await registerUser(app);
      // setRoles throws before it awaits: run it as callers do, inside an await.
      await expect(
        (async () => admin().setRoles(reg.email, ["user", "ops"], CLI))(),
      ).rejects.toMatchObject({ code: "validation_failed" });
      expect((await stored(reg.email))?.roles).toEqual(["user"]);
      expect(
        (await admin().setRoles(reg.user.id, ["service", "user", "service"], CLI))
          .roles,
      ).toEqual(["service", "user"]);
    });

    test("list pages with a cursor", async () => {
      // A prefix no other test's email has: the three users below, only.
      const q = `page${Date.now().toString(36)}x`;
      const made = [];
      for (let i = 0; i < 3; i++)
        made.push(await admin().create({ email: `${q}${i}@example.com` }, CLI));
      const first = await admin().list({ q, limit: 2 });
      expect(first.items.map((u) => u.id)).toEqual(made.slice(0, 2).map((u) => u.id));
      expect(first.next).toBe(made[1]?.id ?? "missing");
      const second = await admin().list({
        q,
        limit: 2,
        after: first.next ?? "",
      });
      expect(second).toEqual({ items: made.slice(2), next: null });
    });

    test("sessions: list, revoke one (not_found once it is gone), revoke the rest", async () => {
      const reg = await registerUser(app);
      const other = await loginOk(app, reg.email, reg.password);
      const third = await loginOk(app, reg.email, reg.password);
      const listed = await admin().listSessions(reg.email);
      expect(listed.map((s) => s.id).sort()).toEqual(
        (await liveSessionIds(app, reg.user.id)).sort(),
      );
      expect(listed).toHaveLength(3);

      const sid = listed[0]?.id ?? "missing";
      expect(await admin().revokeSessions(reg.email, CLI, sid)).toBe(1);
      await expect(admin().revokeSessions(reg.email, CLI, sid)).rejects.toMatchObject({
        code: "not_found",
      });
      expect(await liveSessionIds(app, reg.user.id)).toHaveLength(2);
      expect(await admin().revokeSessions(reg.user.id, CLI)).toBe(2);
      expect(await liveSessionIds(app, reg.user.id)).toEqual([]);
      const events = await auditOf(app, "session.revoke", reg.user.id);
      expect(events.map((e) => e.detail)).toEqual([
        { session_id: "all", count: 2 },
        { session_id: sid, count: 1 },
      ]);
      expect([other, third]).toHaveLength(2);
    });

    test("import: one bad line blocks all; then created and skipped, audited once", async () => {
      const existing = await admin().create({ email: uniqueEmail("exists") }, CLI);
      const fresh = uniqueEmail("fresh");
      const progress: [number, number][] = [];
      const bad = await admin().import(
        [
          { line: 1, input: { email: fresh } },
          { line: 2, input: { email: "broken" } },
          { line: 3, input: { email: fresh.toUpperCase() } },
        ],
        CLI,
        {
          unparsable: [{ line: 4, reason: "not JSON" }],
          onProgress: (done, total) => progress.push([done, total]),
        },
      );
      expect(bad.created).toEqual([]);
      expect(bad.rejected).toEqual([
        { line: 2, reason: "email must be an email address" },
        { line: 3, reason: `duplicate of an earlier line (${fresh})` },
        { line: 4, reason: "not JSON" },
      ]);
      expect(progress).toEqual([
        [0, 3],
        [1, 3],
        [2, 3],
        [3, 3],
      ]);
      expect(await stored(fresh)).toBeNull();

      const good = await admin().import(
        [
          { line: 1, input: { email: fresh, passwordHash: BCRYPT } },
          { line: 2, input: { email: existing.email } },
        ],
        CLI,
      );
      expect(good).toEqual({
        created: [fresh],
        skipped: [existing.email],
        rejected: [],
      });
      expect((await stored(fresh))?.passwordHash).toBe(BCRYPT);
      const [event] = await auditOf(app, "user.import");
      expect(event?.detail).toEqual({ created: 1, skipped: 1 });
    });
  });
}
