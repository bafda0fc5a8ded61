import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { argon2Sync } from "node:crypto";
import { createSemaphore } from "../../src/infra/hasher.ts";
import { DIALECTS } from "../helpers/databases.ts";
import {
  createTestApp,
  GOOD_PASSWORD,
  registerUser,
  type TestApp,
  uniqueEmail,
  useTestApp,
} from "../helpers/harness.ts";
import {
  CLI,
  expectProblem,
  expectTokens,
  expectValidation,
  login,
  loginOk,
  post,
} from "../helpers/http.ts";

const KEY = "\u{1F511}"; // one code point, two UTF-16 units
const LOCK = "\u{1F512}"; // another (one character repeated is refused)

for (const dialect of DIALECTS) {
  describe(`password policy [${dialect}]`, () => {
    const app = useTestApp(dialect);

    async function rejected(password: string, message: RegExp, email = uniqueEmail()) {
      const res = await post(app, "/auth/register", { email, password });
      const body = await expectValidation(res, "/password");
      expect(body.errors?.[0]?.message).toMatch(message);
      if (password) expect(JSON.stringify(body)).not.toContain(password);
      expect(await app.container.store.findUserByEmail(email)).toBeNull();
    }

    async function accepted(password: string) {
      const email = uniqueEmail();
      await expectTokens(await post(app, "/auth/register", { email, password }), 201);
      await loginOk(app, email, password);
    }

    test("shorter than 8 code points is refused", async () => {
      await rejected("abcdefg", /at least 8/);
      await rejected("", /at least 8|length/);
    });

    test("8 and 256 code points are accepted, 257 is refused", async () => {
      await accepted("zq8#mLp2");
      await accepted(`${"x".repeat(250)}qwzk17`);
      await rejected(`${"x".repeat(251)}qwzk17`, /at most 256/);
    });

    test("length is counted in code points, not UTF-16 units", async () => {
      // 7 emoji are 14 UTF-16 units but 7 characters: too short.
      await rejected(KEY.repeat(7), /at least 8/);
      await accepted(`${KEY}${LOCK}`.repeat(4));
      // 256 emoji are 512 UTF-16 units but 256 characters: fine.
      await accepted(`${KEY}${LOCK}`.repeat(128));
      await rejected(KEY.repeat(257), /at most 256/);
    });

    test("no composition rules: a long lower-case phrase is fine", async () => {
      await accepted("lowercase words only here");
    });

    test.each(["12345678", "password1", "iloveyou", "PassWord123"])(
      "a common password (%s) is refused, whatever its case",
      async (password) => {
        await rejected(password, /common/);
      },
    );

    test("the email or its local part is refused as a password", async () => {
      const email = uniqueEmail("localpart");
      const local = email.split("@")[0] ?? "";
      await rejected(email, /email/, email);
      await rejected(local, /email/, email);
      await rejected(local.toUpperCase(), /email/, email);
      await rejected(email.toUpperCase(), /email/, ` ${email.toUpperCase()} `);
    });

    test("passwords are used as sent: no trimming", async () => {
      const email = uniqueEmail();
      const password = "  spaced passphrase  ";
      await expectTokens(await post(app, "/auth/register", { email, password }), 201);
      await expectProblem(
        await login(app, email, password.trim()),
        401,
        "invalid_credentials",
      );
      await loginOk(app, email, password);
    });

    test("a new password goes through the same policy, on /new_password", async () => {
      const reg = await registerUser(app);
      const cases: [string, RegExp][] = [
        ["short", /at least 8/],
        ["12345678", /common/],
        [reg.email, /email/],
        [KEY.repeat(257), /at most 256/],
      ];
      for (const [newPassword, message] of cases) {
        const res = await post(
          app,
          "/users/me/password",
          { current_password: reg.password, new_password: newPassword },
          reg.access_token,
        );
        const body = await expectValidation(res, "/new_password");
        expect(body.errors?.[0]?.message).toMatch(message);
      }
      // Nothing changed: the old password still works.
      await loginOk(app, reg.email, reg.password);
    });
  });

  describe(`password rehash on login [${dialect}]`, () => {
    let app: TestApp;
    let stronger: TestApp;
    beforeAll(async () => {
      app = await createTestApp(dialect);
      // A second daemon on the same storage, configured with other parameters.
      stronger = await createTestApp(
        dialect,
        { ARGON2_MEMORY_KIB: "2048", ARGON2_TIME_COST: "2" },
        { shareDatabaseWith: app },
      );
    });
    afterAll(async () => {
      await stronger.close();
      await app.close();
    });

    const storedHash = async (email: string) =>
      (await app.container.store.findUserByEmail(email))?.passwordHash ?? "";

    test.each(["$2a$", "$2b$", "$2y$"])(
      "an imported bcrypt hash (%s) is verified, then upgraded to argon2id",
      async (prefix) => {
        const email = uniqueEmail("bcrypt");
        const password = "imported passphrase";
        const bcrypt = await Bun.password.hash(password, {
          algorithm: "bcrypt",
          cost: 4,
        });
        const imported = `${prefix}${bcrypt.slice(4)}`;
        await app.container.userAdmin.create({ email, passwordHash: imported }, CLI);
        expect(await storedHash(email)).toBe(imported);

        // A wrong password neither logs in nor touches the hash.
        await expectProblem(
          await login(app, email, "not the password"),
          401,
          "invalid_credentials",
        );
        expect(await storedHash(email)).toBe(imported);

        await loginOk(app, email, password);
        const upgraded = await storedHash(email);
        expect(upgraded).toStartWith("$argon2id$v=19$m=1024,t=1,p=1$");
        expect(await Bun.password.verify(password, upgraded)).toBe(true);
        await loginOk(app, email, password);
      },
    );

    test("an imported argon2i hash is upgraded to argon2id", async () => {
      const email = uniqueEmail("argon2i");
      const password = "imported passphrase";
      const imported = await Bun.password.hash(password, {
        algorithm: "argon2i",
        memoryCost: 2048,
        timeCost: 2,
      });
      await app.container.userAdmin.create({ email, passwordHash: imported }, CLI);
      await loginOk(app, email, password);
      expect(await storedHash(email)).toStartWith("$argon2id$v=19$m=1024,t=1,p=1$");
    });

    test("an argon2id hash with the same m and t but another p is rehashed", async () => {
      const email = uniqueEmail("parallel");
      const password = "imported passphrase";
      const salt = Buffer.from("sixteen byte salt");
      const tag = argon2Sync("argon2id", {
        message: password,
        nonce: salt,
        parallelism: 4,
        tagLength: 32,
        memory: 1024,
        passes: 1,
      });
      const b64 = (b: Buffer) => b.toString("base64").replace(/=+$/, "");
      const imported = `$argon2id$v=19$m=1024,t=1,p=4$${b64(salt)}$${b64(tag)}`;
      await app.container.userAdmin.create({ email, passwordHash: imported }, CLI);
      await loginOk(app, email, password);
      expect(await storedHash(email)).toStartWith("$argon2id$v=19$m=1024,t=1,p=1$");
      await loginOk(app, email, password);
    });

    test("a hash made with other parameters is rehashed with the current ones", async () => {
      const reg = await registerUser(app);
      const original = await storedHash(reg.email);
      expect(original).toStartWith("$argon2id$v=19$m=1024,t=1,p=1$");

      // The same parameters: the hash is left alone.
      await loginOk(app, reg.email, reg.password);
      expect(await storedHash(reg.email)).toBe(original);

      // The daemon with stronger parameters upgrades it on the next login…
      await loginOk(stronger, reg.email, reg.password);
      const upgraded = await storedHash(reg.email);
      expect(upgraded).toStartWith("$argon2id$v=19$m=2048,t=2,p=1$");
      // …and the hash still verifies on both daemons.
      await loginOk(app, reg.email, reg.password);
      expect(await storedHash(reg.email)).toStartWith("$argon2id$v=19$m=1024,t=1,p=1$");
    });

    test("a malformed imported hash is a failed login, not a server error", async () => {
      const email = uniqueEmail("garbled");
      const garbled = `$2b$10$${"A".repeat(53)}`;
      await app.container.userAdmin.create({ email, passwordHash: garbled }, CLI);
      await expectProblem(
        await login(app, email, "any password at all"),
        401,
        "invalid_credentials",
      );
      expect(await storedHash(email)).toBe(garbled);
    });

    test("a failed login never rehashes", async () => {
      const reg = await registerUser(app);
      const original = await storedHash(reg.email);
      await expectProblem(
        await login(stronger, reg.email, `${GOOD_PASSWORD}?`),
        401,
        "invalid_credentials",
      );
      expect(await storedHash(reg.email)).toBe(original);
    });
  });
}

