/**
 * Issue 7, point 5: the email normalisation, as a table. What it does to
 * whole requests (look-alike accounts over HTTP) is tests/http/email-lookalikes.
 */
import { describe, expect, test } from "bun:test";
import { checkEmail, isSingleScript, lookupEmail } from "../../src/core/email.ts";

describe("checkEmail normalises", () => {
  test.each([
    ["  Ada@Example.COM ", "ada@example.com"],
    ["Ａda@example.com", "ada@example.com"], // full-width A
    ["ＡＤＡ＠ＥＸＡＭＰＬＥ．ＣＯＭ", "ada@example.com"], // full-width @ and . too
    ["ﬁnn@example.com", "finn@example.com"], // the fi ligature
    ["ℌello@example.com", "hello@example.com"], // NFKC makes a capital, then lower
    ["ᴬda@example.com", "ada@example.com"], // a modifier capital
    ["cafe\u0301@example.com", "café@example.com"], // combining accent composed
    ["ada@bücher.de", "ada@xn--bcher-kva.de"], // IDNA to ASCII
    ["ada@BÜCHER.de", "ada@xn--bcher-kva.de"],
    ["ada@xn--bcher-kva.de", "ada@xn--bcher-kva.de"],
    ["дмитрий@пример.рф", "дмитрий@xn--e1afmkfd.xn--p1ai"], // one script: fine
    ["山田taro@example.jp", "山田taro@example.jp"], // Han + Latin
    ["やまだタロウ山田@example.jp", "やまだタロウ山田@example.jp"], // Japanese mix
    ["김minsu@example.kr", "김minsu@example.kr"], // Hangul + Latin
    ["straße@example.de", "straße@example.de"], // lower-cased, not case-folded
    ["user+tag.1@example.com", "user+tag.1@example.com"],
  ])("%s → %s", (raw, email) => {
    expect(checkEmail(raw)).toEqual({ ok: true, email });
    // Idempotent: the normal form is its own normal form.
    expect(checkEmail(email)).toEqual({ ok: true, email });
  });
});

describe("checkEmail refuses", () => {
  test.each([
    ["a\u200bda@example.com", /invisible/], // zero-width space
    ["a\u00adda@example.com", /invisible/], // soft hyphen
    ["ada\u202e@example.com", /invisible/], // right-to-left override
    ["ada@exa\u200dmple.com", /invisible/],
    ["\u0430da@example.com", /mix scripts/], // Cyrillic а + Latin
    ["pаypal@example.com", /mix scripts/],
    ["αda@example.com", /mix scripts/], // Greek + Latin
    ["дмитрийd@example.com", /mix scripts/],
    ["ada", /email address/],
    ["a@b@", /valid domain|email address/],
    ["ada@localhost", /valid domain/],
    ["ada@1.2.3.4", /valid domain/],
    ["ada@[::1]", /valid domain/],
    ["ada@ex%41mple.com", /valid domain/],
    ["ada@-example.com", /valid domain/],
    ["ada@example.com.", /valid domain/],
    ["ada@exa mple.com", /email address/],
    [`${"a".repeat(65)}@example.com`, /email address/],
  ])("%s", (raw, problem) => {
    const result = checkEmail(raw);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problem).toMatch(problem);
  });
});

describe("highly restrictive (UTS #39)", () => {
  test.each([
    ["ada", true],
    ["ada.lovelace+1", true],
    ["山田たろう", true],
    ["山田ㄅㄆ", true], // Han + Bopomofo
    ["latin김", true],
    ["latinｶﾀｶﾅ".normalize("NFKC"), true],
    ["ㄅ김", false], // Bopomofo + Hangul is no allowed set
    ["たろう김", false],
    ["adа", false],
    ["ελληνικάabc", false],
  ])("%s → %s", (text, ok) => {
    expect(isSingleScript(text)).toBe(ok);
  });
});

describe("lookupEmail", () => {
  test("the normal form when there is one, else the legacy form (trim, NFC, lower)", () => {
    expect(lookupEmail(" Ａda@Example.com")).toBe("ada@example.com");
    expect(lookupEmail(" \u0430DA@Example.com ")).toBe("\u0430da@example.com");
  });
});
