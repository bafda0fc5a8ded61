/**
 * `authctl audit list|prune` as an operator runs them (output, --json, exit
 * codes, what is left in the database), and the last-admin rule through
 * `authctl users disable|delete|set-roles`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Container } from "../../src/container.ts";
import type { AuditEvent } from "../../src/core/ports.ts";
import { DIALECTS } from "../helpers/databases.ts";
import { GOOD_PASSWORD } from "../helpers/harness.ts";
import {
  type CliDatabase,
  createCliDatabase,
  expectAuditedByCli,
  expectFailure,
} from "./authctl-process.ts";

const DAY = 86_400_000;

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

interface EventJson {
  id: string;
  at: string;
  action: string;
  actor_id: string | null;
  user_id: string | null;
  outcome: string;
  detail: Record<string, unknown> | null;
}

for (const dialect of DIALECTS) {
  describe(`authctl audit [${dialect}]`, () => {
    let db: CliDatabase;
    let c: Container;
    let rootId = "";

    beforeAll(async () => {
      db = await createCliDatabase(dialect);
      expect((await db.run(["migrate", "up"])).code).toBe(0);
      c = await db.container();
      const root = await db.json<{ id: string }>(
        ["admin", "create", "--email", "root@example.com", "--password-stdin"],
        { stdin: `${GOOD_PASSWORD}\n` },
      );
      rootId = root.id;
    });
    afterAll(() => db?.drop());

    const event = (at: Date, over: Partial<AuditEvent> = {}): AuditEvent => ({
      id: Bun.randomUUIDv7(),
      at,
      action: "user.login",
      actorId: null,
      userId: null,
      ip: "192.0.2.1",
      userAgent: null,
      requestId: null,
      outcome: "success",
      detail: null,
      ...over,
    });

    describe("list", () => {
      test("--json: newest first, the HTTP API's event shape", async () => {
        const res = await db.http("POST", "/auth/login", {
          json: { email: "root@example.com", password: "not the password" },
        });
        expect(res.status).toBe(401);
        const events = await db.json<EventJson[]>(["audit", "list"]);
        expect(events.length).toBeGreaterThanOrEqual(2);
        for (const e of events) expect(Object.keys(e).sort()).toEqual(EVENT_KEYS);
        expect(events[0]).toMatchObject({
          action: "user.login",
          user_id: rootId,
          outcome: "failure",
          detail: { reason: "wrong_password" },
        });
        expect(events.map((e) => e.action)).toContain("user.create");
        const times = events.map((e) => e.at);
        expect(times).toEqual([...times].sort().reverse());
        expect(new Date(times[0] ?? "").toISOString()).toBe(times[0] ?? "");
      });

      test("a table by default; filters by --user (email or id), --action, --since, --limit", async () => {
        const table = await db.run(["audit", "list", "--user", "root@example.com"]);
        expect({ code: table.code, stderr: table.stderr }).toEqual({
          code: 0,
          stderr: "",
        });
        const lines = table.stdout.trimEnd().split("\n");
        expect(lines[0]).toMatch(
          /^AT\s+ACTION\s+OUTCOME\s+ACTOR\s+USER\s+IP\s+DETAIL$/,
        );
        expect(lines[1]).toMatch(
          new RegExp(
            `^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\s+user\\.login\\s+failure\\s+-\\s+${rootId}\\s+-\\s+\\{"reason":"wrong_password"\\}$`,
          ),
        );

        const [byId, byAction, limited] = await Promise.all([
          db.json<EventJson[]>(["audit", "list", "--user", rootId]),
          db.json<EventJson[]>(["audit", "list", "--action", "user.create"]),
          db.json<EventJson[]>(["audit", "list", "--limit", "1"]),
        ]);
        expect(byId.map((e) => e.action)).toEqual(["user.login", "user.create"]);
        expect(byAction).toHaveLength(1);
        expect(byAction[0]).toMatchObject({ actor_id: "cli", user_id: rootId });
        expect(limited).toHaveLength(1);

        // --since: old events (written with old timestamps) are left out.
        await c.store.appendAudits([
          event(new Date(Date.now() - 3 * DAY), { action: "test.old" }),
        ]);
        const [day, week, iso] = await Promise.all([
          db.json<EventJson[]>([
            "audit",
            "list",
            "--since",
            "24h",
            "--action",
            "test.old",
          ]),
          db.json<EventJson[]>([
            "audit",
            "list",
            "--since",
            "7d",
            "--action",
            "test.old",
          ]),
          db.json<EventJson[]>([
            "audit",
            "list",
            "--since",
            new Date(Date.now() - 4 * DAY).toISOString(),
            "--action",
            "test.old",
          ]),
        ]);
        expect([day.length, week.length, iso.length]).toEqual([0, 1, 1]);
        expect(await db.run(["audit", "list", "--action", "nothing.here"])).toEqual({
          code: 0,
          stdout: "no audit events\n",
          stderr: "",
        });
      });

      test("a deleted user's history is still found by id", async () => {
        const u = await db.json<{ id: string }>([
          "users",
          "create",
          "--email",
          "gone@example.com",
        ]);
        expect((await db.run(["users", "delete", u.id])).code).toBe(0);
        const history = await db.json<EventJson[]>(["audit", "list", "--user", u.id]);
        expect(history.map((e) => e.action)).toEqual(["user.delete", "user.create"]);
        expectFailure(
          await db.run(["audit", "list", "--user", "gone@example.com"]),
          1,
          "authctl: no user gone@example.com",
        );
      });

      test("a bad --since or --limit is a usage error (exit 2)", async () => {
        for (const args of [
          ["--since", "yesterday"],
          ["--since", "2026-02-31"],
          ["--since", "24"],
          ["--limit", "0"],
        ]) {
          const r = await db.run(["audit", "list", ...args]);
          expectFailure(r, 2, /--since|--limit/);
        }
      });
    });

    describe("prune", () => {
      test("deletes what is older than AUDIT_RETENTION_DAYS, says how many, and is audited", async () => {
        const now = Date.now();
        const old = [400, 500, 3000].map((d) =>
          event(new Date(now - d * DAY), { action: "test.ancient" }),
        );
        const kept = event(new Date(now - 100 * DAY), { action: "test.recent" });
        for (const e of [...old, kept]) await c.store.appendAudits([e]);

        const r = await db.run(["audit", "prune"]);
        expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
        expect(r.stdout).toMatch(
          /^deleted 3 audit event\(s\) older than \d{4}-\d\d-\d\dT[\d:.]+Z \(AUDIT_RETENTION_DAYS=365\)\n$/,
        );
        const left = await c.store.listAudit({ limit: 10_000 });
        expect(left.filter((e) => e.action === "test.ancient")).toEqual([]);
        expect(left.map((e) => e.id)).toContain(kept.id);
        const [pruned] = await expectAuditedByCli(c, "audit.prune");
        expect(pruned?.detail).toMatchObject({ deleted: 3, retention_days: 365 });

        // A shorter retention, and --json.
        const json = await db.json<{
          deleted: number;
          before: string;
          retention_days: number;
        }>(["audit", "prune"], { env: { AUDIT_RETENTION_DAYS: "30" } });
        expect(json.deleted).toBe(1);
        expect(json.retention_days).toBe(30);
        expect(
          Math.abs(new Date(json.before).getTime() - (Date.now() - 30 * DAY)),
        ).toBeLessThan(10 * 60_000);
        expect(await c.store.listAudit({ action: "test.recent", limit: 5 })).toEqual(
          [],
        );
        // Nothing left to prune: 0, and still exit 0.
        expect((await db.json<{ deleted: number }>(["audit", "prune"])).deleted).toBe(
          0,
        );
      });
    });

    describe("the last admin, through authctl", () => {
      test("disable, delete and set-roles of the only admin are refused (exit 1); nothing changes", async () => {
        for (const args of [
          ["users", "disable", "root@example.com"],
          ["users", "delete", "root@example.com"],
          ["users", "set-roles", "root@example.com", "user"],
        ]) {
          expectFailure(
            await db.run(args),
            1,
            "authctl: this would leave no active admin; give another user the admin role first",
          );
        }
        expect(await c.userAdmin.get(rootId)).toMatchObject({
          roles: ["admin", "user"],
          disabled: false,
        });
        const refused = (await c.store.listAudit({ userId: rootId, limit: 50 })).filter(
          (e) => e.outcome === "failure" && e.actorId === "cli",
        );
        expect(refused.map((e) => e.action).sort()).toEqual([
          "user.delete",
          "user.disable",
          "user.set_roles",
        ]);
        for (const e of refused)
          expect(e.detail).toMatchObject({ reason: "last_admin" });
      });

      test("two operators demoting two admins at once leave exactly one", async () => {
        const second = await db.json<{ id: string }>(
          ["admin", "create", "--email", "second@example.com", "--password-stdin"],
          { stdin: `${GOOD_PASSWORD}\n` },
        );
        const [a, b] = await Promise.all([
          db.run(["users", "set-roles", "root@example.com", "user"]),
          db.run(["users", "set-roles", second.id, "user"]),
        ]);
        expect([a.code, b.code].sort()).toEqual([0, 1]);
        expect([a.stderr, b.stderr].join("")).toContain("no active admin");
        const admins = (await c.userAdmin.list({ role: "admin", limit: 10 })).items;
        expect(admins).toHaveLength(1);
      });
    });
  });
}
