/** The keys part of the PostgreSQL store. */
import { and, asc, eq, inArray, sql } from "drizzle-orm";
import type { KeyStore } from "../../core/ports.ts";
import type { PgDb } from "../connect.ts";
import { toKey } from "../mappers.ts";
import { signingKeys } from "../schema/pg.ts";

// Serialises key creation and rotation across daemons and the CLI.
const KEYS_LOCK = sql`select pg_advisory_xact_lock(72031142)`;

export function createPgKeyStore(db: PgDb): KeyStore {
  return {
    async listKeys() {
      return (
        await db.select().from(signingKeys).orderBy(asc(signingKeys.createdAt))
      ).map(toKey);
    },
    async insertInitialKeys(current, next) {
      return db.transaction(async (tx) => {
        await tx.execute(KEYS_LOCK);
        const [existing] = await tx
          .select()
          .from(signingKeys)
          .where(eq(signingKeys.state, "current"));
        if (existing) return false;
        await tx.insert(signingKeys).values([current, next]);
        return true;
      });
    },
    async rotateKeys(expectedNext, newNext, now) {
      return db.transaction(async (tx) => {
        await tx.execute(KEYS_LOCK);
        const [next] = await tx
          .select({ kid: signingKeys.kid })
          .from(signingKeys)
          .where(eq(signingKeys.state, "next"));
        if (next?.kid !== expectedNext) return false;
        await tx
          .update(signingKeys)
          .set({ state: "retired", retiredAt: now })
          .where(eq(signingKeys.state, "current"));
        await tx
          .update(signingKeys)
          .set({ state: "current", activatedAt: now })
          .where(eq(signingKeys.state, "next"));
        await tx.insert(signingKeys).values(newNext);
        return true;
      });
    },
    async deleteKeys(kids) {
      if (kids.length === 0) return 0;
      const where = and(
        inArray(signingKeys.kid, kids),
        eq(signingKeys.state, "retired"),
      );
      return (
        await db.delete(signingKeys).where(where).returning({ kid: signingKeys.kid })
      ).length;
    },
  };
}
