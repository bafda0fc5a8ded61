/**
 * `authctl keys list|rotate|prune` and `authctl doctor`: the key lifecycle
 * next → current → retired → pruned as the operator drives it, what the
 * database and the JWKS hold after each step, and doctor's one line per check.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { createKeyManager } from "../../src/core/keys.ts";
import { LEEWAY_SECONDS } from "../../src/infra/jwt.ts";
import { resolveKeyEncryptionKey } from "../../src/infra/key-encryption-key.ts";
import { createKeyFactory } from "../../src/infra/signing-keys.ts";
import { DIALECTS } from "../helpers/databases.ts";
import { GOOD_PASSWORD } from "../helpers/harness.ts";
import { kidOf } from "../helpers/jwt.ts";
import {
  expectAuditedByCli,
  expectFailure,
  useCliDatabase,
} from "./authctl-process.ts";

// Every test runs authctl processes, on a busy 2-core machine: generous.
setDefaultTimeout(120_000);

interface KeyJson {
  kid: string;
  alg: string;
  state: "next" | "current" | "retired";
  created_at: string;
  activated_at: string | null;
  retired_at: string | null;
  prunable_at: string | null;
}

interface DoctorJson {
  ok: boolean;
  checks: { check: string; ok: boolean; detail: string }[];
}

/**
 * The default ACCESS_TOKEN_TTL, the verification leeway, and the default
 * KEY_REFRESH_INTERVAL (a daemon signs with a retired key until it reloads).
 */
const RETENTION_MS = (900 + LEEWAY_SECONDS + 10) * 1000;

const byState = (keys: KeyJson[]) =>
  Object.fromEntries(
    (["next", "current", "retired"] as const).map((s) => [
      s,
      keys.filter((k) => k.state === s).map((k) => k.kid),
    ]),
  );

