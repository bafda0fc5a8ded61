/**
 * BREACHED_PASSWORD_CHECK=hibp against a real local server that speaks the
 * Have I Been Pwned range API: register and password change refuse a
 * breached password with 422 `password_breached`; only 5 hex characters of
 * the SHA-1 leave the host; a slow or dead service fails open with a warning,
 * and once its breaker is open no request waits for it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { DIALECTS } from "../helpers/databases.ts";
import {
  createTestApp,
  GOOD_PASSWORD,
  registerUser,
  type TestApp,
  uniqueEmail,
} from "../helpers/harness.ts";
import {
  type HibpServer,
  refusingUrl,
  startHibpServer,
} from "../helpers/hibp-server.ts";
import { expectProblem, expectTokens, login, post } from "../helpers/http.ts";

const BREACHED = "monkey business 1999";
const PADDING_ONLY = "listed only as padding 42";
const FRESH = "nobody has this one yet 7";

const sha1 = (p: string) => createHash("sha1").update(p).digest("hex").toUpperCase();

const register = (app: TestApp, password: string, email = uniqueEmail("hibp")) =>
  post(app, "/auth/register", { email, password });

const warnings = (app: TestApp) =>
  app.logs.filter((l) => l.level === "warn" && String(l.msg).includes("breached"));

for (const dialect of DIALECTS) {
  describe(`breached passwords [${dialect}]`, () => {
    let hibp: HibpServer;
    let app: TestApp;
    beforeAll(async () => {
      hibp = startHibpServer({ [BREACHED]: 3_861_493, [PADDING_ONLY]: 0 });
      app = await createTestApp(dialect, {
        BREACHED_PASSWORD_CHECK: "hibp",
        HIBP_URL: hibp.url,
        HIBP_TIMEOUT_MS: "200",
      });
    });
    afterAll(async () => {
      await app.close();
      await hibp.stop();
    });

    test("register refuses a breached password with 422 password_breached and stores nothing", async () => {
      const email = uniqueEmail("breached");
      const res = await register(app, BREACHED, email);
      const body = await expectProblem(res, 422, "password_breached");
      expect(body.errors?.map((e) => e.path)).toEqual(["/password"]);
      expect(await app.container.store.findUserByEmail(email)).toBeNull();
    });

    test("only the first 5 hex characters of the SHA-1 leave the host, with Add-Padding", async () => {
      const before = hibp.requests.length;
      await register(app, BREACHED);
      const sent = hibp.requests.slice(before);
      expect(sent).toEqual([
        { path: `/range/${sha1(BREACHED).slice(0, 5)}`, padding: "true" },
      ]);
      expect(app.rawLogs()).not.toContain(sha1(BREACHED).slice(0, 5));
      expect(app.rawLogs()).not.toContain(BREACHED);
    });

    test("padding lines (count 0) and unlisted passwords are accepted", async () => {
      expect((await register(app, PADDING_ONLY)).status).toBe(201);
      expect((await register(app, FRESH)).status).toBe(201);
    });

    test("password change refuses a breached new password; the old one keeps working", async () => {
      const user = await registerUser(app, uniqueEmail("changer"));
      const res = await post(
        app,
        "/users/me/password",
        { current_password: GOOD_PASSWORD, new_password: BREACHED },
        user.access_token,
      );
      const body = await expectProblem(res, 422, "password_breached");
      expect(body.errors?.map((e) => e.path)).toEqual(["/new_password"]);
      await expectTokens(await login(app, user.email, GOOD_PASSWORD));
      expect((await login(app, user.email, BREACHED)).status).toBe(401);
    });

    test("the check is screened after the policy: a short password is a 422 without a lookup", async () => {
      const before = hibp.requests.length;
      await expectProblem(await register(app, "short"), 422, "validation_failed");
      expect(hibp.requests.length).toBe(before);
    });

    test("a failing service fails open with a warning; its open breaker makes nobody wait", async () => {
      hibp.setMode("slow");
      const before = hibp.requests.length;
      // Three lookups time out (HIBP_TIMEOUT_MS) and open the breaker.
      for (let i = 0; i < 3; i++)
        expect((await register(app, BREACHED)).status).toBe(201);
      expect(hibp.requests.length).toBe(before + 3);
      expect(warnings(app).filter((l) => l.reason === "timeout")).toHaveLength(3);

      // Open: the password is accepted without a request reaching the service.
      expect((await register(app, BREACHED)).status).toBe(201);
      expect(hibp.requests.length).toBe(before + 3);
      expect(warnings(app).filter((l) => l.reason === "circuit_open")).toHaveLength(1);
      expect(app.rawLogs()).not.toContain(BREACHED);
      hibp.setMode("ok");
    });
  });

  describe(`breached passwords, service down [${dialect}]`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(dialect, {
        BREACHED_PASSWORD_CHECK: "hibp",
        HIBP_URL: await refusingUrl(),
      });
    });
    afterAll(() => app.close());

    test("refused connections: the password is accepted and a warning logged", async () => {
      expect((await register(app, BREACHED)).status).toBe(201);
      expect(warnings(app).map((l) => l.reason)).toEqual(["unavailable"]);
    });
  });

  describe(`breached passwords off [${dialect}]`, () => {
    let hibp: HibpServer;
    let app: TestApp;
    beforeAll(async () => {
      hibp = startHibpServer({ [BREACHED]: 10 });
      app = await createTestApp(dialect, { HIBP_URL: hibp.url });
    });
    afterAll(async () => {
      await app.close();
      await hibp.stop();
    });

    test("BREACHED_PASSWORD_CHECK=off (the default) asks nobody", async () => {
      expect(app.config.BREACHED_PASSWORD_CHECK).toBe("off");
      expect((await register(app, BREACHED)).status).toBe(201);
      expect(hibp.requests).toEqual([]);
    });
  });
}
