/**
 * Issue 7: a small property-based fuzz over every route that takes a body.
 * Random JSON of bounded size and depth, bodies shaped like the real ones
 * with strings full of control, invisible and look-alike characters, and
 * raw bytes that are not JSON or not UTF-8. Whatever arrives: never a 5xx,
 * every 4xx is problem+json. (Time is not asserted here: nothing in the suite
 * times a request. The nesting that stalled the loop is refused while parsing,
 * tests/http/hostile-input.test.ts, and speed is the bench's.)
 */
import { beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { DIALECTS } from "../helpers/databases.ts";
import { registerUser, type TokenBody, useTestApp } from "../helpers/harness.ts";

const RUNS = 150;

/** Characters that broke or fooled something before, and their neighbours. */
// biome-ignore format: one character per slot reads best packed
const NASTY = fc.constantFrom(
  "\u0000", "\u0001", "\u001f", "\u007f", "\u0085", "\u009f", "\u00ad",
  "\u061c", "\u200b", "\u200c", "\u200d", "\u200e", "\u202a", "\u202e",
  "\u2060", "\u2066", "\u2069", "\ufeff", "\ufffd", "\ud800", "\udfff",
  "\u0430", "\u03bf", "Ａ", "ﬁ", "ℌ", "ᴬ", "\u0301", "İ", "ß", "ǅ",
  "@", ".", "%00", "\\", "\"", "'", "\n", " ", "😀", "\u{E0001}",
);

const unit = fc.oneof(NASTY, fc.string({ unit: "binary", minLength: 1, maxLength: 1 }));
const text = fc.string({ unit, maxLength: 40 });
const emailish = fc
  .tuple(text, fc.constantFrom("example.com", "bücher.de", "xn--p1ai", "", "x"), text)
  .map(([local, domain, extra]) => `${local}@${domain}${extra}`);
// Shallow on purpose: deep nesting is the raw bodies' job below, and fast-check
// spends most of this suite's time generating deep JSON values.
const anyJson = fc.jsonValue({ maxDepth: 3, stringUnit: unit });
const field = fc.oneof(text, emailish, fc.jsonValue({ maxDepth: 1, stringUnit: unit }));

/** Bodies shaped like the real ones: the right keys, wrong values, extra keys. */
const shaped = fc.record(
  {
    email: field,
    password: field,
    name: fc.oneof(field, fc.constant(null)),
    refresh_token: field,
    current_password: field,
    new_password: field,
    [`x${"y".repeat(3)}`]: anyJson,
  },
  { requiredKeys: [] },
);

/** Raw bodies: not JSON, not UTF-8, or nested past the depth bound. */
const raw = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc.integer({ min: 1, max: 400 }).map((n) => "[".repeat(n) + "]".repeat(n)),
  fc.integer({ min: 1, max: 400 }).map((n) => `${'{"a":'.repeat(n)}1${"}".repeat(n)}`),
  text,
);

const body = fc.oneof(
  shaped.map((v) => JSON.stringify(v)),
  anyJson.map((v) => JSON.stringify(v)),
  raw,
);

/** Look-alike characters that pass the models and reach the core's own checks. */
const LOOKALIKE = fc.constantFrom(
  "\u0430",
  "\u03bf",
  "Ａ",
  "ｘ",
  "ﬁ",
  "ℌ",
  "ᴬ",
  "\u0301",
  "İ",
  "ß",
  "ǅ",
  "\u00ad",
  "😀",
  "\u{E0001}",
  "١",
  "山",
  "た",
  "김",
  "ㄅ",
);
const lookalikeText = fc.string({
  unit: fc.oneof(LOOKALIKE, fc.string({ minLength: 1, maxLength: 1 })),
  maxLength: 30,
});
const nearEmail = fc
  .tuple(
    fc.stringMatching(/^[a-z]{1,8}$/),
    fc.array(LOOKALIKE, { maxLength: 2 }),
    fc.constantFrom(
      "example.com",
      "EXAMPLE.com",
      "bücher.de",
      "пример.рф",
      "ｅxample.com",
    ),
  )
  .map(([local, odd, domain]) => `${local}${odd.join("")}@${domain}`);
