/**
 * GET /users: the filters, the paging rules of the contract (limit 50 by
 * default, at most 200, opaque cursors, 422 for a bad one), and a walk over
 * 1,000 users while another task inserts and deletes.
 */
import { describe, expect, test } from "bun:test";
import { createUserRecord } from "../../src/core/users.ts";
import {
  jsonOf,
  listUsers,
  type Page,
  signedInAdmin,
  type UserBody,
} from "../helpers/admin.ts";
import { DIALECTS } from "../helpers/databases.ts";
import { GOOD_PASSWORD, useTestApp } from "../helpers/harness.ts";
import { expectProblem, expectValidation } from "../helpers/http.ts";

for (const dialect of DIALECTS) {
  describe(`GET /users filters [${dialect}]`, () => {
    const app = useTestApp(dialect);
    const tag = `flt${Date.now().toString(36)}`;
    const people: Record<string, string> = {};

    const create = async (
      key: string,
      input: { email: string; name?: string; roles?: string[] },
    ) => {
      const u = await app.container.userAdmin.create(input, { actorId: "cli" });
      people[key] = u.id;
      return u;
    };

    const emails = async (token: string, query: string) =>
      (await jsonOf<Page<UserBody>>(await listUsers(app, token, query))).items.map(
        (u) => u.email,
      );

    test("email= is exact after normalisation; q= is a prefix of email or name, any case", async () => {
      const admin = await signedInAdmin(app, `${tag}-root@example.com`);
      await create("ada", { email: ` Ada.${tag}@Example.COM `, name: "Ada Lovelace" });
      await create("adam", { email: `adam.${tag}@example.com`, name: "Adam Smith" });
      await create("grace", {
        email: `grace.${tag}@example.org`,
        name: "Grace Hopper",
        roles: ["user", "service"],
      });
      const t = admin.access_token;
      const ada = `ada.${tag}@example.com`;

      for (const query of [ada, ada.toUpperCase(), ` Ada.${tag}@EXAMPLE.com `]) {
        expect(await emails(t, `email=${encodeURIComponent(query)}`)).toEqual([ada]);
      }
      expect(await emails(t, `email=ada.${tag}`)).toEqual([]);
      expect(
        await emails(t, `email=${encodeURIComponent(`da.${tag}@example.com`)}`),
      ).toEqual([]);

      expect(await emails(t, `q=ADA.${tag}`)).toEqual([ada]);
      expect(await emails(t, `q=ada`)).toEqual([ada, `adam.${tag}@example.com`]);
      expect(await emails(t, "q=ada%20love")).toEqual([ada]);
      expect(await emails(t, "q=GRACE%20H")).toEqual([`grace.${tag}@example.org`]);
      // A prefix, not a substring.
      expect(await emails(t, "q=lovelace")).toEqual([]);
      expect(await emails(t, `q=${tag}`)).toEqual([`${tag}-root@example.com`]);
      // Wildcards are literal.
      expect(await emails(t, "q=%25")).toEqual([]);
      expect(await emails(t, "q=_")).toEqual([]);
    });

    test("role= and disabled= filter, alone and with q", async () => {
      const admin = await signedInAdmin(app);
      const t = admin.access_token;
      await app.container.userAdmin.setDisabled(people.adam ?? "", true, {
        actorId: "cli",
      });
      expect(await emails(t, `q=grace.${tag}&role=service`)).toEqual([
        `grace.${tag}@example.org`,
      ]);
      expect(await emails(t, `q=ada&role=service`)).toEqual([]);
      expect(await emails(t, "q=ada&disabled=true")).toEqual([
        `adam.${tag}@example.com`,
      ]);
      expect(await emails(t, "q=ada&disabled=false")).toEqual([
        `ada.${tag}@example.com`,
      ]);
      const admins = await emails(t, "role=admin");
      expect(admins).toContain(admin.email);
      expect(admins).not.toContain(`ada.${tag}@example.com`);
    });

    test("bad parameters are 422 naming the parameter", async () => {
      const admin = await signedInAdmin(app);
      const t = admin.access_token;
      for (const [query, path] of [
        ["limit=0", "/query/limit"],
        ["limit=-1", "/query/limit"],
        ["limit=abc", "/query/limit"],
        ["limit=2.5", "/query/limit"],
        ["disabled=maybe", "/query/disabled"],
        ["role=superuser", "/query/role"],
        ["role=Admin", "/query/role"],
        ["rol=admin", "/query/rol"],
        ["cursor=!!!", "/query/cursor"],
        ["cursor=abc", "/query/cursor"],
        ["q=a%00b", "/query/q"],
      ]) {
        await expectValidation(await listUsers(app, t, query ?? ""), path ?? "");
      }
    });

    test("a cursor from another list, edited, or from another version is 422", async () => {
      const admin = await signedInAdmin(app);
      const t = admin.access_token;
      const audit = await jsonOf<Page<unknown>>(
        await app.request("GET", "/audit?limit=1", { token: t }),
      );
      expect(audit.next_cursor).not.toBeNull();
      const page = await jsonOf<Page<UserBody>>(await listUsers(app, t, "limit=1"));
      const cursor = page.next_cursor ?? "";
      const decoded = JSON.parse(Buffer.from(cursor, "base64url").toString());
      const forge = (v: unknown) =>
        Buffer.from(JSON.stringify(v)).toString("base64url");
      for (const bad of [
        audit.next_cursor ?? "",
        forge({ ...decoded, v: 2 }),
        forge({ ...decoded, id: "x' or 1=1 --" }),
        forge({ ...decoded, id: 7 }),
        cursor.slice(0, -4),
      ]) {
        const body = await expectValidation(
          await listUsers(app, t, `limit=1&cursor=${bad}`),
          "/query/cursor",
        );
        expect(body.errors?.[0]?.message).toBe(
          "is not a cursor of this list; start again without one",
        );
      }
      // The genuine one works.
      expect((await listUsers(app, t, `limit=1&cursor=${cursor}`)).status).toBe(200);
    });
  });

  describe(`GET /users paging over 1,000 users [${dialect}]`, () => {
    const app = useTestApp(dialect);
    let token = "";
    let initial: string[] = [];
    let bulk: string[] = [];

    test("setup: 1,000 users", async () => {
      const admin = await signedInAdmin(app);
      token = admin.access_token;
      const now = app.clock.now();
      const records = Array.from({ length: 1000 }, (_, i) =>
        createUserRecord(
          { email: `bulk-${String(i).padStart(4, "0")}@example.com` },
          null,
          Bun.randomUUIDv7(),
          now,
        ),
      );
      expect(await app.container.store.insertUsersIfAbsent(records)).toHaveLength(1000);
      bulk = records.map((r) => r.id);
      initial = (await app.container.store.listUsers({ limit: 10_000 })).map(
        (u) => u.id,
      );
      expect(initial).toHaveLength(1001);
    });

    test("limit: 50 by default, more than 200 counts as 200; the last page has no cursor", async () => {
      const first = await jsonOf<Page<UserBody>>(await listUsers(app, token));
      expect(first.items).toHaveLength(50);
      expect(first.items.map((u) => u.id)).toEqual(initial.slice(0, 50));
      expect(typeof first.next_cursor).toBe("string");
      const capped = await jsonOf<Page<UserBody>>(
        await listUsers(app, token, "limit=500"),
      );
      expect(capped.items).toHaveLength(200);
      const all = await jsonOf<Page<UserBody>>(
        await listUsers(app, token, `limit=200&q=bulk-09`),
      );
      expect(all.items).toHaveLength(100);
      expect(all.next_cursor).toBeNull();
      // A page that is exactly full and last: no cursor to an empty page.
      const exact = await jsonOf<Page<UserBody>>(
        await listUsers(app, token, `limit=100&q=bulk-09`),
      );
      expect(exact.items).toHaveLength(100);
      expect(exact.next_cursor).toBeNull();
    });

    test("a walk while another task inserts and deletes: no duplicates, nothing skipped", async () => {
      const deleted = new Set<string>();
      const inserted: string[] = [];
      const seen: string[] = [];
      const seenSet = new Set<string>();
      let pages = 0;
      let walking = true;
      // Mutations finished while the walk was between its first and last page.
      let duringWalk = 0;
      // The walk waits for a mutation after each page (an event, not a
      // delay), so however fast either side is, every gap sees a change;
      // the churn never waits, so changes also land while a page is read.
      let mutated: () => void = () => {};
      const nextMutation = () =>
        new Promise<void>((resolve) => {
          mutated = resolve;
        });

      async function walk() {
        let cursor: string | null = null;
        do {
          const waiter = nextMutation();
          const query: string = cursor ? `limit=37&cursor=${cursor}` : "limit=37";
          const body: Page<UserBody> = await jsonOf(await listUsers(app, token, query));
          for (const u of body.items) {
            seen.push(u.id);
            seenSet.add(u.id);
          }
          cursor = body.next_cursor;
          pages++;
          if (cursor) await waiter;
        } while (cursor);
        walking = false;
      }

      async function churn() {
        let i = 0;
        while (walking) {
          i++;
          const res = await app.request("POST", "/users", {
            token,
            json: { email: `churn-${i}@example.com`, password: GOOD_PASSWORD },
          });
          inserted.push((await jsonOf<UserBody>(res, 201)).id);
          // Alternately a user the walk has passed (the cursor's own row
          // when it can) and one it has not reached yet.
          const last = seen.at(-1) ?? "";
          const target =
            i % 2 === 0
              ? [...seen].reverse().find((id) => bulk.includes(id) && !deleted.has(id))
              : bulk.find((id) => !deleted.has(id) && !seenSet.has(id) && id > last);
          if (target) {
            const del = await app.request("DELETE", `/users/${target}`, { token });
            expect(del.status).toBe(204);
            deleted.add(target);
          }
          if (pages > 0 && walking) duringWalk++;
          mutated();
        }
      }

      await Promise.all([walk(), churn()]);

      expect(new Set(seen).size).toBe(seen.length);
      const missing = initial.filter((id) => !deleted.has(id) && !seen.includes(id));
      expect(missing).toEqual([]);
      const known = new Set([...initial, ...inserted]);
      expect(seen.filter((id) => !known.has(id))).toEqual([]);
      // Keyset order: ascending ids, oldest first.
      expect(seen).toEqual([...seen].sort());
      // The walk really was disturbed, behind and ahead of the cursor.
      expect(pages).toBeGreaterThanOrEqual(27);
      expect(duringWalk).toBeGreaterThanOrEqual(pages - 1);
      expect([...deleted].filter((id) => seenSet.has(id)).length).toBeGreaterThan(5);
      expect([...deleted].filter((id) => !seenSet.has(id)).length).toBeGreaterThan(5);
    });

    test("403 for a non-admin, whatever the query", async () => {
      const user = await app.request("POST", "/auth/register", {
        json: { email: "plain@example.com", password: GOOD_PASSWORD },
      });
      const { access_token } = await jsonOf<{ access_token: string }>(user, 201);
      await expectProblem(
        await listUsers(app, access_token, "limit=1"),
        403,
        "forbidden",
      );
      await expectProblem(
        await listUsers(app, access_token, "cursor=garbage"),
        403,
        "forbidden",
      );
    });
  });
}
