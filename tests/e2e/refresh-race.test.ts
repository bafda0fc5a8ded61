/**
 * The refresh race across processes: three real daemons on one PostgreSQL
 * database, 50 concurrent refreshes of one token spread over them. Every
 * answer must be 200 with one identical successor, and the session must end
 * with exactly one live refresh token. Runs only with TEST_DATABASE_URL.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { and, eq, isNull } from "drizzle-orm";
import { loadConfig } from "../../src/config.ts";
import { type Container, createContainer } from "../../src/container.ts";
import { refreshTokens } from "../../src/db/schema/pg.ts";
import { createLogger } from "../../src/infra/logger.ts";
import { createPgDatabase, PG_URL, type TestDatabase } from "../helpers/databases.ts";
import {
  GOOD_PASSWORD,
  TEST_KEK,
  type TokenBody,
  uniqueEmail,
} from "../helpers/harness.ts";
import { claimsOf } from "../helpers/http.ts";
import { type Daemon, startDaemon } from "./daemon-process.ts";

const ISSUER = "http://authd.e2e";

const startPgDaemon = (databaseUrl: string) =>
  startDaemon({
    env: {
      DATABASE_URL: databaseUrl,
      HOST: "127.0.0.1",
      ISSUER,
      KEY_ENCRYPTION_KEY: TEST_KEK,
      ARGON2_MEMORY_KIB: "1024",
      ARGON2_TIME_COST: "1",
      LOG_LEVEL: "info",
    },
  });

const postJson = (base: string, path: string, json: unknown) =>
  fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(json),
  });

describe.skipIf(!PG_URL)("refresh race across three daemons [pg]", () => {
  let db: TestDatabase;
  let daemons: Daemon[] = [];
  let container: Container;

  beforeAll(async () => {
    db = await createPgDatabase();
    // Started together: they also race to migrate and to create the first keys.
    daemons = await Promise.all([1, 2, 3].map(() => startPgDaemon(db.url)));
    container = createContainer(
      loadConfig({
        DATABASE_URL: db.url,
        KEY_ENCRYPTION_KEY: TEST_KEK,
        ISSUER,
        LOG_LEVEL: "silent",
      }),
      { logger: createLogger("silent") },
    );
  }, 30_000);

  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.stop()));
    await container?.close();
    await db?.drop();
  }, 30_000);

  const liveTokenCount = async (sessionId: string) => {
    if (container.database.dialect !== "pg") throw new Error("expected pg");
    const rows = await container.database.db
      .select({ id: refreshTokens.id })
      .from(refreshTokens)
      .where(
        and(
          eq(refreshTokens.sessionId, sessionId),
          isNull(refreshTokens.usedAt),
          isNull(refreshTokens.revokedAt),
        ),
      );
    return rows.length;
  };

  test("50 concurrent refreshes over 3 daemons: one successor, one live token", async () => {
    const at = (i: number) => daemons[i % daemons.length]?.url ?? "";
    const email = uniqueEmail("e2e");
    const reg = await postJson(at(0), "/auth/register", {
      email,
      password: GOOD_PASSWORD,
    });
    expect(reg.status).toBe(201);
    const first = (await reg.json()) as TokenBody;
    const sid = claimsOf(first.access_token).sid;

    // One set of keys: a token from daemon 1 is good on the others.
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${at(i)}/users/me`, {
        headers: { authorization: `Bearer ${first.access_token}` },
      });
      expect(res.status).toBe(200);
    }

    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        postJson(at(i), "/auth/refresh", { refresh_token: first.refresh_token }),
      ),
    );
    const statuses = responses.map((r) => r.status);
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as TokenBody[];
    expect(statuses).toEqual(Array.from({ length: 50 }, () => 200));
    for (const r of responses) expect(r.headers.get("cache-control")).toBe("no-store");
    const successors = new Set(bodies.map((b) => b.refresh_token));
    expect(successors.size).toBe(1);
    const [successor = ""] = [...successors];
    expect(successor).not.toBe(first.refresh_token);
    expect(new Set(bodies.map((b) => claimsOf(b.access_token).sid))).toEqual(
      new Set([sid]),
    );

    // The database agrees: one live session with exactly one live refresh token.
    const user = await container.store.findUserByEmail(email);
    const live = await container.store.listLiveSessions(user?.id ?? "", new Date());
    expect(live.map((s) => s.id)).toEqual([sid]);
    expect(await liveTokenCount(sid)).toBe(1);

    // The successor works on any daemon, and a repeat elsewhere gets the same pair.
    const next = await postJson(at(2), "/auth/refresh", { refresh_token: successor });
    expect(next.status).toBe(200);
    const nextBody = (await next.json()) as TokenBody;
    const repeat = await postJson(at(1), "/auth/refresh", { refresh_token: successor });
    expect(repeat.status).toBe(200);
    expect(((await repeat.json()) as TokenBody).refresh_token).toBe(
      nextBody.refresh_token,
    );
    expect(await liveTokenCount(sid)).toBe(1);

    // The daemons logged the requests, but never the tokens.
    const logs = daemons.map((d) => JSON.stringify(d.lines)).join("\n");
    expect(logs).toContain('"route":"/auth/refresh"');
    expect(logs).not.toContain(first.refresh_token);
    expect(logs).not.toContain(successor);
  }, 30_000);
});
