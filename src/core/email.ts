/**
 * One account per address however it is typed: emails are normalised before
 * they are stored or looked up, and addresses built to look like someone
 * else's are refused. The steps (docs/decisions.md, "Emails"):
 *
 * 1. trim, then NFKC and lower-case until stable: full-width `Ａda`, the `ﬁ`
 *    ligature and `ℌ` become `ada`, `fi` and `h`. Lower-casing (not full case
 *    folding) is deliberate: `ß` stays `ß` rather than becoming `ss`.
 * 2. refuse control, format (zero-width, bidi), private-use, unassigned and
 *    other default-ignorable characters anywhere;
 * 3. the domain through IDNA (UTS #46) to its ASCII form (`bücher.de` →
 *    `xn--bcher-kva.de`), refused when that fails or is not a host name;
 * 4. refuse a local part that mixes scripts (UTS #39 "highly restrictive"):
 *    one script plus Common and Inherited characters (digits, `.`, `+`, …),
 *    or Latin with Han and Japanese kana, with Han and Bopomofo, or with Han
 *    and Hangul. `аda` with a Cyrillic `а` is refused; `дмитрий` is fine.
 */
import { domainToASCII } from "node:url";
import { fieldError } from "./errors.ts";

export type EmailCheck = { ok: true; email: string } | { ok: false; problem: string };

const INVISIBLE =
  /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/u;

// Deliberately loose: one @, something on each side, no spaces. Deliverability
// is proven by verification mail, not by a regex.
const ADDRESS = /^[^\s@]{1,64}@[^\s@]{1,253}$/u;
const HOST_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const TLD = /^([a-z]{2,63}|xn--[a-z0-9-]{1,59})$/;

/** Scripts in the order they are tried (common ones first); unknown names are skipped. */
// biome-ignore format: a list of names reads best as one paragraph
const SCRIPT_NAMES = [
  "Latin", "Cyrillic", "Greek", "Han", "Hiragana", "Katakana", "Hangul", "Bopomofo",
  "Arabic", "Hebrew", "Devanagari", "Bengali", "Thai", "Armenian", "Georgian",
  "Tamil", "Telugu", "Kannada", "Malayalam", "Gujarati", "Gurmukhi", "Oriya",
  "Sinhala", "Lao", "Khmer", "Myanmar", "Tibetan", "Ethiopic", "Thaana", "Syriac",
  "Mongolian", "Cherokee", "Canadian_Aboriginal", "Yi", "Tifinagh", "Nko", "Vai",
  "Javanese", "Balinese", "Sundanese", "Adlam", "Ahom", "Anatolian_Hieroglyphs",
  "Avestan", "Bamum", "Bassa_Vah", "Batak", "Bhaiksuki", "Brahmi", "Braille",
  "Buginese", "Buhid", "Carian", "Caucasian_Albanian", "Chakma", "Cham",
  "Chorasmian", "Coptic", "Cuneiform", "Cypriot", "Cypro_Minoan", "Deseret",
  "Dives_Akuru", "Dogra", "Duployan", "Egyptian_Hieroglyphs", "Elbasan", "Elymaic",
  "Garay", "Glagolitic", "Gothic", "Grantha", "Gunjala_Gondi", "Gurung_Khema",
  "Hanifi_Rohingya", "Hanunoo", "Hatran", "Imperial_Aramaic", "Inscriptional_Pahlavi",
  "Inscriptional_Parthian", "Kaithi", "Kawi", "Kayah_Li", "Kharoshthi",
  "Khitan_Small_Script", "Khojki", "Khudawadi", "Kirat_Rai", "Lepcha", "Limbu",
  "Linear_A", "Linear_B", "Lisu", "Lycian", "Lydian", "Mahajani", "Makasar",
  "Mandaic", "Manichaean", "Marchen", "Masaram_Gondi", "Medefaidrin", "Meetei_Mayek",
  "Mende_Kikakui", "Meroitic_Cursive", "Meroitic_Hieroglyphs", "Miao", "Modi", "Mro",
  "Multani", "Nabataean", "Nag_Mundari", "Nandinagari", "New_Tai_Lue", "Newa",
  "Nushu", "Nyiakeng_Puachue_Hmong", "Ogham", "Ol_Chiki", "Ol_Onal", "Old_Hungarian",
  "Old_Italic", "Old_North_Arabian", "Old_Permic", "Old_Persian", "Old_Sogdian",
  "Old_South_Arabian", "Old_Turkic", "Old_Uyghur", "Osage", "Osmanya",
  "Pahawh_Hmong", "Palmyrene", "Pau_Cin_Hau", "Phags_Pa", "Phoenician",
  "Psalter_Pahlavi", "Rejang", "Runic", "Samaritan", "Saurashtra", "Sharada",
  "Shavian", "Siddham", "SignWriting", "Sogdian", "Sora_Sompeng", "Soyombo",
  "Sunuwar", "Syloti_Nagri", "Tagalog", "Tagbanwa", "Tai_Le", "Tai_Tham", "Tai_Viet",
  "Takri", "Tangsa", "Tangut", "Tirhuta", "Todhri", "Toto", "Tulu_Tigalari",
  "Ugaritic", "Vithkuqi", "Wancho", "Warang_Citi", "Yezidi", "Zanabazar_Square",
];

