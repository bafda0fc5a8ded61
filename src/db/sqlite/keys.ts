/** The keys part of the SQLite store. */
import { and, asc, eq, inArray } from "drizzle-orm";
import type { KeyStore } from "../../core/ports.ts";
import type { SqliteDb } from "../connect.ts";
import { toKey } from "../mappers.ts";
import { signingKeys } from "../schema/sqlite.ts";
import { IMMEDIATE } from "./tx.ts";

export function createSqliteKeyStore(db: SqliteDb): KeyStore {
  return {
    async listKeys() {
      return db
        .select()
        .from(signingKeys)
        .orderBy(asc(signingKeys.createdAt))
        .all()
        .map(toKey);
    },
    async insertInitialKeys(current, next) {
      return db.transaction((tx) => {
        const existing = tx
          .select()
          .from(signingKeys)
          .where(eq(signingKeys.state, "current"))
          .get();
        if (existing) return false;
        tx.insert(signingKeys).values([current, next]).run();
        return true;
      }, IMMEDIATE);
    },
    async rotateKeys(expectedNext, newNext, now) {
      return db.transaction((tx) => {
        const next = tx
          .select({ kid: signingKeys.kid })
          .from(signingKeys)
          .where(eq(signingKeys.state, "next"))
          .get();
        if (next?.kid !== expectedNext) return false;
        tx.update(signingKeys)
          .set({ state: "retired", retiredAt: now })
          .where(eq(signingKeys.state, "current"))
          .run();
        tx.update(signingKeys)
          .set({ state: "current", activatedAt: now })
          .where(eq(signingKeys.state, "next"))
          .run();
        tx.insert(signingKeys).values(newNext).run();
        return true;
      }, IMMEDIATE);
    },
    async deleteKeys(kids) {
      if (kids.length === 0) return 0;
      const where = and(
        inArray(signingKeys.kid, kids),
        eq(signingKeys.state, "retired"),
      );
      return db
        .delete(signingKeys)
        .where(where)
        .returning({ kid: signingKeys.kid })
        .all().length;
    },
  };
}
