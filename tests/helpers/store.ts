/**
 * A migrated database of its own and the store over it, for the enclosing
 * describe block (the store contract suites): built in beforeAll, closed and
 * dropped in afterAll. What it returns forwards to the real objects once
 * beforeAll has built them.
 */
import { afterAll, beforeAll } from "bun:test";
import { type Database, openDatabase } from "../../src/db/connect.ts";
import { migrateUp } from "../../src/db/migrate.ts";
import { createStore, type Store } from "../../src/db/store.ts";
import { createTestDatabase, type Dialect, type TestDatabase } from "./databases.ts";

interface MigratedStore {
  testDb: TestDatabase;
  database: Database;
  store: Store;
}

export function useMigratedStore(dialect: Dialect): MigratedStore {
  let made: MigratedStore | undefined;
  beforeAll(async () => {
    const testDb = await createTestDatabase(dialect);
    const database = await openDatabase({ url: testDb.url });
    await migrateUp(database);
    made = { testDb, database, store: await createStore(database) };
  });
  afterAll(async () => {
    await made?.database.close();
    await made?.testDb.drop();
  });
  const forward = <K extends keyof MigratedStore>(key: K) =>
    new Proxy({} as MigratedStore[K], {
      get(_, prop) {
        if (!made) throw new Error(`the ${key} is used before beforeAll built it`);
        return Reflect.get(made[key], prop, made[key]);
      },
    });
  return {
    testDb: forward("testDb"),
    database: forward("database"),
    store: forward("store"),
  };
}
