/**
 * POST /auth/login on each dialect: the token response, one answer for every
 * failure, and equal work — every login, failed or not, costs exactly one
 * full argon2id verification, checked by a counting wrapper around the real
 * hasher.
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
import {
  auditOf,
  CLI,
  claimsOf,
  expectProblem,
  expectTokens,
  expectValidation,
  liveSessionIds,
  login,
  loginOk,
  me,
  post,
} from "../helpers/http.ts";

/** The argon2id parameters of TEST_ENV: what a full verification runs with. */
const LIVE_ARGON2 = /^\$argon2id\$v=19\$m=1024,t=1,p=1\$[^$]+\$[^$]+$/;

interface Verification {
  /** The hash the password was checked against. */
  hash: string;
  /** The real verification ran to its end (its answer came back). */
  finished: boolean;
}

/**
 * The real hasher, recording every verification it is asked for: the hash it
 * ran against, and whether it ran to the end. A verification against an
 * argon2id hash with the live parameters that finished is a full one: it
 * cost what checking a real account's password costs.
 */
function countingHasher() {
  const real = createHasher({ memoryKib: 1024, timeCost: 1, concurrency: 4 });
  const verifications: Verification[] = [];
  const hasher: Hasher = {
    hash: (p) => real.hash(p),
    async verify(p, h) {
      const v: Verification = { hash: h, finished: false };
      verifications.push(v);
      const ok = await real.verify(p, h);
      v.finished = true;
      return ok;
    },
    needsRehash: (h) => real.needsRehash(h),
  };
  return { hasher, verifications };
}

const withoutRequestId = ({ request_id: _, ...rest }: Record<string, unknown>) => rest;