for (const dialect of DIALECTS) {
  describe(`authctl keys and doctor [${dialect}]`, () => {
    const { db, c } = useCliDatabase(dialect);
    let first: { current: string; next: string };
    let rotated: { current: string; next: string; retired: string };

    const keys = () => db.json<KeyJson[]>(["keys", "list"]);
    const jwksKids = async () => {
      const res = await db.http("GET", "/.well-known/jwks.json");
      return ((await res.json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    };

    test("before any key exists: list says so, doctor fails the signing-keys check", async () => {
      const list = await db.run(["keys", "list"]);
      expect(list).toEqual({
        code: 0,
        stdout:
          "no keys yet: the daemon creates them on first start (or run `authctl keys rotate`)\n",
        stderr: "",
      });
      expect(await keys()).toEqual([]);
      const doctor = await db.run(["doctor"]);
      expect(doctor.code).toBe(1);
      expect(doctor.stdout).toMatch(/^FAIL\s+signing keys\s+missing: /m);
    });

    test("rotate on an empty key store creates a current and a next key", async () => {
      const r = await db.run(["keys", "rotate"]);
      expect(r).toEqual({
        code: 0,
        stdout: "there were no keys: created a current and a next key\n",
        stderr: "",
      });
      const list = await keys();
      expect(list).toHaveLength(2);
      expect(Object.keys(list[0] ?? {}).sort()).toEqual([
        "activated_at",
        "alg",
        "created_at",
        "kid",
        "prunable_at",
        "retired_at",
        "state",
      ]);
      const states = byState(list);
      expect(states.retired).toEqual([]);
      first = { current: states.current?.[0] ?? "", next: states.next?.[0] ?? "" };
      expect(list.find((k) => k.kid === first.current)).toMatchObject({
        alg: "EdDSA",
        activated_at: expect.any(String),
        retired_at: null,
        prunable_at: null,
      });
      expect(list.find((k) => k.kid === first.next)?.activated_at).toBeNull();
      const [event] = await expectAuditedByCli(c, "key.create");
      expect(event?.detail).toEqual({ current: first.current, next: first.next });

      const table = (await db.run(["keys", "list"])).stdout.trimEnd().split("\n");
      expect(table[0]).toMatch(/^KID\s+ALG\s+STATE\s+CREATED\s+ACTIVATED\s+RETIRED$/);
      expect(
        table
          .slice(1)
          .map((l) => l.split(/\s+/).slice(0, 3).join(" "))
          .sort(),
      ).toEqual([`${first.current} EdDSA current`, `${first.next} EdDSA next`].sort());
    });

    test("rotate refuses sooner than JWKS_MAX_AGE after the next key appeared", async () => {
      const r = await db.run(["keys", "rotate"]);
      expectFailure(
        r,
        1,
        /^authctl: the next key was published \d+ s ago; verifiers may not know it for 70 s \(JWKS_MAX_AGE \+ KEY_REFRESH_INTERVAL\), so rotate again later or use --force\n$/,
      );
      expect(byState(await keys())).toEqual({
        next: [first.next],
        current: [first.current],
        retired: [],
      });
    });

    test("rotate --force: next signs, current retires, a new next is published", async () => {
      // A client holds a token signed by the current key before the rotation.
      const reg = await db.http("POST", "/auth/register", {
        json: { email: "holder@example.com", password: GOOD_PASSWORD },
      });
      expect(reg.status).toBe(201);
      const before = ((await reg.json()) as { access_token: string }).access_token;
      expect(kidOf(before)).toBe(first.current);
      expect((await jwksKids()).sort()).toEqual([first.current, first.next].sort());

      const out = await db.json<{ created: boolean; current: string; next: string }>([
        "keys",
        "rotate",
        "--force",
      ]);
      expect(out.created).toBe(false);
      expect(out.current).toBe(first.next);
      expect([first.current, first.next]).not.toContain(out.next);
      rotated = { current: out.current, next: out.next, retired: first.current };

      const list = await keys();
      expect(byState(list)).toEqual({
        next: [rotated.next],
        current: [rotated.current],
        retired: [rotated.retired],
      });
      const retired = list.find((k) => k.kid === rotated.retired);
      const retiredAt = new Date(retired?.retired_at ?? 0).getTime();
      expect(new Date(retired?.prunable_at ?? 0).getTime()).toBe(
        retiredAt + RETENTION_MS,
      );
      const [event] = await expectAuditedByCli(c, "key.rotate");
      expect(event?.detail).toEqual({ current: rotated.current, next: rotated.next });

      // A daemon that reloads its keys signs with the new key and still
      // accepts the old token: the retired key stays published.
      await c.keyring.refresh();
      expect((await jwksKids()).sort()).toEqual(Object.values(rotated).sort());
      expect((await db.http("GET", "/users/me", { token: before })).status).toBe(200);
      const login = await db.http("POST", "/auth/login", {
        json: { email: "holder@example.com", password: GOOD_PASSWORD },
      });
      const after = ((await login.json()) as { access_token: string }).access_token;
      expect(kidOf(after)).toBe(rotated.current);

      const again = await db.run(["keys", "rotate", "--force"]);
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(
        new RegExp(
          `^rotated: ${rotated.next} now signs; \\S+ is published as next\\n$`,
        ),
      );
      const twice = byState(await keys());
      expect(twice.current).toEqual([rotated.next]);
      expect(twice.retired?.sort()).toEqual([rotated.retired, rotated.current].sort());
    });

    test("two rotations at once: one wins, the other changes nothing and says so", async () => {
      // Two key managers on one database stand for two operators (or two hosts'
      // crons). Without a check, the second would promote the next key the
      // first had just published, which no verifier could have seen yet.
      // The overlap is forced, not hoped for: each manager reads the keys from
      // the real store, then waits until both have read before going on.
      const both = Promise.withResolvers<void>();
      let reads = 0;
      const overlapping = () =>
        createKeyManager({
          keys: {
            ...c.store,
            async listKeys() {
              const keys = await c.store.listKeys();
              if (++reads === 2) both.resolve();
              await both.promise;
              return keys;
            },
          },
          factory: createKeyFactory(
            resolveKeyEncryptionKey(c.config.KEY_ENCRYPTION_KEY, c.config.sqlitePath),
          ),
          clock: c.clock,
          audit: c.store,
          newId: () => Bun.randomUUIDv7(),
          alg: c.config.SIGNING_ALG,
          retentionSeconds: RETENTION_MS / 1000,
          minRotationSeconds: 70,
        });
      const before = byState(await keys());
      const results = await Promise.allSettled([
        overlapping().rotate({ actorId: "cli" }, true),
        overlapping().rotate({ actorId: "cli" }, true),
      ]);
      const won = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
      const lost = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
      expect(won).toHaveLength(1);
      expect(lost).toEqual([
        expect.objectContaining({
          code: "conflict",
          message: expect.stringContaining("another rotation changed the signing keys"),
        }),
      ]);
      const [winner] = won;
      expect(winner?.current).toBe(before.next?.[0] ?? "missing");
      const after = byState(await keys());
      expect({
        next: after.next,
        current: after.current,
        retired: after.retired?.sort(),
      }).toEqual({
        next: [winner?.next ?? "missing"],
        current: [winner?.current ?? "missing"],
        retired: [...(before.retired ?? []), ...(before.current ?? [])].sort(),
      });
      // The loser wrote nothing, not even an audit event.
      const rotations = await c.store.listAudit({ action: "key.rotate", limit: 50 });
      expect(rotations.filter((e) => e.detail?.next === winner?.next)).toHaveLength(1);
    });

    test("prune, run by the CLI at each retention boundary: kept one second before, deleted at it", async () => {
      const retired = (await keys()).filter((k) => k.state === "retired");
      expect(retired.length).toBeGreaterThanOrEqual(3);
      // Each retired key may go RETENTION_MS after it retired, not sooner, not later.
      const due = retired.map((k) => ({
        kid: k.kid,
        at: new Date(k.retired_at ?? "").getTime() + RETENTION_MS,
      }));
      for (const k of retired) {
        expect(new Date(k.prunable_at ?? "").getTime()).toBe(
          new Date(k.retired_at ?? "").getTime() + RETENTION_MS,
        );
      }
      const before = await keys();
      const first = Math.min(...due.map((d) => d.at));
      const last = Math.max(...due.map((d) => d.at));
      const dueBy = (t: number, after = -Infinity) =>
        due
          .filter((d) => d.at > after && d.at <= t)
          .map((d) => d.kid)
          .sort();
      const pruneAt = async (t: number) =>
        (
          await db.json<{ pruned: string[] }>(["keys", "prune"], { now: new Date(t) })
        ).pruned.sort();

      // Both sides of the first and of the last boundary.
      expect(await pruneAt(first - 1000)).toEqual([]);
      expect(await pruneAt(first)).toEqual(dueBy(first));
      expect(dueBy(first).length).toBeGreaterThan(0);
      expect(await pruneAt(last - 1000)).toEqual(dueBy(last - 1000, first));
      // Still stored: every key not due by either earlier prune.
      const pruned = Math.max(first, last - 1000);
      const listed = (await keys()).map((k) => k.kid);
      expect(listed.filter((k) => due.some((d) => d.kid === k)).sort()).toEqual(
        dueBy(last, pruned),
      );
      expect(await pruneAt(last)).toEqual(dueBy(last, pruned));

      // Every retired key is gone; current and next were never touched.
      const after = await keys();
      expect(byState(after)).toEqual({ ...byState(before), retired: [] });
      const events = await c.store.listAudit({ action: "key.prune", limit: 20 });
      expect(events.flatMap((e) => (e.detail?.kids as string[]) ?? []).sort()).toEqual(
        due.map((d) => d.kid).sort(),
      );
      expect(new Set(events.map((e) => e.actorId))).toEqual(new Set(["cli"]));
      const text = await db.run(["keys", "prune"], { now: new Date(last + 60_000) });
      expect(text).toEqual({ code: 0, stdout: "nothing to prune\n", stderr: "" });
    });

    test("doctor: one line per check, all ok, exit 0; --json says the same", async () => {
      const r = await db.run(["doctor"]);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
      const lines = r.stdout.trimEnd().split("\n");
      expect(lines.map((l) => l.slice(0, 4))).toEqual(lines.map(() => "ok  "));
      expect(lines.map((l) => l.slice(6, 20).trim())).toEqual([
        "config",
        "database",
        "migrations",
        "signing keys",
        "key encryption",
        "retired keys",
        "emails",
        "outbox",
      ]);
      const current = (await keys()).find((k) => k.state === "current")?.kid;
      expect(r.stdout).toContain(`current ${current}, next `);
      expect(lines[1]).toEndWith(dialect);

      const json = await db.json<DoctorJson>(["doctor"]);
      expect(json.ok).toBe(true);
      expect(json.checks.map((x) => [x.check, x.ok])).toEqual([
        ["config", true],
        ["database", true],
        ["migrations", true],
        ["signing keys", true],
        ["key encryption", true],
        ["retired keys", true],
        ["emails", true],
        ["outbox", true],
      ]);
    });

    test("doctor: a wrong KEY_ENCRYPTION_KEY or an unreachable database is a failed check, exit 1", async () => {
      const wrongKey = Buffer.alloc(32, 9).toString("base64");
      const [kek, down] = await Promise.all([
        db.run(["doctor"], { env: { KEY_ENCRYPTION_KEY: wrongKey } }),
        db.run(["doctor", "--json"], {
          env: { DATABASE_URL: "postgres://authd:pw@127.0.0.1:1/nowhere" },
        }),
      ]);
      expect(kek.code).toBe(1);
      expect(kek.stdout).toMatch(
        /^FAIL\s+key encryption\s+KEY_ENCRYPTION_KEY does not open the current key$/m,
      );
      expect(kek.stdout).not.toContain(wrongKey);
      expect(down.code).toBe(1);
      const json = JSON.parse(down.stdout) as DoctorJson;
      expect(json.ok).toBe(false);
      expect(json.checks[1]).toMatchObject({ check: "database", ok: false });
      expect(json.checks[1]?.detail).toStartWith("storage is unavailable: ");
      expect(down.stdout).not.toContain(":pw@");
    });
  });
}