describe("hashing concurrency", () => {
  test("at most `limit` tasks run at once; the rest queue and all finish", async () => {
    const run = createSemaphore(3);
    let active = 0;
    let peak = 0;
    const gates: (() => void)[] = [];
    const tasks = Array.from({ length: 10 }, (_, i) =>
      run(async () => {
        active++;
        peak = Math.max(peak, active);
        await new Promise<void>((resolve) => gates.push(resolve));
        active--;
        return i;
      }),
    );
    // Open the gates one by one until every task has run.
    for (let opened = 0; opened < 10; opened++) {
      while (gates.length === 0) await Bun.sleep(0);
      expect(active).toBeLessThanOrEqual(3);
      gates.shift()?.();
    }
    expect(await Promise.all(tasks)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(peak).toBe(3);
  });

  test("a slot freed for a waiter cannot be taken by a newcomer", async () => {
    const run = createSemaphore(1);
    let running = 0;
    let peak = 0;
    const gates: (() => void)[] = [];
    const task = () => {
      running++;
      peak = Math.max(peak, running);
      return new Promise<void>((resolve) =>
        gates.push(() => {
          running--;
          resolve();
        }),
      );
    };
    const a = run(task);
    const b = run(task); // queued behind a
    await Bun.sleep(0);
    expect(running).toBe(1);
    let c: Promise<void> | undefined;
    gates.shift()?.(); // a finishes…
    queueMicrotask(() => {
      c = run(task); // …and a newcomer arrives before b has resumed
    });
    await Bun.sleep(0);
    expect(running).toBe(1);
    while (gates.length > 0) {
      gates.shift()?.();
      await Bun.sleep(0);
    }
    await Promise.all([a, b, c]);
    expect(peak).toBe(1);
  });

  test("a failing task frees its slot", async () => {
    const run = createSemaphore(1);
    await expect(run(() => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await run(async () => "next")).toBe("next");
  });
});
