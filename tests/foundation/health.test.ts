import { afterEach, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { createContainer } from "../../src/container.ts";
import { createHandler } from "../../src/http/app.ts";
import { createLogger } from "../../src/infra/logger.ts";
import { DIALECTS } from "../helpers/databases.ts";
import { createTestApp, type TestApp } from "../helpers/harness.ts";
import { expectProblem } from "../helpers/http.ts";

interface Readiness {
  status?: string;
  detail?: string;
  checks: Record<string, string>;
}

for (const dialect of DIALECTS) {
  describe(`health [${dialect}]`, () => {
    let app: TestApp;
    afterEach(() => app.close());

    test("GET /healthz: 200 {status: ok}", async () => {
      app = await createTestApp(dialect);
      const res = await app.request("GET", "/healthz");
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toStartWith("application/json");
      expect(await res.json()).toEqual({ status: "ok" });
    });

    test("GET /readyz: 200 when storage, migrations and signing key are fine", async () => {
      app = await createTestApp(dialect);
      const res = await app.request("GET", "/readyz");
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        status: "ok",
        checks: { storage: "ok", migrations: "ok", signing_key: "ok" },
      });
    });

    test("GET /readyz: 503 naming migrations when one is not applied", async () => {
      app = await createTestApp(dialect);
      const database = app.container.database;
      if (database.dialect === "pg") {
        await database.db.execute(sql`delete from "drizzle"."__drizzle_migrations"`);
      } else {
        database.db.run(sql`delete from "__drizzle_migrations"`);
      }
      const res = await app.request("GET", "/readyz");
      const body = (await expectProblem(
        res,
        503,
        "unavailable",
      )) as unknown as Readiness;
      expect(body.checks).toEqual({
        storage: "ok",
        migrations: "failing",
        signing_key: "ok",
      });
      expect(body.detail).toContain("migrations");
      expect(body.detail).not.toContain("storage");
    });

    test("GET /readyz: 503 naming signing_key before the keys are loaded", async () => {
      app = await createTestApp(dialect);
      // A second daemon on the same, migrated storage that has not loaded its keys.
      const cold = await createContainer(app.config, {
        database: app.container.database,
        logger: createLogger("silent"),
        clock: app.clock,
      });
      try {
        const handle = createHandler(cold);
        const res = await handle(new Request("http://authd.test/readyz"));
        const body = (await expectProblem(
          res,
          503,
          "unavailable",
        )) as unknown as Readiness;
        expect(body.checks).toEqual({
          storage: "ok",
          migrations: "ok",
          signing_key: "failing",
        });
        expect(body.detail).toContain("signing_key");
        await cold.keyring.refresh();
        expect((await handle(new Request("http://authd.test/readyz"))).status).toBe(
          200,
        );
      } finally {
        await cold.close();
      }
    });
  });
}