// Compiled on first use: `authctl --help` and the daemon's start need none.
let scripts: [string, RegExp][] | undefined;
const SCRIPTS = (): [string, RegExp][] =>
  (scripts ??= SCRIPT_NAMES.flatMap((name) => {
    try {
      return [[name, new RegExp(`^\\p{Script=${name}}$`, "u")] as [string, RegExp]];
    } catch {
      return []; // a script newer than this runtime's Unicode tables
    }
  }));
const COMMON_OR_INHERITED = /^[\p{Script=Common}\p{Script=Inherited}]$/u;

/** UTS #39 §5.2: the script sets a "highly restrictive" identifier may use. */
const ALLOWED_MIXES = [
  new Set(["Latin", "Han", "Hiragana", "Katakana"]),
  new Set(["Latin", "Han", "Bopomofo"]),
  new Set(["Latin", "Han", "Hangul"]),
];

/** The scripts of a string, Common and Inherited left out. */
function scriptsOf(text: string): Set<string> {
  const found = new Set<string>();
  for (const c of text) {
    if (COMMON_OR_INHERITED.test(c)) continue;
    found.add(SCRIPTS().find(([, re]) => re.test(c))?.[0] ?? `unknown:${c}`);
  }
  return found;
}

/** True when the string is "highly restrictive" in the sense of UTS #39. */
export function isSingleScript(text: string): boolean {
  const scripts = scriptsOf(text);
  if (scripts.size <= 1) return true;
  return ALLOWED_MIXES.some((mix) => [...scripts].every((s) => mix.has(s)));
}

/** NFKC and lower-case until neither changes anything (NFKC can make capitals: ℌ → H). */
function fold(text: string): string {
  let s = text;
  for (let i = 0; i < 4; i++) {
    const next = s.normalize("NFKC").toLowerCase();
    if (next === s) break;
    s = next;
  }
  return s;
}

/**
 * Normalises an address, or says why it cannot be one. Idempotent: the
 * result of a successful check checks to itself.
 */
export function checkEmail(raw: string): EmailCheck {
  const address = fold(raw.trim());
  const fail = (problem: string): EmailCheck => ({ ok: false, problem });
  if (INVISIBLE.test(address))
    return fail("must not contain control or invisible characters");
  if (!ADDRESS.test(address)) return fail("must be an email address");
  const at = address.lastIndexOf("@");
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (!isSingleScript(local))
    return fail(
      "must not mix scripts in the part before the @ (e.g. Latin and Cyrillic)",
    );
  // WHATWG's domainToASCII also percent-decodes; a host name never has a `%`.
  const ascii = domain.includes("%") ? "" : domainToASCII(domain);
  const labels = ascii.split(".");
  if (
    ascii.length === 0 ||
    ascii.length > 253 ||
    labels.length < 2 ||
    !labels.every((l) => HOST_LABEL.test(l)) ||
    !TLD.test(labels.at(-1) ?? "")
  )
    return fail("must have a valid domain");
  const email = `${local}@${ascii}`;
  return email.length <= 254 ? { ok: true, email } : fail("must be an email address");
}

/** The normalised address; a 422 on `/email` when it cannot be one. */
export function normalizeEmail(raw: string): string {
  const result = checkEmail(raw);
  if (!result.ok) throw fieldError("/email", result.problem);
  return result.email;
}

/**
 * How addresses were stored before NFKC, IDNA and the script rules: trimmed,
 * NFC, lower-cased. Only for finding rows the data step could not rewrite.
 */
export const legacyEmail = (raw: string): string =>
  raw.trim().normalize("NFC").toLowerCase();

/**
 * The key to look an address up by: its normalised form, or — when it cannot
 * be normalised — the legacy form, so that an account stored before these
 * rules (and reported by `authctl doctor`) can still sign in.
 */
export function lookupEmail(raw: string): string {
  const result = checkEmail(raw);
  return result.ok ? result.email : legacyEmail(raw);
}

/** True for an address that normalises. */
export const isValidEmail = (raw: string): boolean => checkEmail(raw).ok;
