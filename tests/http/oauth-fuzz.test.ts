/**
 * Random, hostile form bodies at the /oauth routes: whatever arrives, never a
 * 5xx, and every 4xx is an RFC 6749 §5.2 object (never problem+json).
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { signedInAs } from "../helpers/admin.ts";
import { DIALECTS } from "../helpers/databases.ts";
import { registerUser, useTestApp } from "../helpers/harness.ts";

const RUNS = 120;

// biome-ignore format: one character per slot reads best packed
const NASTY = fc.constantFrom(
  "\u0000", "\u001f", "\u007f", "\u0085", "\u200b", "\u202e", "\ufeff", "\ud800",
  "%", "%zz", "%00", "%ff", "+", "&", "=", ".", "..", "😀", "\n", "\\",
);
const unit = fc.oneof(NASTY, fc.string({ unit: "binary", minLength: 1, maxLength: 1 }));
const text = fc.string({ unit, maxLength: 60 });
const name = fc.constantFrom(
  "grant_type",
  "refresh_token",
  "token",
  "token_type_hint",
  "client_id",
  "__proto__",
  "constructor",
  "",
);
/** Form bodies: known and odd parameter names, repeated or not, any values. */
const body = fc.oneof(
  fc
    .array(fc.tuple(name, text), { maxLength: 6 })
    .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join("&")),
  text,
  fc.uint8Array({ maxLength: 200 }),
);
const contentType = fc.constantFrom(
  "application/x-www-form-urlencoded",
  "application/x-www-form-urlencoded; charset=utf-8",
  "application/json",
  "text/plain",
  "",
);
const path = fc.constantFrom("/oauth/token", "/oauth/revoke", "/oauth/introspect");

for (const dialect of DIALECTS) {
  describe(`/oauth fuzz [${dialect}]`, () => {
    const app = useTestApp(dialect);

    test(`${RUNS} random bodies: no 5xx, RFC-shaped errors`, async () => {
      const user = await registerUser(app);
      const service = await signedInAs(app, ["service"]);
      await fc.assert(
        fc.asyncProperty(
          path,
          body,
          contentType,
          fc.boolean(),
          async (p, b, type, auth) => {
            const headers: Record<string, string> = {};
            if (type) headers["content-type"] = type;
            if (auth) headers.authorization = `Bearer ${service.access_token}`;
            const res = await app.request("POST", p, { body: b, headers });
            const text = await res.text();
            const seen = { p, status: res.status, text };
            expect(seen.status).toBeLessThan(500);
            if (res.status >= 400) {
              expect(res.headers.get("content-type")).toBe("application/json");
              const parsed = JSON.parse(text) as { error?: unknown };
              expect({ ...seen, error: typeof parsed.error }).toMatchObject({
                error: "string",
              });
            }
          },
        ),
        { numRuns: RUNS },
      );
      // The user's session survived whatever was thrown at revoke.
      expect(
        (await app.request("GET", "/users/me", { token: user.access_token })).status,
      ).toBe(200);
    });
  });
}
