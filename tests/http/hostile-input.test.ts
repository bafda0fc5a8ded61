/**
 * Issue 7, points 1a, 2 and 6 (UTF-8): bodies a hostile client sends to make
 * the database fail, the event loop stall or two strings collide. Each is
 * answered with a 4xx problem, changes nothing, and leaves the daemon serving.
 */
import { describe, expect, test } from "bun:test";
import { MAX_JSON_DEPTH } from "../../src/http/body.ts";
import { MAX_REPORTED_ERRORS } from "../../src/http/validation.ts";
import { DIALECTS } from "../helpers/databases.ts";
import {
  GOOD_PASSWORD,
  registerUser,
  type TestApp,
  uniqueEmail,
  useTestApp,
} from "../helpers/harness.ts";
import {
  expectProblem,
  expectValidation,
  liveSessionIds,
  loginOk,
  post,
} from "../helpers/http.ts";

/** One of each kind the models refuse, named for the failure message. */
const FORBIDDEN: [string, string][] = [
  ["NUL", "\u0000"],
  ["a C0 control", "\u001f"],
  ["DEL", "\u007f"],
  ["a C1 control", "\u0085"],
  ["the Arabic letter mark", "\u061c"],
  ["a zero-width space", "\u200b"],
  ["a zero-width joiner", "\u200d"],
  ["a left-to-right mark", "\u200e"],
  ["a right-to-left override", "\u202e"],
  ["a word joiner", "\u2060"],
  ["a first-strong isolate", "\u2068"],
  ["a byte-order mark", "\ufeff"],
  ["a lone surrogate", "\ud800"],
];

const UNSAFE =
  "must not contain control, invisible or bidirectional-override characters";

const rawPost = (app: TestApp, path: string, body: string | Uint8Array) =>
  app.request("POST", path, { headers: { "content-type": "application/json" }, body });

const userCount = async (app: TestApp) =>
  (await app.container.store.listUsers({ limit: 10_000 })).length;

