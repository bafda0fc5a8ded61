/**
 * The daemon sweeps rate-limit rows whose window has ended (and stale known
 * IPs) by itself: at start and then periodically. Rows of live windows stay.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../src/db/connect.ts";
import { migrateUp } from "../../src/db/migrate.ts";
import { rateLimits } from "../../src/db/schema/sqlite.ts";
import { createStore } from "../../src/db/store.ts";
import { TEST_KEK } from "../helpers/harness.ts";
import { type Daemon, startDaemon } from "./daemon-process.ts";

const dir = mkdtempSync(join(tmpdir(), "authd-sweep-"));
let daemon: Daemon | undefined;
afterAll(async () => {
  await daemon?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("a starting daemon sweeps ended windows and keeps live ones", async () => {
  const url = `sqlite:${join(dir, "auth.db")}`;
  const database = await openDatabase({ url });
  await migrateUp(database);
  const store = await createStore(database);
  const now = Date.now();
  const hour = 3_600_000;
  await store.hitLimits(["ip:ended"], new Date(now - 2 * hour), new Date(now - hour));
  await store.hitLimits(["ip:live"], new Date(now), new Date(now + 24 * hour));
  const keys = () => {
    if (database.dialect !== "sqlite") throw new Error("expected sqlite");
    return database.db
      .select({ key: rateLimits.key })
      .from(rateLimits)
      .all()
      .map((r) => r.key)
      .sort();
  };
  expect(keys()).toEqual(["ip:ended", "ip:live"]);

  daemon = await startDaemon({
    env: { DATABASE_URL: url, KEY_ENCRYPTION_KEY: TEST_KEK, LOG_LEVEL: "debug" },
  });
  await daemon.waitForLine((l) => l.msg === "swept rate-limit rows" && l.rows === 1);
  expect(keys()).toEqual(["ip:live"]);
  await database.close();
});
