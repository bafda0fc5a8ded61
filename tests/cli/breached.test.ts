/**
 * `authctl admin create`, `users create` and `users set-password` with
 * BREACHED_PASSWORD_CHECK=hibp, against a real local range-API server: a
 * breached password is refused (exit 1, nothing written), like over HTTP.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Container } from "../../src/container.ts";
import { DIALECTS } from "../helpers/databases.ts";
import { GOOD_PASSWORD } from "../helpers/harness.ts";
import { type HibpServer, startHibpServer } from "../helpers/hibp-server.ts";
import {
  type CliDatabase,
  createCliDatabase,
  expectFailure,
} from "./authctl-process.ts";

const BREACHED = "monkey business 1999";
const REFUSAL = "password appears in a public data breach";

for (const dialect of DIALECTS) {
  describe(`authctl refuses breached passwords [${dialect}]`, () => {
    let db: CliDatabase;
    let c: Container;
    let hibp: HibpServer;
    let env: Record<string, string>;
    beforeAll(async () => {
      hibp = startHibpServer({ [BREACHED]: 1234 });
      db = await createCliDatabase(dialect);
      expect((await db.run(["migrate", "up"])).code).toBe(0);
      c = await db.container();
      env = { BREACHED_PASSWORD_CHECK: "hibp", HIBP_URL: hibp.url };
    });
    afterAll(async () => {
      await db?.drop();
      await hibp?.stop();
    });

    const exists = async (email: string) =>
      c.userAdmin.get(email).then(
        () => true,
        () => false,
      );

    test("admin create and users create: exit 1, no user", async () => {
      for (const args of [
        ["admin", "create", "--email", "root@example.com", "--password-stdin"],
        ["users", "create", "--email", "ada@example.com", "--password-stdin"],
      ]) {
        const r = await db.run(args, { stdin: `${BREACHED}\n`, env });
        expectFailure(r, 1, REFUSAL);
      }
      expect(await exists("root@example.com")).toBe(false);
      expect(await exists("ada@example.com")).toBe(false);
      expect(hibp.requests.length).toBe(2);
    });

    test("set-password: exit 1, the old password still works", async () => {
      const created = await db.run(
        ["users", "create", "--email", "bob@example.com", "--password-stdin"],
        { stdin: `${GOOD_PASSWORD}\n`, env },
      );
      expect(created.code).toBe(0);
      const r = await db.run(
        ["users", "set-password", "bob@example.com", "--password-stdin"],
        {
          stdin: `${BREACHED}\n`,
          env,
        },
      );
      expectFailure(r, 1, REFUSAL);
      const login = await db.http("POST", "/auth/login", {
        json: { email: "bob@example.com", password: GOOD_PASSWORD },
      });
      expect(login.status).toBe(200);
    });
  });
}
