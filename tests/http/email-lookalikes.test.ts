/**
 * Issue 7, point 5: look-alike addresses do not make a second account. The
 * full-width `Ａda`, the `ﬁ` ligature and an IDN domain are the same address
 * as their plain form; a zero-width character or a Latin/Cyrillic mix is
 * refused. Sign-in uses the same normalisation.
 */
import { describe, expect, test } from "bun:test";
import { DIALECTS } from "../helpers/databases.ts";
import { GOOD_PASSWORD, registerUser, useTestApp } from "../helpers/harness.ts";
import { expectProblem, expectValidation, loginOk, post } from "../helpers/http.ts";

let n = 0;
const tag = () => `${Date.now().toString(36)}${++n}`;
/** Full-width ASCII (U+FF01–FF5E), what some keyboards and IMEs type. */
const wide = (s: string) =>
  [...s]
    .map((c) =>
      c >= "!" && c <= "~" ? String.fromCodePoint((c.codePointAt(0) ?? 0) + 0xfee0) : c,
    )
    .join("");

for (const dialect of DIALECTS) {
  describe(`look-alike emails are one account or none [${dialect}]`, () => {
    const app = useTestApp(dialect);
    const register = (email: string) =>
      post(app, "/auth/register", { email, password: GOOD_PASSWORD });

    test("full-width, upper-case and ligature spellings are the same address: 409", async () => {
      const t = tag();
      const ada = await registerUser(app, `ada${t}@example.com`);
      await expectProblem(await register(`Ａda${t}@example.com`), 409, "email_taken");
      await expectProblem(
        await register(wide(`ADA${t}@EXAMPLE.COM`)),
        409,
        "email_taken",
      );
      const finn = await registerUser(app, `ﬁnn${t}@example.com`);
      expect(finn.user.email).toBe(`finn${t}@example.com`);
      await expectProblem(await register(`finn${t}@example.com`), 409, "email_taken");
      // Sign-in normalises the same way.
      const signedIn = await loginOk(app, wide(`Ada${t}@Example.com`), GOOD_PASSWORD);
      expect(signedIn.user.id).toBe(ada.user.id);
      expect((await loginOk(app, `FINN${t}@example.com`, GOOD_PASSWORD)).user.id).toBe(
        finn.user.id,
      );
      // One account each, stored in the normalised spelling.
      for (const name of ["ada", "finn"]) {
        const stored = await app.container.store.listUsers({
          q: `${name}${t}`,
          limit: 10,
        });
        expect(stored.map((u) => u.email)).toEqual([`${name}${t}@example.com`]);
      }
    });

    test("an IDN domain is stored in its ASCII form and found by either", async () => {
      const t = tag();
      const bob = await registerUser(app, `bob${t}@Bücher.de`);
      expect(bob.user.email).toBe(`bob${t}@xn--bcher-kva.de`);
      await expectProblem(
        await register(`bob${t}@xn--bcher-kva.de`),
        409,
        "email_taken",
      );
      await loginOk(app, `bob${t}@BÜCHER.DE`, GOOD_PASSWORD);
    });

    test.each([
      [
        "a zero-width space",
        (t: string) => `a\u200bda${t}@example.com`,
        /control|invisible/,
      ],
      ["a soft hyphen", (t: string) => `a\u00adda${t}@example.com`, /invisible/],
      [
        "a Cyrillic а among Latin",
        (t: string) => `\u0430da${t}@example.com`,
        /mix scripts/,
      ],
      [
        "a Greek ο among Latin",
        (t: string) => `b\u03bfb${t}@example.com`,
        /mix scripts/,
      ],
      [
        "a domain IDNA refuses",
        (t: string) => `ada${t}@exa mple.com`,
        /email address|domain/,
      ],
    ])("%s in the address: 422 on /email, nothing stored", async (_, make, message) => {
      const t = tag();
      const before = (await app.container.store.listUsers({ q: t, limit: 10 })).length;
      const body = await expectValidation(await register(make(t)), "/email");
      expect(body.errors?.[0]?.message).toMatch(message);
      expect((await app.container.store.listUsers({ q: t, limit: 10 })).length).toBe(
        before,
      );
    });

    test("one script is fine, whichever it is", async () => {
      const t = `${Date.now()}${++n}`; // digits are Common: they mix with any script
      const dima = await registerUser(app, `дмитрий${t}@пример.рф`);
      expect(dima.user.email).toBe(`дмитрий${t}@xn--e1afmkfd.xn--p1ai`);
      await registerUser(app, `山田たろう${t}@example.jp`);
    });
  });
}
