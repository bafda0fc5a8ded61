/**
 * Three real daemons on one PostgreSQL, as behind a load balancer: a budget
 * spent across all three trips at the same total as on one, and a logout on
 * one is seen by the others at once. Runs only with TEST_DATABASE_URL.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createPgDatabase, PG_URL, type TestDatabase } from "../helpers/databases.ts";
import {
  GOOD_PASSWORD,
  TEST_KEK,
  type TokenBody,
  uniqueEmail,
} from "../helpers/harness.ts";
import { type Daemon, startDaemon } from "./daemon-process.ts";

const PER_IP = 9;
const FAILURES_PER_ACCOUNT_IP = 4;

const post = (d: Daemon, path: string, json: unknown, ip = "192.0.2.1") =>
  fetch(`${d.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": ip },
    body: JSON.stringify(json),
  });

describe.skipIf(!PG_URL)("three daemons on one PostgreSQL [pg]", () => {
  let db: TestDatabase;
  let daemons: Daemon[] = [];
  const at = (i: number): Daemon => {
    const d = daemons[i % daemons.length];
    if (!d) throw new Error("no daemon");
    return d;
  };

  /** Daemons whose clients all come from one address; the budget under test is on. */
  const startThree = (env: Record<string, string>) =>
    Promise.all(
      [1, 2, 3].map(() =>
        startDaemon({
          env: {
            DATABASE_URL: db.url,
            KEY_ENCRYPTION_KEY: TEST_KEK,
            ISSUER: "http://authd.e2e",
            ARGON2_MEMORY_KIB: "1024",
            ARGON2_TIME_COST: "1",
            LOG_LEVEL: "info",
            // A day-long window: a window boundary during a test is all but impossible.
            RATE_LIMIT_WINDOW: "86400",
            LOGIN_FAILURE_WINDOW: "86400",
            ...env,
          },
        }),
      ),
    );

  beforeAll(async () => {
    db = await createPgDatabase();
  });
  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.stop()));
    await db?.drop();
  });

  describe("the per-IP budget", () => {
    beforeAll(async () => {
      // Behind a "proxy", so each test can be its own client IP.
      daemons = await startThree({
        RATE_LIMIT_PER_IP: String(PER_IP),
        TRUST_PROXY: "true",
      });
    });
    afterAll(async () => {
      await Promise.all(daemons.map((d) => d.stop()));
      daemons = [];
    });

    test("spread round-robin over three daemons, it trips at the same total as on one", async () => {
      const statuses: number[] = [];
      for (let i = 0; i < PER_IP + 3; i++) {
        const res = await post(at(i), "/auth/logout", { refresh_token: "x" });
        statuses.push(res.status);
        if (res.status === 429) {
          expect(((await res.json()) as { code: string }).code).toBe("rate_limited");
          expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
        }
      }
      expect(statuses).toEqual([...Array(PER_IP).fill(204), 429, 429, 429]);
    });

    test("hit all at once on all three, exactly the budget gets through", async () => {
      const statuses = await Promise.all(
        Array.from({ length: 3 * PER_IP }, (_, i) =>
          post(at(i), "/auth/logout", { refresh_token: "x" }, "192.0.2.2").then(
            (r) => r.status,
          ),
        ),
      );
      expect(statuses.filter((s) => s === 204)).toHaveLength(PER_IP);
      expect(statuses.filter((s) => s === 429)).toHaveLength(2 * PER_IP);
    });
  });

  describe("failed logins and logout", () => {
    beforeAll(async () => {
      daemons = await startThree({
        RATE_LIMIT_PER_IP: "0",
        LOGIN_FAILURES_PER_ACCOUNT_IP: String(FAILURES_PER_ACCOUNT_IP),
      });
    });

    test("failed logins spread over the daemons trip the account + IP budget at the same total", async () => {
      const email = uniqueEmail("spread");
      expect(
        (await post(at(0), "/auth/register", { email, password: GOOD_PASSWORD }))
          .status,
      ).toBe(201);
      const statuses: number[] = [];
      for (let i = 0; i < FAILURES_PER_ACCOUNT_IP + 2; i++) {
        const res = await post(at(i), "/auth/login", {
          email,
          password: "nope nope nope",
        });
        statuses.push(res.status);
      }
      expect(statuses).toEqual([...Array(FAILURES_PER_ACCOUNT_IP).fill(401), 429, 429]);
      // The right password is refused too, on every daemon: no hash is even tried.
      for (let i = 0; i < 3; i++)
        expect(
          (await post(at(i), "/auth/login", { email, password: GOOD_PASSWORD })).status,
        ).toBe(429);
    });

    test("a logout on one daemon is seen by the other two at once", async () => {
      const email = uniqueEmail("logout");
      const reg = await post(at(0), "/auth/register", {
        email,
        password: GOOD_PASSWORD,
      });
      expect(reg.status).toBe(201);
      const tokens = (await reg.json()) as TokenBody;
      const me = (d: Daemon) =>
        fetch(`${d.url}/users/me`, {
          headers: { authorization: `Bearer ${tokens.access_token}` },
        }).then((r) => r.status);
      expect(await Promise.all(daemons.map(me))).toEqual([200, 200, 200]);

      expect(
        (await post(at(0), "/auth/logout", { refresh_token: tokens.refresh_token }))
          .status,
      ).toBe(204);
      // No wait, no retry: the very next request to each daemon is refused.
      expect(await Promise.all(daemons.map(me))).toEqual([401, 401, 401]);
      expect(
        (await post(at(2), "/auth/refresh", { refresh_token: tokens.refresh_token }))
          .status,
      ).toBe(401);
    });
  });
});
