import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { DIALECTS } from "../helpers/databases.ts";
import { createTestApp, registerUser, type TestApp } from "../helpers/harness.ts";

for (const dialect of DIALECTS) {
  describe(`smoke [${dialect}]`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(dialect);
    });
    afterAll(() => app.close());

    test("register then /users/me", async () => {
      const reg = await registerUser(app);
      const res = await app.request("GET", "/users/me", { token: reg.access_token });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { email: string }).email).toBe(reg.email);
    });
  });
}
