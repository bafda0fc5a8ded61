/**
 * Issue 7, point 6: passwords are NFKC-normalised before hashing and
 * verifying, hashes made before that keep working (and are upgraded at the
 * next login), and a password that is one character repeated or contains the
 * email's local part is refused.
 */
import { describe, expect, test } from "bun:test";
import { DIALECTS } from "../helpers/databases.ts";
import {
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

// "café" spelled with a combining acute accent; NFKC composes it to U+00E9.
const DECOMPOSED = "cafe\u0301 au lait, sans sucre";
const COMPOSED = DECOMPOSED.normalize("NFKC");
// Full-width letters and a ligature: NFKC makes them "office passphrase 42".
const FULL_WIDTH = "o\uFB03ce ｐａｓｓｐｈｒａｓｅ ４２";

const storedHash = async (app: TestApp, email: string) =>
  (await app.container.store.findUserByEmail(email))?.passwordHash ?? "";

for (const dialect of DIALECTS) {
  describe(`passwords are NFKC [${dialect}]`, () => {
    const app = useTestApp(dialect);

    test("a password typed composed or decomposed, full-width or not, is one password", async () => {
      const a = await registerUser(app, uniqueEmail("nfkc"), DECOMPOSED);
      expect(COMPOSED).not.toBe(DECOMPOSED);
      await loginOk(app, a.email, COMPOSED);
      await loginOk(app, a.email, DECOMPOSED);
      const b = await registerUser(app, uniqueEmail("wide"), FULL_WIDTH);
      await loginOk(app, b.email, "office passphrase 42");
      // The hash is of the normalised form.
      const hash = await storedHash(app, b.email);
      expect(await Bun.password.verify("office passphrase 42", hash)).toBe(true);
      expect(await Bun.password.verify(FULL_WIDTH, hash)).toBe(false);
    });

    test("a hash of the raw form (made before NFKC) still works, and is rehashed at login", async () => {
      const user = await registerUser(
        app,
        uniqueEmail("legacy"),
        "a plain ascii start",
      );
      // What the daemon stored before NFKC: a hash of the password as sent.
      const legacy = await Bun.password.hash(DECOMPOSED, {
        algorithm: "argon2id",
        memoryCost: app.config.ARGON2_MEMORY_KIB,
        timeCost: app.config.ARGON2_TIME_COST,
      });
      await app.container.store.updateUser(
        user.user.id,
        { passwordHash: legacy },
        app.clock.now(),
      );
      expect(await Bun.password.verify(COMPOSED, legacy)).toBe(false);
      // Typed as it was typed then: accepted, and the stored hash is now the NFKC one.
      await loginOk(app, user.email, DECOMPOSED);
      const upgraded = await storedHash(app, user.email);
      expect(upgraded).not.toBe(legacy);
      expect(await Bun.password.verify(COMPOSED, upgraded)).toBe(true);
      // Both spellings work from now on; a wrong password still does not.
      await loginOk(app, user.email, COMPOSED);
      await loginOk(app, user.email, DECOMPOSED);
      await expectProblem(
        await login(app, user.email, "cafe au lait, sans sucre"),
        401,
        "invalid_credentials",
      );
    });

    test("changing the password verifies the current one in either form", async () => {
      const user = await registerUser(app, uniqueEmail("change"), DECOMPOSED);
      const res = await post(
        app,
        "/users/me/password",
        { current_password: COMPOSED, new_password: FULL_WIDTH },
        user.access_token,
      );
      expect(res.status).toBe(204);
      await loginOk(app, user.email, "office passphrase 42");
    });
  });

  describe(`password policy: repeats and the local part [${dialect}]`, () => {
    const app = useTestApp(dialect);

    async function rejected(password: string, message: RegExp, email = uniqueEmail()) {
      const res = await post(app, "/auth/register", { email, password });
      const body = await expectValidation(res, "/password");
      expect({ password, message: body.errors?.[0]?.message }).toMatchObject({
        password,
        message: expect.stringMatching(message),
      });
      expect(await app.container.store.findUserByEmail(email)).toBeNull();
    }

    test("one character repeated is refused, whatever its case or width", async () => {
      for (const password of [
        "zzzzzzzzzz",
        "ÅåÅåÅåÅåÅå",
        "ｚｚｚｚｚｚｚｚ",
        "\u{1F511}".repeat(12),
      ])
        await rejected(password, /one character repeated/);
      // Two characters alternating are not one character.
      await expectTokens(
        await post(app, "/auth/register", {
          email: uniqueEmail(),
          password: "zyzyzyzyzyzy",
        }),
        201,
      );
    });

    test("a password containing the local part (4+ characters) is refused", async () => {
      const email = `Grace.Hopper${Date.now()}@example.com`;
      const local = email.split("@")[0] ?? "";
      await rejected(`my ${local} passphrase`, /before the @/, email);
      await rejected(`${local.toUpperCase()}!!`, /before the @/, email);
      // Full-width spelling of the same local part, after NFKC.
      const wide = [...local.toLowerCase()].map((c) =>
        /[a-z0-9]/.test(c) ? String.fromCodePoint((c.codePointAt(0) ?? 0) + 0xfee0) : c,
      );
      await rejected(`x ${wide.join("")} y`, /before the @/, email);
      // A three-character local part is too short to forbid.
      const bob = `bob@${uniqueEmail().split("@")[1]}`;
      await expectTokens(
        await post(app, "/auth/register", {
          email: bob,
          password: "bobs own passphrase",
        }),
        201,
      );
    });

    test("operators are held to the same rules (authctl users create / set-password)", async () => {
      const email = uniqueEmail("operator");
      const local = email.split("@")[0] ?? "";
      await expect(
        app.container.userAdmin.create({ email, password: "qqqqqqqqqqqq" }, CLI),
      ).rejects.toMatchObject({ code: "validation_failed" });
      await app.container.userAdmin.create(
        { email, password: "a good passphrase" },
        CLI,
      );
      await expect(
        app.container.userAdmin.setPassword(email, `${local}-2025`, CLI),
      ).rejects.toMatchObject({ code: "validation_failed" });
    });
  });
}
