/**
 * Failed-login budgets (API.md "Abuse protection"): per account + IP, and per
 * account with the known-IP exception. Checked before any hash, counted the
 * same for unknown emails, cleared by a success. Client IPs come from
 * X-Forwarded-For (TRUST_PROXY=true).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Hasher } from "../../src/core/ports.ts";
import { createHasher } from "../../src/infra/hasher.ts";
import { DIALECTS } from "../helpers/databases.ts";
import {
  createTestApp,
  GOOD_PASSWORD,
  registerUser,
  type TestApp,
  uniqueEmail,
} from "../helpers/harness.ts";
import { expectProblem, expectTokens } from "../helpers/http.ts";

const DAY_MS = 86_400_000;
const WRONG = "wrong password, sorry";

let ipSeq = 0;
const freshIp = () => `192.0.2.${++ipSeq}`;

/** The real hasher, counting verifications: a 429 must cost none. */
function countingHasher() {
  const real = createHasher({ memoryKib: 1024, timeCost: 1, concurrency: 4 });
  const counter = { verified: 0 };
  const hasher: Hasher = {
    hash: (p) => real.hash(p),
    verify: (p, h) => {
      counter.verified++;
      return real.verify(p, h);
    },
    needsRehash: (h) => real.needsRehash(h),
  };
  return { hasher, counter };
}

const loginFrom = (app: TestApp, ip: string, email: string, password: string) =>
  app.request("POST", "/auth/login", {
    json: { email, password },
    headers: { "x-forwarded-for": ip },
  });

async function statuses(
  app: TestApp,
  ip: string,
  email: string,
  password: string,
  times: number,
) {
  const out: number[] = [];
  for (let i = 0; i < times; i++)
    out.push((await loginFrom(app, ip, email, password)).status);
  return out;
}

