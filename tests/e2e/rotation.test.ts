/**
 * A key rotation under traffic, as in production: two real daemons on one
 * PostgreSQL database, an operator running `authctl keys rotate --force`
 * while clients keep logging in and calling /users/me on both. No request may
 * fail, the token issued before the rotation must keep working, and both
 * daemons must switch to the new key on their own (KEY_REFRESH_INTERVAL=1),
 * without a restart. Runs only with TEST_DATABASE_URL.
 */
import {
  afterAll,
  beforeAll,
  describe,
  expect,
  setDefaultTimeout,
  test,
} from "bun:test";
import { decodeProtectedHeader } from "jose";
import { cliEnv, runAuthctl } from "../cli/authctl-process.ts";
import { createPgDatabase, PG_URL, type TestDatabase } from "../helpers/databases.ts";
import { GOOD_PASSWORD, uniqueEmail } from "../helpers/harness.ts";
import { type Daemon, startDaemon } from "./daemon-process.ts";

setDefaultTimeout(60_000);

/** How long after the rotation both daemons may take to sign with the new key. */
const SWITCH_WITHIN_MS = 5000;

interface KeyJson {
  kid: string;
  state: "next" | "current" | "retired";
}

const kidOf = (token: string) => decodeProtectedHeader(token).kid;

function kidIn(keys: KeyJson[], state: KeyJson["state"]): string {
  const key = keys.find((k) => k.state === state);
  if (!key) throw new Error(`no ${state} key in ${JSON.stringify(keys)}`);
  return key.kid;
}

const postJson = (base: string, path: string, json: unknown) =>
  fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(json),
  });

const me = (base: string, token: string) =>
  fetch(`${base}/users/me`, { headers: { authorization: `Bearer ${token}` } });

async function jwksKids(base: string): Promise<string[]> {
  const res = await fetch(`${base}/.well-known/jwks.json`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
}

describe.skipIf(!PG_URL)("key rotation across two running daemons [pg]", () => {
  let db: TestDatabase;
  let daemons: Daemon[] = [];
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createPgDatabase();
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
  });

  test("no request fails, old tokens still verify, both daemons switch keys", async () => {
    const [a, b] = daemons.map((d) => d.url) as [string, string];
    const email = uniqueEmail("rotation");
    const reg = await postJson(a, "/auth/register", { email, password: GOOD_PASSWORD });
    expect(reg.status).toBe(201);
    const oldToken = ((await reg.json()) as { access_token: string }).access_token;

    const listed = await runAuthctl(["keys", "list", "--json"], env);
    expect(listed.code).toBe(0);
    const before = JSON.parse(listed.stdout) as KeyJson[];
    const oldCurrent = kidIn(before, "current");
    const upcoming = kidIn(before, "next");
    expect(kidOf(oldToken)).toBe(oldCurrent);
    // Every verifier already knows the key that is about to sign.
    for (const base of [a, b]) expect(await jwksKids(base)).toContain(upcoming);

    // The operator rotates while clients keep using both daemons.
    let rotatedAt: number | null = null;
    const rotation = runAuthctl(["keys", "rotate", "--force", "--json"], env).then(
      (r) => {
        rotatedAt = Date.now();
        return r;
      },
    );
    const failures: string[] = [];
    const issuedKids = new Map<string, string[]>([
      [a, []],
      [b, []],
    ]);
    const switched = (base: string) => issuedKids.get(base)?.at(-1) === upcoming;
    const started = Date.now();
    const traffic = async (base: string) => {
      // Bounded: ends once both daemons sign with the new key, or at the deadline.
      for (let i = 0; i < 2000; i++) {
        const deadline =
          rotatedAt === null ? started + 20_000 : rotatedAt + SWITCH_WITHIN_MS;
        if (
          Date.now() > deadline ||
          (rotatedAt !== null && switched(a) && switched(b))
        ) {
          return;
        }
        const [m, l] = await Promise.all([
          me(base, oldToken),
          postJson(base, "/auth/login", { email, password: GOOD_PASSWORD }),
        ]);
        if (m.status !== 200)
          failures.push(`${base} /users/me ${m.status} ${await m.text()}`);
        if (l.status !== 200)
          failures.push(`${base} login ${l.status} ${await l.text()}`);
        else {
          const kid = kidOf(
            ((await l.json()) as { access_token: string }).access_token,
          );
          if (kid) issuedKids.get(base)?.push(kid);
        }
        await Bun.sleep(10);
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
      expect(kids.slice(firstNew).every((k) => k === out.current)).toBe(true);
      expect(kids.slice(0, firstNew).every((k) => k === oldCurrent)).toBe(true);
    }

    // After the rotation: the old token still verifies on both, the new next key
    // is published by both, and a new token from one daemon verifies on the other.
    for (const base of [a, b]) {
      expect((await me(base, oldToken)).status).toBe(200);
      const kids = await jwksKids(base);
      expect(kids).toContain(out.next);
      expect(kids).toContain(oldCurrent);
    }
    const login = await postJson(a, "/auth/login", { email, password: GOOD_PASSWORD });
    const fresh = ((await login.json()) as { access_token: string }).access_token;
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
