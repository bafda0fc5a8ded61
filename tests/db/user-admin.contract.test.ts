/**
 * The store contract of the changes that must leave an active admin behind
 * (updateUserKeepingAdmin, deleteUserKeepingAdmin), on every dialect, on a
 * database of its own so that the admins counted are exactly these.
 */
import { beforeEach, describe, expect, test } from "bun:test";
import type { GuardedChange, UserRecord } from "../../src/core/ports.ts";
import { DIALECTS } from "../helpers/databases.ts";
import { useMigratedStore } from "../helpers/store.ts";

const T0 = new Date("2026-01-01T00:00:00.000Z");
const T1 = new Date("2026-01-01T00:01:00.000Z");

let seq = 0;
function userRecord(over: Partial<UserRecord> = {}): UserRecord {
  const id = `ua-${String(++seq).padStart(6, "0")}`;
  return {
    id,
    email: `${id}@example.com`,
    emailVerified: false,
    name: null,
    roles: ["user"],
    disabled: false,
    passwordHash: null,
    createdAt: T0,
    updatedAt: T0,
    ...over,
  };
}

const admin = (over: Partial<UserRecord> = {}) =>
  userRecord({ roles: ["admin", "user"], ...over });

for (const dialect of DIALECTS) {
  describe(`User admin store contract [${dialect}]`, () => {
    const { store } = useMigratedStore(dialect);

    /** Every user with the admin role left as a plain user: each test starts with none. */
    async function noAdmins() {
      for (const u of await store.listUsers({ role: "admin", limit: 1000 }))
        await store.updateUser(u.id, { roles: ["user"] }, T0);
    }
    beforeEach(noAdmins);

    const insert = async (...users: UserRecord[]) => {
      for (const u of users) await store.insertUser(u);
      return users;
    };
    const activeAdmins = async () =>
      (await store.listUsers({ role: "admin", disabled: false, limit: 1000 })).map(
        (u) => u.id,
      );

    describe("updateUserKeepingAdmin", () => {
      test("applies the patch, stamps updatedAt, returns before and after", async () => {
        const [u] = await insert(userRecord({ name: "Ada" }));
        if (!u) throw new Error("unreachable");
        const result = await store.updateUserKeepingAdmin(
          u.id,
          { name: "Grace", roles: ["service"], emailVerified: true },
          T1,
        );
        const after = {
          ...u,
          name: "Grace",
          roles: ["service"],
          emailVerified: true,
          updatedAt: T1,
        };
        expect(result).toEqual({ kind: "done", before: u, after });
        expect(await store.findUserById(u.id)).toEqual(after);
      });

      test("an unknown id is not_found", async () => {
        expect(
          await store.updateUserKeepingAdmin("ua-missing", { name: "x" }, T1),
        ).toEqual({ kind: "not_found" });
      });

      test("the last active admin is neither demoted nor disabled; nothing changes", async () => {
        const [only] = await insert(admin());
        if (!only) throw new Error("unreachable");
        for (const patch of [{ roles: ["user"] }, { disabled: true }, { roles: [] }]) {
          expect(await store.updateUserKeepingAdmin(only.id, patch, T1)).toEqual({
            kind: "last_admin",
            before: only,
          });
        }
        expect(await store.findUserById(only.id)).toEqual(only);
        // Changes that keep them an active admin are fine.
        const kept = await store.updateUserKeepingAdmin(
          only.id,
          { name: "Root", roles: ["admin"], disabled: false },
          T1,
        );
        expect(kept.kind).toBe("done");
      });

      test("a disabled admin and a non-admin do not count as the other admin", async () => {
        const [a] = await insert(
          admin(),
          admin({ disabled: true }),
          userRecord({ roles: ["service", "user"] }),
        );
        if (!a) throw new Error("unreachable");
        const r = await store.updateUserKeepingAdmin(a.id, { roles: ["user"] }, T1);
        expect(r.kind).toBe("last_admin");
      });

      test("with another active admin, demoting and disabling succeed", async () => {
        const [a, b] = await insert(admin(), admin());
        if (!a || !b) throw new Error("unreachable");
        const r = await store.updateUserKeepingAdmin(a.id, { disabled: true }, T1);
        expect(r).toMatchObject({ kind: "done", after: { disabled: true } });
        expect(await activeAdmins()).toEqual([b.id]);
        // Enabling a disabled admin again is never refused.
        const back = await store.updateUserKeepingAdmin(a.id, { disabled: false }, T1);
        expect(back.kind).toBe("done");
        expect((await activeAdmins()).sort()).toEqual([a.id, b.id].sort());
      });

      test("a disabled admin can be demoted even when they are the only admin", async () => {
        const [a, off] = await insert(admin(), admin({ disabled: true }));
        if (!a || !off) throw new Error("unreachable");
        const r = await store.updateUserKeepingAdmin(off.id, { roles: ["user"] }, T1);
        expect(r.kind).toBe("done");
        expect(await activeAdmins()).toEqual([a.id]);
      });
    });

    describe("deleteUserKeepingAdmin", () => {
      test("refuses the last active admin and keeps them", async () => {
        const [only] = await insert(admin());
        if (!only) throw new Error("unreachable");
        expect(await store.deleteUserKeepingAdmin(only.id)).toEqual({
          kind: "last_admin",
          before: only,
        });
        expect(await store.findUserById(only.id)).toEqual(only);
      });

      test("deletes an admin while another remains, and any non-admin", async () => {
        const [a, b, plain] = await insert(admin(), admin(), userRecord());
        if (!a || !b || !plain) throw new Error("unreachable");
        expect(await store.deleteUserKeepingAdmin(a.id)).toEqual({
          kind: "done",
          before: a,
          after: null,
        });
        expect((await store.deleteUserKeepingAdmin(plain.id)).kind).toBe("done");
        expect(await store.findUserById(a.id)).toBeNull();
        expect(await activeAdmins()).toEqual([b.id]);
      });
    });

    describe("races", () => {
      // On PostgreSQL these run on separate pooled connections at the same
      // time; on SQLite every transaction is synchronous and IMMEDIATE, so
      // they serialise by construction. Either way: never zero admins.
      test("two admins demoting each other at once: one wins, one is refused", async () => {
        for (let round = 0; round < 15; round++) {
          await noAdmins();
          const [a, b] = await insert(admin(), admin());
          if (!a || !b) throw new Error("unreachable");
          const results: GuardedChange[] = await Promise.all([
            store.updateUserKeepingAdmin(a.id, { roles: ["user"] }, T1),
            store.updateUserKeepingAdmin(b.id, { roles: ["user"] }, T1),
          ]);
          expect(results.map((r) => r.kind).sort()).toEqual(["done", "last_admin"]);
          expect(await activeAdmins()).toHaveLength(1);
        }
      });

      test("a disable, a demotion and a delete of three admins at once leave one", async () => {
        for (let round = 0; round < 10; round++) {
          await noAdmins();
          const [a, b, c] = await insert(admin(), admin(), admin());
          if (!a || !b || !c) throw new Error("unreachable");
          const results = await Promise.all([
            store.updateUserKeepingAdmin(a.id, { disabled: true }, T1),
            store.updateUserKeepingAdmin(b.id, { roles: ["user"] }, T1),
            store.deleteUserKeepingAdmin(c.id),
          ]);
          expect(results.filter((r) => r.kind === "done")).toHaveLength(2);
          expect(results.filter((r) => r.kind === "last_admin")).toHaveLength(1);
          expect(await activeAdmins()).toHaveLength(1);
        }
      });
    });
  });
}