for (const dialect of DIALECTS) {
  describe(`failed logins per account + IP [${dialect}]`, () => {
    let app: TestApp;
    const { hasher, counter } = countingHasher();

    beforeAll(async () => {
      app = await createTestApp(
        dialect,
        {
          TRUST_PROXY: "true",
          LOGIN_FAILURES_PER_ACCOUNT_IP: "3",
          LOGIN_FAILURES_PER_ACCOUNT: "0",
          LOGIN_FAILURE_WINDOW: "900",
        },
        { hasher },
      );
    });

    test("past the budget that IP gets 429 for that account only, before any hash", async () => {
      app.clock.set(new Date("2026-11-26T12:00:00.000Z"));
      const { email } = await registerUser(app, uniqueEmail("victim"));
      const other = await registerUser(app, uniqueEmail("bystander"));
      const [attacker, elsewhere] = [freshIp(), freshIp()];
      expect(await statuses(app, attacker, email, WRONG, 3)).toEqual([401, 401, 401]);

      app.clock.advance(60_000);
      const before = counter.verified;
      const refused = await loginFrom(app, attacker, email, GOOD_PASSWORD);
      await expectProblem(refused, 429, "rate_limited");
      // The failure window is 12:00–12:15; one minute of it has passed.
      expect(refused.headers.get("retry-after")).toBe("840");
      expect(counter.verified).toBe(before);

      // Other accounts from that IP, and that account from other IPs, are unaffected.
      await expectTokens(await loginFrom(app, attacker, other.email, GOOD_PASSWORD));
      await expectTokens(await loginFrom(app, elsewhere, email, GOOD_PASSWORD));

      // After the window the IP may try again.
      app.clock.advance(840_000);
      await expectTokens(await loginFrom(app, attacker, email, GOOD_PASSWORD));
    });

    test("an unknown email is counted the same way, and its 429 looks the same", async () => {
      const { email } = await registerUser(app, uniqueEmail("known"));
      const unknown = uniqueEmail("nobody");
      const ip = freshIp();
      expect(await statuses(app, ip, email, WRONG, 3)).toEqual([401, 401, 401]);
      expect(await statuses(app, ip, unknown, WRONG, 3)).toEqual([401, 401, 401]);
      const a = await loginFrom(app, ip, email, WRONG);
      const b = await loginFrom(app, ip, unknown, WRONG);
      const bodyA = await expectProblem(a, 429, "rate_limited");
      const bodyB = await expectProblem(b, 429, "rate_limited");
      expect({ ...bodyA, request_id: "" }).toEqual({ ...bodyB, request_id: "" });
      expect(a.headers.get("retry-after")).toBe(b.headers.get("retry-after"));
      expect([...a.headers.keys()].sort()).toEqual([...b.headers.keys()].sort());
    });

    test("a successful login clears that account + IP count", async () => {
      const { email } = await registerUser(app, uniqueEmail("clears"));
      const ip = freshIp();
      expect(await statuses(app, ip, email, WRONG, 2)).toEqual([401, 401]);
      await expectTokens(await loginFrom(app, ip, email, GOOD_PASSWORD));
      expect(await statuses(app, ip, email, WRONG, 4)).toEqual([401, 401, 401, 429]);
    });

    test("emails are counted after normalisation", async () => {
      const { email } = await registerUser(app, uniqueEmail("norm"));
      const ip = freshIp();
      await loginFrom(app, ip, email, WRONG);
      await loginFrom(app, ip, `  ${email.toUpperCase()} `, WRONG);
      await loginFrom(app, ip, email, WRONG);
      await expectProblem(
        await loginFrom(app, ip, email.toUpperCase(), GOOD_PASSWORD),
        429,
        "rate_limited",
      );
    });

    afterAll(() => app.close());
  });

  describe(`failed logins per account, known IPs exempt [${dialect}]`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(dialect, {
        TRUST_PROXY: "true",
        LOGIN_FAILURES_PER_ACCOUNT_IP: "100",
        LOGIN_FAILURES_PER_ACCOUNT: "4",
        LOGIN_FAILURE_WINDOW: "900",
      });
      app.clock.set(new Date("2026-11-26T12:00:00.000Z"));
    });

    test("guessing from many IPs locks out strangers but never the account's own known IP", async () => {
      const { email } = await registerUser(app, uniqueEmail("owner"));
      const home = freshIp();
      await expectTokens(await loginFrom(app, home, email, GOOD_PASSWORD));

      // Four failures, each from a different IP: the per-account budget is spent.
      for (let i = 0; i < 4; i++)
        expect((await loginFrom(app, freshIp(), email, WRONG)).status).toBe(401);
      // A stranger is refused even with the right password.
      await expectProblem(
        await loginFrom(app, freshIp(), email, GOOD_PASSWORD),
        429,
        "rate_limited",
      );
      // The owner's IP still gets real answers: 401 for a typo, 200 for the password.
      expect((await loginFrom(app, home, email, WRONG)).status).toBe(401);
      await expectTokens(await loginFrom(app, home, email, GOOD_PASSWORD));
      // Other accounts are unaffected.
      const other = await registerUser(app, uniqueEmail("other"));
      await expectTokens(await loginFrom(app, freshIp(), other.email, GOOD_PASSWORD));
    });

    test("an unknown email has no known IP: the budget holds for every IP", async () => {
      const unknown = uniqueEmail("ghost");
      for (let i = 0; i < 4; i++)
        expect((await loginFrom(app, freshIp(), unknown, WRONG)).status).toBe(401);
      await expectProblem(
        await loginFrom(app, freshIp(), unknown, WRONG),
        429,
        "rate_limited",
      );
    });

    test("a disabled account's failures count like any other", async () => {
      const { email } = await registerUser(app, uniqueEmail("disabled"));
      await app.container.userAdmin.setDisabled(email, true, { actorId: "cli" });
      for (let i = 0; i < 4; i++)
        expect((await loginFrom(app, freshIp(), email, GOOD_PASSWORD)).status).toBe(
          401,
        );
      await expectProblem(
        await loginFrom(app, freshIp(), email, GOOD_PASSWORD),
        429,
        "rate_limited",
      );
    });

    test("an IP is known for 30 days after its last successful login", async () => {
      const { email } = await registerUser(app, uniqueEmail("returning"));
      const home = freshIp();
      await expectTokens(await loginFrom(app, home, email, GOOD_PASSWORD));

      app.clock.advance(29 * DAY_MS);
      for (let i = 0; i < 4; i++) await loginFrom(app, freshIp(), email, WRONG);
      await expectTokens(await loginFrom(app, home, email, GOOD_PASSWORD));

      // 31 days after that last success, in a fresh window: no longer known.
      app.clock.advance(31 * DAY_MS);
      for (let i = 0; i < 4; i++) await loginFrom(app, freshIp(), email, WRONG);
      await expectProblem(
        await loginFrom(app, home, email, GOOD_PASSWORD),
        429,
        "rate_limited",
      );
    });

    afterAll(() => app.close());
  });
}