for (const dialect of DIALECTS) {
  describe(`login [${dialect}]`, () => {
    let app: TestApp;
    let counted: TestApp;
    let counter: ReturnType<typeof countingHasher>;
    beforeAll(async () => {
      app = await createTestApp(dialect);
      counter = countingHasher();
      counted = await createTestApp(dialect, {}, { hasher: counter.hasher });
    });
    afterAll(async () => {
      await app.close();
      await counted.close();
    });

    test("200 with a new session for each login", async () => {
      const reg = await registerUser(app);
      const res = await login(app, reg.email, reg.password);
      const body = await expectTokens(res);
      expect(res.headers.get("pragma")).toBe("no-cache");
      expect(body.user.id).toBe(reg.user.id);
      expect(body.expires_in).toBe(900);
      const sids = [claimsOf(reg.access_token).sid, claimsOf(body.access_token).sid];
      expect(sids[0]).not.toBe(sids[1]);
      expect(await liveSessionIds(app, reg.user.id)).toEqual(sids.sort());
      expect((await me(app, body.access_token)).status).toBe(200);
      const audit = await auditOf(app, "user.login", reg.user.id);
      expect(audit.map((a) => a.outcome)).toEqual(["success"]);
    });

    test("unknown email, wrong password and disabled account get the same 401", async () => {
      const reg = await registerUser(app);
      const disabled = await registerUser(app);
      await app.container.userAdmin.setDisabled(disabled.email, true, CLI);

      const responses = [
        await login(app, uniqueEmail("nobody"), GOOD_PASSWORD),
        await login(app, reg.email, `${GOOD_PASSWORD}!`),
        await login(app, disabled.email, GOOD_PASSWORD),
      ];
      const bodies: Record<string, unknown>[] = [];
      for (const res of responses) {
        const body = await expectProblem(res, 401, "invalid_credentials");
        expect(res.headers.get("www-authenticate")).toBe("Bearer");
        expect(res.headers.get("cache-control")).toBe("no-store");
        bodies.push(withoutRequestId({ ...body }));
      }
      expect(bodies[1]).toEqual(bodies[0] ?? {});
      expect(bodies[2]).toEqual(bodies[0] ?? {});
      // No session was created for the two real accounts.
      expect(await liveSessionIds(app, reg.user.id)).toHaveLength(1);
      expect(await liveSessionIds(app, disabled.user.id)).toHaveLength(0);
      // The audit log tells the operator what the client is not told.
      const failures = (await auditOf(app, "user.login")).filter(
        (a) => a.outcome === "failure",
      );
      expect(failures.map((a) => a.detail?.reason).sort()).toEqual([
        "disabled",
        "unknown_email",
        "wrong_password",
      ]);
    });

    // Equal work: a failed login costs what a successful one does, exactly
    // one full argon2id verification, so timing cannot tell an attacker which
    // emails exist, which accounts are disabled or which have no password.
    const NO_SUCH_USER = "00000000-0000-7000-8000-000000000000";
    interface Attempt {
      email: string;
      password: string;
      userId: string;
    }
    const failures: [string, string, () => Promise<Attempt>][] = [
      [
        "an unknown email",
        "unknown_email",
        async () => ({
          email: uniqueEmail("ghost"),
          password: GOOD_PASSWORD,
          userId: NO_SUCH_USER,
        }),
      ],
      [
        "a wrong password",
        "wrong_password",
        async () => {
          const reg = await registerUser(counted);
          return {
            email: reg.email,
            password: "wrong but long enough",
            userId: reg.user.id,
          };
        },
      ],
      [
        "a disabled account (with the right password)",
        "disabled",
        async () => {
          const reg = await registerUser(counted);
          await counted.container.userAdmin.setDisabled(reg.email, true, CLI);
          return { email: reg.email, password: reg.password, userId: reg.user.id };
        },
      ],
      [
        "an account without a password (made by the CLI)",
        "wrong_password",
        async () => {
          const email = uniqueEmail("nopw");
          const user = await counted.container.userAdmin.create({ email }, CLI);
          return { email, password: GOOD_PASSWORD, userId: user.id };
        },
      ],
    ];

    test.each(failures)(
      "%s: 401 after exactly one full verification",
      async (_, reason, setUp) => {
        const { email, password, userId } = await setUp();
        const sessionsBefore = await liveSessionIds(counted, userId);
        counter.verifications.length = 0;
        await expectProblem(
          await login(counted, email, password),
          401,
          "invalid_credentials",
        );
        expect(counter.verifications).toHaveLength(1);
        const [v] = counter.verifications;
        expect(v?.finished).toBe(true);
        expect(v?.hash).toMatch(LIVE_ARGON2);
        // Nothing was started, and the operator's log says why.
        expect(await liveSessionIds(counted, userId)).toEqual(sessionsBefore);
        const [audited] = await auditOf(counted, "user.login");
        expect(audited).toMatchObject({ outcome: "failure", detail: { reason } });
      },
    );

    test("a successful login costs the same one full verification", async () => {
      const reg = await registerUser(counted);
      counter.verifications.length = 0;
      await loginOk(counted, reg.email, reg.password);
      expect(counter.verifications.map((v) => v.finished)).toEqual([true]);
      const stored = await counted.container.store.findUserByEmail(reg.email);
      expect(counter.verifications[0]?.hash).toBe(stored?.passwordHash ?? "missing");
      expect(counter.verifications[0]?.hash).toMatch(LIVE_ARGON2);
    });

    test("long passwords are not truncated", async () => {
      const password = `${"long passphrase ".repeat(6)}end`; // 99 characters
      const reg = await registerUser(app, uniqueEmail("long"), password);
      await expectProblem(
        await login(app, reg.email, password.slice(0, 72)),
        401,
        "invalid_credentials",
      );
      await loginOk(app, reg.email, password);
    });

    test("422 for missing or unknown fields", async () => {
      await expectValidation(
        await post(app, "/auth/login", { email: "a@b.co" }),
        "/password",
      );
      await expectValidation(
        await post(app, "/auth/login", {
          email: "a@b.co",
          password: GOOD_PASSWORD,
          remember: true,
        }),
        "/remember",
      );
    });
  });
}