const nearPassword = fc
  .tuple(
    fc.constantFrom("correct horse battery", "pässwörd ünïcödé", "zzzzzzzzzz"),
    lookalikeText,
  )
  .map(([base, odd]) => `${base}${odd}`);
const tokenish = fc.stringMatching(/^[A-Za-z0-9_-]{1,80}$/);

/** Each route with bodies of its own shape, close enough to pass validation often. */
const ROUTES = [
  [
    "POST",
    "/auth/register",
    false,
    fc.record(
      { email: nearEmail, password: nearPassword, name: fc.option(lookalikeText) },
      { requiredKeys: ["email", "password"] },
    ),
  ],
  [
    "POST",
    "/auth/login",
    false,
    fc.record({ email: nearEmail, password: nearPassword }),
  ],
  ["POST", "/auth/refresh", false, fc.record({ refresh_token: tokenish })],
  ["POST", "/auth/logout", false, fc.record({ refresh_token: tokenish })],
  [
    "PATCH",
    "/users/me",
    true,
    fc.record({ name: fc.option(lookalikeText) }, { requiredKeys: [] }),
  ],
  [
    "POST",
    "/users/me/password",
    true,
    fc.record({ current_password: nearPassword, new_password: nearPassword }),
  ],
  ["POST", "/auth/password/forgot", false, fc.record({ email: nearEmail })],
  [
    "POST",
    "/auth/password/reset",
    false,
    fc.record({ token: tokenish, new_password: nearPassword }),
  ],
  ["POST", "/auth/email/verify", false, fc.record({ token: tokenish })],
] as const;

const request = fc.oneof(
  ...ROUTES.map(([method, path, auth, near]) =>
    fc.tuple(
      fc.constant({ method, path, auth }),
      fc.oneof(
        near.map((v) => JSON.stringify(v)),
        body,
      ),
    ),
  ),
);

for (const dialect of DIALECTS) {
  describe(`fuzz: every body route [${dialect}]`, () => {
    const app = useTestApp(dialect);
    let user: TokenBody;
    beforeAll(async () => {
      user = await registerUser(app);
    });

    test(`${RUNS} random bodies: no 5xx, problem+json on every 4xx`, async () => {
      await fc.assert(
        fc.asyncProperty(
          request,
          fc.constantFrom("application/json", "application/json; charset=utf-8"),
          async ([{ method, path, auth }, payload], type) => {
            const headers: Record<string, string> = { "content-type": type };
            if (auth) headers.authorization = `Bearer ${user.access_token}`;
            const res = await app.handle(
              new Request(`http://authd.test${path}`, {
                method,
                headers,
                body: payload,
              }),
            );
            const text = await res.text();
            const seen = { path, status: res.status, text: text.slice(0, 300) };
            if (res.status >= 500) {
              // What the daemon logged for it says why: a failure must be diagnosable
              // from the CI log alone (fast-check adds the seed and the input).
              const errors = app.logs
                .filter((l) => l.level === "error" || l.level === "warn")
                .slice(-3);
              throw new Error(`5xx: ${JSON.stringify({ ...seen, errors })}`);
            }
            if (res.status >= 400) {
              expect(res.headers.get("content-type")).toBe("application/problem+json");
              const problem = JSON.parse(text) as { status: number; code: string };
              expect({ ...seen, code: typeof problem.code }).toMatchObject({
                code: "string",
              });
              expect(problem.status).toBe(res.status);
            }
          },
        ),
        { numRuns: RUNS },
      );
      // Whatever the fuzz did, the daemon still serves (the breaker is closed).
      expect((await app.request("GET", "/readyz")).status).toBe(200);
    });
  });
}
