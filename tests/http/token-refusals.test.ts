/**
 * Issue 7, point 4: every rejected access token gets the same 401, whatever
 * the cause, so a client cannot learn whether a kid exists or whether a
 * stolen token's session was ended. The cause goes to the debug log as a
 * machine-readable `reason`, and the token never does.
 */
import { describe, expect, test } from "bun:test";
import { generateKeyPair, type JWTHeaderParameters, SignJWT } from "jose";
import { INVALID_TOKEN_DETAIL } from "../../src/core/errors.ts";
import { DIALECTS } from "../helpers/databases.ts";
import { registerUser, useTestApp } from "../helpers/harness.ts";
import { CLI, claimsOf, expectRejectedToken, headerOf, post } from "../helpers/http.ts";

for (const dialect of DIALECTS) {
  describe(`one 401 for every rejected access token [${dialect}]`, () => {
    const app = useTestApp(dialect);

    test("eight causes, one body; each cause logged as a reason, no token logged", async () => {
      const user = await registerUser(app);
      const header = headerOf(user.access_token) as JWTHeaderParameters;
      const claims = { ...claimsOf(user.access_token) };
      const signing = app.container.keyring.state().signing;
      if (!signing) throw new Error("no signing key");
      const sign = (h: JWTHeaderParameters, p: Record<string, unknown>) =>
        new SignJWT(p).setProtectedHeader(h).sign(signing.privateKey);
      const attacker = await generateKeyPair("EdDSA", { crv: "Ed25519" });
      const { kid: _, ...noKid } = header;

      const loggedOut = await registerUser(app);
      await post(app, "/auth/logout", { refresh_token: loggedOut.refresh_token });
      const deleted = await registerUser(app);
      await app.container.userAdmin.delete(deleted.user.id, CLI);
      const expiring = await registerUser(app);

      const cases: [string, string][] = [
        ["not_bearer", `Basic ${Buffer.from("a:b").toString("base64")}`],
        ["not_canonical", "Bearer not-a-jws"],
        ["not_canonical", `Bearer ${user.access_token}=`],
        ["no_kid", `Bearer ${await sign(noKid as JWTHeaderParameters, claims)}`],
        ["unknown_kid", `Bearer ${await sign({ ...header, kid: "nope" }, claims)}`],
        [
          "bad_signature",
          `Bearer ${await new SignJWT(claims).setProtectedHeader(header).sign(attacker.privateKey)}`,
        ],
        [
          "bad_claim_iss",
          `Bearer ${await sign(header, { ...claims, iss: "http://x" })}`,
        ],
        ["session_ended", `Bearer ${loggedOut.access_token}`],
        ["session_ended", `Bearer ${deleted.access_token}`],
      ];
      const bodies: unknown[] = [];
      const send = async (reason: string, authorization: string, i: number) => {
        const res = await app.request("GET", "/users/me", {
          headers: { authorization, "x-request-id": `refusal-${i}` },
        });
        const { request_id, ...body } = await expectRejectedToken(res);
        expect({ reason, detail: body.detail }).toEqual({
          reason,
          detail: INVALID_TOKEN_DETAIL,
        });
        bodies.push(body);
        const logged = app.logs.find(
          (l) => l.request_id === request_id && l.msg === "request refused",
        );
        expect({ reason, logged }).toMatchObject({
          reason,
          logged: { level: "debug", code: "invalid_token", reason },
        });
      };
      for (const [i, [reason, authorization]] of cases.entries())
        await send(reason, authorization, i);
      // Expired, last: the clock moves past the token's exp and the leeway.
      app.clock.advance((900 + 61) * 1000);
      await send("expired", `Bearer ${expiring.access_token}`, cases.length);

      for (const body of bodies) expect(body).toEqual(bodies[0] as object);
      const raw = app.rawLogs();
      for (const [, authorization] of cases) {
        const token = authorization.split(" ")[1] ?? "";
        if (token.length > 20) expect(raw).not.toContain(token);
      }
      expect(raw).not.toContain(expiring.access_token);
    });
  });
}
