/**
 * A key rotation under traffic, as in production: two real daemons on one
 * database (a SQLite file, or PostgreSQL), an operator running `authctl keys rotate --force`
 * while clients keep logging in and calling /users/me on both. No request may
 * fail, the token issued before the rotation must keep working, and both
 * daemons must switch to the new key on their own (KEY_REFRESH_INTERVAL=1),
 * without a restart. The test waits for that switch (an event), never for a
 * fixed time, and each daemon signs once with the old key before the rotation
 * starts, so "old key first, then the new one" holds on any machine.
 */
import {
  afterAll,
  beforeAll,
  describe,
  expect,
  setDefaultTimeout,
  test,
} from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cliEnv, runAuthctl } from "../cli/authctl-process.ts";
import {
  getFrom,
  jwksKidsOf,
  loginOver,
  postJson,
  registerOver,
} from "../helpers/daemon-http.ts";
import {
  createTestDatabase,
  DIALECTS,
  type TestDatabase,
} from "../helpers/databases.ts";
import { GOOD_PASSWORD, uniqueEmail } from "../helpers/harness.ts";
import { kidOf } from "../helpers/jwt.ts";
import { type Daemon, startDaemon } from "./daemon-process.ts";

// Two daemons and two CLI runs on a busy 2-core machine: generous, never the point.
setDefaultTimeout(180_000);

/**
 * Only turns "a daemon never switches" into a failure instead of a hang. The
 * daemons reload every second (KEY_REFRESH_INTERVAL=1); the test waits for
 * the switch itself, so a slow machine only makes it take longer.
 */
const NEVER_SWITCHED_MS = 90_000;

interface KeyJson {
  kid: string;
  state: "next" | "current" | "retired";
}

function kidIn(keys: KeyJson[], state: KeyJson["state"]): string {
  const key = keys.find((k) => k.state === state);
  if (!key) throw new Error(`no ${state} key in ${JSON.stringify(keys)}`);
  return key.kid;
}

const me = (base: string, token: string) => getFrom(base, "/users/me", { token });

for (const dialect of DIALECTS)
  describe(`key rotation across two running daemons [${dialect}]`, () => {
    let dir: string;
    let db: TestDatabase;
    let daemons: Daemon[] = [];
    let env: Record<string, string>;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "authd-rotation-"));
      db = await createTestDatabase(dialect, join(dir, "auth.db"));
      env = { ...cliEnv(db.url), JWKS_MAX_AGE: "1" };
      daemons = await Promise.all(
        [1, 2].map(() =>
          startDaemon({
            env: { ...env, KEY_REFRESH_INTERVAL: "1", ISSUER: "http://authd.rotation" },
          }),
        ),
      );
    });
    afterAll(async () => {
      for (const d of daemons) await d.stop();
      await db?.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    test("no request fails, old tokens still verify, both daemons switch keys", async () => {
      const [a, b] = daemons.map((d) => d.url) as [string, string];
      const email = uniqueEmail("rotation");
      const oldToken = (await registerOver(a, email)).access_token;

      const listed = await runAuthctl(["keys", "list", "--json"], env);
      expect(listed.code).toBe(0);
      const before = JSON.parse(listed.stdout) as KeyJson[];
      const oldCurrent = kidIn(before, "current");
      const upcoming = kidIn(before, "next");
      expect(kidOf(oldToken)).toBe(oldCurrent);
      // Every verifier already knows the key that is about to sign.
      for (const base of [a, b]) expect(await jwksKidsOf(base)).toContain(upcoming);

      const failures: string[] = [];
      const issuedKids = new Map<string, (string | undefined)[]>([
        [a, []],
        [b, []],
      ]);
      const loginAt = async (base: string) => {
        const [m, l] = await Promise.all([
          me(base, oldToken),
          postJson(base, "/auth/login", { email, password: GOOD_PASSWORD }),
        ]);
        if (m.status !== 200)
          failures.push(`${base} /users/me ${m.status} ${await m.text()}`);
        if (l.status !== 200)
          failures.push(`${base} login ${l.status} ${await l.text()}`);
        else
          issuedKids
            .get(base)
            ?.push(kidOf(((await l.json()) as { access_token: string }).access_token));
      };
      // Each daemon signs at least once with the old key before the rotation starts.
      for (const base of [a, b]) await loginAt(base);

      // The operator rotates while clients keep using both daemons.
      let rotatedAt: number | null = null;
      const rotation = runAuthctl(["keys", "rotate", "--force", "--json"], env).then(
        (r) => {
          rotatedAt = Date.now();
          return r;
        },
      );
      const switched = (base: string) => issuedKids.get(base)?.at(-1) === upcoming;
      const traffic = async (base: string) => {
        // Until the rotation is done and both daemons sign with the new key.
        while (!(rotatedAt !== null && switched(a) && switched(b))) {
          if (rotatedAt !== null && Date.now() - rotatedAt > NEVER_SWITCHED_MS) return;
          await loginAt(base);
          await Bun.sleep(10); // pacing only: leave the CPU to the daemons
        }
      };
      const [rotated] = await Promise.all([rotation, traffic(a), traffic(b)]);

      expect({ code: rotated.code, stderr: rotated.stderr }).toEqual({
        code: 0,
        stderr: "",
      });
      const out = JSON.parse(rotated.stdout) as { current: string; next: string };
      expect(out.current).toBe(upcoming);
      expect(failures).toEqual([]);
      // Each daemon signed with the old key before and the new key after, in that order.
      for (const base of [a, b]) {
        const kids = issuedKids.get(base) ?? [];
        expect({ base, last: kids.at(-1) }).toEqual({ base, last: out.current });
        const firstNew = kids.indexOf(out.current);
        // The traffic overlapped the rotation: old-key tokens first, then new-key ones.
        expect(firstNew).toBeGreaterThan(0);
        const after = kids.slice(firstNew);
        const before = kids.slice(0, firstNew);
        expect(after).toEqual(after.map(() => out.current));
        expect(before).toEqual(before.map(() => oldCurrent));
      }

      // After the rotation: the old token still verifies on both, the new next key
      // is published by both, and a new token from one daemon verifies on the other.
      for (const base of [a, b]) {
        expect((await me(base, oldToken)).status).toBe(200);
        const kids = await jwksKidsOf(base);
        expect(kids).toContain(out.next);
        expect(kids).toContain(oldCurrent);
      }
      const fresh = (await loginOver(a, email)).access_token;
      expect(kidOf(fresh)).toBe(out.current);
      expect((await me(b, fresh)).status).toBe(200);

      const after = JSON.parse(
        (await runAuthctl(["keys", "list", "--json"], env)).stdout,
      );
      expect((after as KeyJson[]).map((k) => [k.kid, k.state]).sort()).toEqual(
        [
          [oldCurrent, "retired"],
          [out.current, "current"],
          [out.next, "next"],
        ].sort(),
      );
      for (const d of daemons) {
        const problems = d.lines.filter((l) =>
          ["warn", "error", "fatal"].includes(String(l.level)),
        );
        expect(problems).toEqual([]);
      }
    });
  });
