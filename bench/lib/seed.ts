/**
 * Sessions straight into the bench database, so that the refresh and logout
 * rows have tokens to spend without paying a password hash for each. Rows
 * look exactly like the ones login writes (same tables, same hashing).
 */
import { randomToken, tokenHash } from "../../src/core/crypto.ts";
import type { Database } from "../../src/db/connect.ts";
import * as pg from "../../src/db/schema/pg.ts";
import * as sqlite from "../../src/db/schema/sqlite.ts";

const DAY = 86_400_000;
const BATCH = 500;

/** Creates `count` live sessions of a user; returns their refresh tokens. */
export async function seedSessions(
  database: Database,
  userId: string,
  count: number,
): Promise<string[]> {
  const now = new Date();
  const tokens: string[] = [];
  for (let start = 0; start < count; start += BATCH) {
    const n = Math.min(BATCH, count - start);
    const sessions: (typeof pg.sessions.$inferInsert)[] = [];
    const refresh: (typeof pg.refreshTokens.$inferInsert)[] = [];
    for (let i = 0; i < n; i++) {
      const id = Bun.randomUUIDv7();
      const token = randomToken();
      tokens.push(token);
      sessions.push({
        id,
        userId,
        createdAt: now,
        lastUsedAt: now,
        expiresAt: new Date(now.getTime() + 90 * DAY),
        ip: "127.0.0.1",
        userAgent: "authd-bench",
      });
      refresh.push({
        id: Bun.randomUUIDv7(),
        sessionId: id,
        tokenHash: tokenHash(token),
        createdAt: now,
        expiresAt: new Date(now.getTime() + 30 * DAY),
      });
    }
    if (database.dialect === "pg") {
      await database.db.transaction(async (tx) => {
        await tx.insert(pg.sessions).values(sessions);
        await tx.insert(pg.refreshTokens).values(refresh);
      });
    } else {
      database.db.transaction((tx) => {
        tx.insert(sqlite.sessions).values(sessions).run();
        tx.insert(sqlite.refreshTokens).values(refresh).run();
      });
    }
  }
  return tokens;
}
