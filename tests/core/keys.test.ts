/**
 * The signing-key lifecycle (src/core/keys.ts) in process, on each dialect,
 * with the fake clock: when a rotation is refused, when it is allowed without
 * --force, and exactly when a retired key may be pruned. `authctl keys …`
 * (tests/cli/keys.test.ts) runs the same code as a process.
 */
import { describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/config.ts";
import { createContainer } from "../../src/container.ts";
import { migrateUp } from "../../src/db/migrate.ts";
import { LEEWAY_SECONDS } from "../../src/infra/jwt.ts";
import { createLogger } from "../../src/infra/logger.ts";
import { createTestDatabase, DIALECTS } from "../helpers/databases.ts";
import { TEST_ENV, useTestApp } from "../helpers/harness.ts";
import { CLI } from "../helpers/http.ts";

/** ACCESS_TOKEN_TTL + leeway + KEY_REFRESH_INTERVAL, the defaults. */
const RETENTION_MS = (900 + LEEWAY_SECONDS + 10) * 1000;
/** JWKS_MAX_AGE (60 in TEST_ENV) + KEY_REFRESH_INTERVAL. */
const MIN_ROTATION_MS = (60 + 10) * 1000;

for (const dialect of DIALECTS) {
  describe(`key manager [${dialect}]`, () => {
    const app = useTestApp(dialect);
    const keys = () => app.container.keys;
    const stateOf = async () =>
      Object.fromEntries((await keys().listKeys()).map((k) => [k.kid, k.state]));

    test("ensureKeys is a no-op once keys exist", async () => {
      const before = await stateOf();
      expect(Object.values(before).sort()).toEqual(["current", "next"]);
      expect(await keys().ensureKeys(CLI)).toBe(false);
      expect(await stateOf()).toEqual(before);
    });

    test("rotate without --force: refused until the next key is old enough, then allowed", async () => {
      const next = (await keys().listKeys()).find((k) => k.state === "next");
      const age = app.clock.now().getTime() - (next?.createdAt.getTime() ?? 0);
      app.clock.advance(MIN_ROTATION_MS - age - 1000);
      const before = await stateOf();
      await expect(keys().rotate(CLI)).rejects.toMatchObject({
        code: "conflict",
        message: expect.stringContaining("verifiers may not know it for 70 s"),
      });
      expect(await stateOf()).toEqual(before);

      app.clock.advance(1000);
      const rotated = await keys().rotate(CLI);
      expect(rotated.current).toBe(next?.kid ?? "missing");
      const listed = await keys().listKeys();
      const retired = listed.find((k) => k.state === "retired");
      expect(retired?.retiredAt?.getTime()).toBe(app.clock.now().getTime());
      expect(retired?.prunableAt?.getTime()).toBe(
        app.clock.now().getTime() + RETENTION_MS,
      );
      for (const k of listed.filter((x) => x.state !== "retired")) {
        expect(k.prunableAt).toBeNull();
      }
      expect(JSON.stringify(listed)).not.toContain("privateKeySealed");
    });

    test("prune: nothing one millisecond before the retention ends, the key at it", async () => {
      const retired = (await keys().listKeys()).filter((k) => k.state === "retired");
      expect(retired).toHaveLength(1);
      const [key] = retired;
      const due = (key?.retiredAt?.getTime() ?? 0) + RETENTION_MS;
      app.clock.set(new Date(due - 1));
      expect(await keys().prune(CLI)).toEqual([]);
      expect(
        await app.container.store.listAudit({ action: "key.prune", limit: 5 }),
      ).toEqual([]);
      app.clock.set(new Date(due));
      expect(await keys().prune(CLI)).toEqual([key?.kid ?? "missing"]);
      expect(Object.values(await stateOf()).sort()).toEqual(["current", "next"]);
      const [event] = await app.container.store.listAudit({
        action: "key.prune",
        limit: 5,
      });
      expect(event).toMatchObject({ actorId: "cli", detail: { kids: [key?.kid] } });
    });
  });

  describe(`key manager before any key exists [${dialect}]`, () => {
    test("rotate refuses with conflict and creates nothing", async () => {
      const db = await createTestDatabase(dialect);
      const c = await createContainer(
        loadConfig({ ...TEST_ENV, DATABASE_URL: db.url }),
        {
          logger: createLogger("silent"),
        },
      );
      try {
        await migrateUp(c.database);
        await expect(c.keys.rotate(CLI, true)).rejects.toMatchObject({
          code: "conflict",
          message: expect.stringContaining("there are no signing keys yet"),
        });
        expect(await c.store.listKeys()).toEqual([]);
      } finally {
        await c.close();
        await db.drop();
      }
    });
  });
}
