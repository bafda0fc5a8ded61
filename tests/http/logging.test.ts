import { describe, expect, test } from "bun:test";
import { DIALECTS } from "../helpers/databases.ts";
import { uniqueEmail, useTestApp } from "../helpers/harness.ts";
import {
  expectTokens,
  login,
  loginOk,
  me,
  post,
  refresh,
  refreshOk,
} from "../helpers/http.ts";

for (const dialect of DIALECTS) {
  describe(`secrets stay out of the logs [${dialect}]`, () => {
    const app = useTestApp(dialect);

    test("a full token lifecycle logs requests but no password, token or hash", async () => {
      const email = uniqueEmail("logs");
      const password = "logged nowhere passphrase";
      const newPassword = "also never logged passphrase";
      const secrets: string[] = [password, newPassword];

      const reg = await expectTokens(
        await post(app, "/auth/register", { email, password }),
        201,
      );
      const logged = await loginOk(app, email, password);
      await login(app, email, "wrong but long passphrase");
      secrets.push("wrong but long passphrase");
      const rotated = await refreshOk(app, reg.refresh_token);
      await refresh(app, reg.refresh_token); // a repeat inside the window
      await me(app, rotated.access_token);
      await post(
        app,
        "/users/me/password",
        { current_password: password, new_password: newPassword },
        rotated.access_token,
      );
      await post(app, "/auth/register", { email, password: "12345678" });
      await post(app, "/auth/logout", { refresh_token: logged.refresh_token });
      for (const t of [reg, logged, rotated])
        secrets.push(t.access_token, t.refresh_token);
      const hash = (await app.container.store.findUserByEmail(email))?.passwordHash;
      secrets.push(hash ?? "no hash");

      const raw = app.rawLogs();
      // The flow was logged (so the check below searched real output)…
      const requests = app.logs.filter((l) => l.msg === "request");
      expect(requests.length).toBeGreaterThanOrEqual(9);
      expect(requests.map((l) => l.route)).toContain("/auth/refresh");
      // …and none of it carries a secret, nor the signature part of a JWT.
      for (const secret of secrets) expect(raw).not.toContain(secret);
      for (const t of [reg, logged, rotated]) {
        expect(raw).not.toContain(t.access_token.split(".")[2] ?? "none");
      }
    });
  });
}