for (const dialect of DIALECTS) {
  describe(`control and invisible characters are refused [${dialect}]`, () => {
    const app = useTestApp(dialect);

    test("the exact NUL login from the issue, ten times: 422, and storage stays up", async () => {
      const body = '{"email":"a\\u0000b@x.io","password":"xxxxxxxxxx"}';
      for (let i = 0; i < 10; i++) {
        const problem = await expectValidation(
          await rawPost(app, "/auth/login", body),
          "/email",
        );
        expect(problem.errors?.[0]?.message).toBe(UNSAFE);
      }
      expect((await app.request("GET", "/readyz")).status).toBe(200);
      const user = await registerUser(app);
      await loginOk(app, user.email, user.password);
    });

    test.each(FORBIDDEN)(
      "%s in any field of any body: 422 naming the field",
      async (_, c) => {
        const user = await registerUser(app);
        const before = await userCount(app);
        const sessions = await liveSessionIds(app, user.user.id);
        const cases: [string, string, Record<string, unknown>, string, string?][] = [
          [
            "POST",
            "/auth/register",
            { email: `a${c}b@x.io`, password: GOOD_PASSWORD },
            "/email",
          ],
          [
            "POST",
            "/auth/register",
            { email: uniqueEmail(), password: `${GOOD_PASSWORD}${c}` },
            "/password",
          ],
          [
            "POST",
            "/auth/register",
            { email: uniqueEmail(), password: GOOD_PASSWORD, name: `Ada${c}` },
            "/name",
          ],
          [
            "POST",
            "/auth/login",
            { email: user.email, password: `x${c}xxxxxxxxx` },
            "/password",
          ],
          [
            "POST",
            "/auth/refresh",
            { refresh_token: `${user.refresh_token}${c}` },
            "/refresh_token",
          ],
          [
            "POST",
            "/auth/logout",
            { refresh_token: `${c}${user.refresh_token}` },
            "/refresh_token",
          ],
          ["PATCH", "/users/me", { name: `${c}Ada` }, "/name", user.access_token],
          [
            "POST",
            "/users/me/password",
            { current_password: user.password, new_password: `new ${c} passphrase` },
            "/new_password",
            user.access_token,
          ],
          [
            "POST",
            "/users/me/password",
            { current_password: `${c}`, new_password: "a new passphrase" },
            "/current_password",
            user.access_token,
          ],
        ];
        for (const [method, path, json, field, token] of cases) {
          const res = await app.request(
            method,
            path,
            token ? { json, token } : { json },
          );
          const problem = await expectValidation(res, field);
          expect({ path, field, message: problem.errors?.[0]?.message }).toEqual({
            path,
            field,
            message: UNSAFE,
          });
        }
        // Nothing changed: no user, no session, no new name, the old password works.
        expect(await userCount(app)).toBe(before);
        expect(await liveSessionIds(app, user.user.id)).toEqual(sessions);
        expect((await app.container.store.findUserById(user.user.id))?.name).toBeNull();
      },
    );

    test.each([
      "%00",
      "%1F",
      "%7F",
      "%C2%85",
      "%E2%80%8B",
      "%E2%80%AE",
      "%EF%BB%BF",
      "abc%00def",
    ])("%s in a path parameter: 422 on /params/id", async (encoded) => {
      const user = await registerUser(app);
      const res = await app.request("DELETE", `/users/me/sessions/${encoded}`, {
        token: user.access_token,
      });
      const problem = await expectValidation(res, "/params/id");
      expect(problem.errors?.[0]?.message).toBe(UNSAFE);
      expect(await liveSessionIds(app, user.user.id)).toHaveLength(1);
    });

    test.each(["%FF", "%ED%A0%80", "%C0%AF", "%", "%zz"])(
      "%s (not UTF-8 once decoded) in a path parameter: a 4xx, never a 500",
      async (encoded) => {
        const user = await registerUser(app);
        const res = await app.request("DELETE", `/users/me/sessions/${encoded}`, {
          token: user.access_token,
        });
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expect(res.headers.get("content-type")).toBe("application/problem+json");
        expect(await liveSessionIds(app, user.user.id)).toHaveLength(1);
      },
    );

    test("the exact PATCH and DELETE from the issue, ten times each: 422, storage stays up", async () => {
      const user = await registerUser(app);
      for (let i = 0; i < 10; i++) {
        const patch = await app.request("PATCH", "/users/me", {
          headers: {
            "content-type": "application/json",
            authorization: `Bearer ${user.access_token}`,
          },
          body: '{"name":"a\\u0000b"}',
        });
        await expectValidation(patch, "/name");
        const del = await app.request("DELETE", "/users/me/sessions/%00", {
          token: user.access_token,
        });
        await expectValidation(del, "/params/id");
      }
      expect((await app.request("GET", "/readyz")).status).toBe(200);
      expect(
        (await app.request("GET", "/users/me", { token: user.access_token })).status,
      ).toBe(200);
    });

    test("ordinary non-ASCII text is still welcome", async () => {
      const user = await registerUser(
        app,
        uniqueEmail("intl"),
        "pässwörd ünïcödé 密码 🔐",
      );
      const res = await app.request("PATCH", "/users/me", {
        json: { name: "Zoë 李 Ørsted 🚀" },
        token: user.access_token,
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { name: string }).name).toBe("Zoë 李 Ørsted 🚀");
      await loginOk(app, user.email, user.password);
    });
  });

  describe(`deep, wide and undecodable bodies [${dialect}]`, () => {
    const app = useTestApp(dialect);

    test("the issue's 64 KB register body, `name` an array nested 32,000 deep: 400", async () => {
      const depth = 32_000;
      const body = `{"email":"${uniqueEmail()}","password":"${GOOD_PASSWORD}","name":${"[".repeat(depth)}${"]".repeat(depth)}}`;
      expect(body.length).toBeLessThanOrEqual(65_536);
      const problem = await expectProblem(
        await rawPost(app, "/auth/register", body),
        400,
        "malformed_body",
      );
      expect(problem.detail).toContain(`deeper than ${MAX_JSON_DEPTH}`);
    });

    test("the issue's 60 KB object nested 10,000 deep, four at once: 400 each, /healthz answers meanwhile", async () => {
      const depth = 10_000;
      const body = `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
      expect(body.length).toBeGreaterThan(60_000);
      const before = await userCount(app);
      const deep = [1, 2, 3, 4].map(() => rawPost(app, "/auth/register", body));
      const health = app.request("GET", "/healthz");
      const [healthz, ...responses] = await Promise.all([health, ...deep]);
      expect(healthz?.status).toBe(200);
      for (const res of responses) await expectProblem(res, 400, "malformed_body");
      expect(await userCount(app)).toBe(before);
    });

    test("depth is counted outside strings only, and 32 levels are still parsed", async () => {
      // Brackets inside a string (escaped quotes too) are text, not nesting.
      const inString = JSON.stringify({
        email: "a@x.io",
        password: `\\"${"[".repeat(100)}`,
      });
      await expectProblem(
        await rawPost(app, "/auth/login", inString),
        401,
        "invalid_credentials",
      );
      const nest = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;
      const at = `{"email":"a@x.io","password":"xxxxxxxxxx","x":${nest(MAX_JSON_DEPTH - 1)}}`;
      await expectValidation(await rawPost(app, "/auth/login", at), "/x");
      const over = `{"email":"a@x.io","password":"xxxxxxxxxx","x":${nest(MAX_JSON_DEPTH)}}`;
      await expectProblem(
        await rawPost(app, "/auth/login", over),
        400,
        "malformed_body",
      );
    });

    test(`a body with thousands of wrong fields reports at most ${MAX_REPORTED_ERRORS}, paths bounded`, async () => {
      const fields: Record<string, number> = {};
      for (let i = 0; i < 3000; i++) fields[`f${i}`] = i;
      fields["k".repeat(5000)] = 1;
      const res = await post(app, "/auth/register", fields);
      const problem = await expectProblem(res, 422, "validation_failed");
      expect(problem.errors?.length).toBe(MAX_REPORTED_ERRORS);
      for (const e of problem.errors ?? [])
        expect(e.path.length).toBeLessThanOrEqual(201);
    });

    test("a member named toString, in any object: 422 with its path, never a 500", async () => {
      // The fuzz's counterexample first: Elysia's validation report
      // stringified {"toString":null} and threw.
      const email = uniqueEmail("tostring");
      const cases: [string, string, string][] = [
        ["/auth/login", '{"email":{"toString":null}}', "/email/toString"],
        ["/auth/login", '{"email":{"toString":1},"password":"x"}', "/email/toString"],
        [
          "/auth/register",
          `{"email":"${email}","password":"${GOOD_PASSWORD}","name":[{"toString":"x"}]}`,
          "/name/0/toString",
        ],
        [
          "/auth/register",
          `{"email":"${email}","password":"${GOOD_PASSWORD}","to\\u0053tring":1}`,
          "/toString",
        ],
        [
          "/auth/refresh",
          '{"refresh_token":{"a/b~":{"toString":{}}}}',
          "/refresh_token/a~1b~0/toString",
        ],
      ];
      for (const [path, body, pointer] of cases)
        await expectValidation(await rawPost(app, path, body), pointer);
      expect(await app.container.store.findUserByEmail(email)).toBeNull();
      // A route that takes no body ignores it, this one as any other.
      for (const body of ['{"toString":null}', '{"anything":1}']) {
        const res = await app.request("POST", "/auth/email/verify/request", {
          token: (await registerUser(app)).access_token,
          headers: { "content-type": "application/json" },
          body,
        });
        expect(res.status).toBe(202);
      }
      // The name is only refused as a member: as a string it is ordinary text.
      const ok = await post(app, "/auth/register", {
        email,
        password: GOOD_PASSWORD,
        name: "toString",
      });
      expect(ok.status).toBe(201);
    });

    test("a body that is not valid UTF-8: 400, not a password with U+FFFD in it", async () => {
      const email = uniqueEmail("utf8");
      const prefix = new TextEncoder().encode(
        `{"email":"${email}","password":"correct horse `,
      );
      const suffix = new TextEncoder().encode(' staple"}');
      for (const bad of [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xc0, 0xaf]]) {
        const body = new Uint8Array([...prefix, ...bad, ...suffix]);
        const problem = await expectProblem(
          await rawPost(app, "/auth/register", body),
          400,
          "malformed_body",
        );
        expect(problem.detail).toBe("the body is not valid UTF-8");
      }
      expect(await app.container.store.findUserByEmail(email)).toBeNull();
    });
  });
}
