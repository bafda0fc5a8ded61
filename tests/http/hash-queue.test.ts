/**
 * The password-hash queue is bounded: with every slot busy and HASH_QUEUE_MAX
 * requests already waiting, the next login is refused at once with 503
 * `unavailable` and Retry-After, and changes nothing. Deterministic: the
 * hasher's engine is the real Bun.password behind a gate the test holds shut,
 * and the test waits for the hasher's own counts, never for time.
 */
import { describe, expect, test } from "bun:test";
import { createHasher } from "../../src/infra/hasher.ts";
import { DIALECTS, type Dialect } from "../helpers/databases.ts";
import { gatedEngine } from "../helpers/gated-engine.ts";
import { createTestApp, GOOD_PASSWORD, registerUser } from "../helpers/harness.ts";
import { expectProblem, liveSessionIds, login } from "../helpers/http.ts";

async function until(condition: () => boolean) {
  while (!condition()) await Bun.sleep(1);
}

/** A test app whose hasher runs one hash at a time behind a gate the test holds. */
async function gatedApp(dialect: Dialect, queueMax: number) {
  const gate = gatedEngine();
  const hasher = createHasher(
    { memoryKib: 1024, timeCost: 1, concurrency: 1, queueMax },
    gate.engine,
  );
  const app = await createTestApp(dialect, {}, { hasher });
  return { gate, hasher, app };
}

for (const dialect of DIALECTS) {
  describe(`hash queue [${dialect}]`, () => {
    test("full queue: 503 unavailable with Retry-After at once; the queued logins finish", async () => {
      const { gate, hasher, app } = await gatedApp(dialect, 2);
      try {
        const user = await registerUser(app);
        const sessionsBefore = await liveSessionIds(app, user.user.id);

        gate.close();
        const first = login(app, user.email, GOOD_PASSWORD);
        await until(() => gate.held() === 1);
        const queued = [
          login(app, user.email, GOOD_PASSWORD),
          login(app, user.email, GOOD_PASSWORD),
        ];
        await until(() => hasher.stats().waiting === 2);
        expect(hasher.stats()).toEqual({ active: 1, waiting: 2 });

        // The fourth finds one running and two waiting: refused, not queued.
        const refused = await login(app, user.email, GOOD_PASSWORD);
        expect(refused.headers.get("retry-after")).toMatch(/^[1-9]\d*$/);
        const body = await expectProblem(refused, 503, "unavailable");
        expect(body.detail).toContain("try again");
        expect(hasher.stats()).toEqual({ active: 1, waiting: 2 });

        gate.release();
        const answered = await Promise.all([first, ...queued]);
        expect(answered.map((r) => r.status)).toEqual([200, 200, 200]);
        expect(hasher.stats()).toEqual({ active: 0, waiting: 0 });
        // Three sessions more, none for the refused login.
        const after = await liveSessionIds(app, user.user.id);
        expect(after.length).toBe(sessionsBefore.length + 3);
      } finally {
        gate.release();
        await app.close();
      }
    });

    test("a login whose client has gone leaves the queue unhashed: no session, no failure counted", async () => {
      const { gate, hasher, app } = await gatedApp(dialect, 4);
      try {
        const user = await registerUser(app);
        const sessionsBefore = await liveSessionIds(app, user.user.id);

        gate.close();
        const first = login(app, user.email, GOOD_PASSWORD);
        await until(() => gate.held() === 1);
        // Two more wait for the slot; the client of one of them goes away.
        const leaving = new AbortController();
        const gone = app.handle(
          new Request("http://authd.test/auth/login", {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ email: user.email, password: "wrong password!" }),
            signal: leaving.signal,
          }),
        );
        const staying = login(app, user.email, GOOD_PASSWORD);
        await until(() => hasher.stats().waiting === 2);

        leaving.abort();
        // It leaves the queue at once, before any slot frees up.
        await expectProblem(await gone, 503, "unavailable");
        expect(hasher.stats()).toEqual({ active: 1, waiting: 1 });

        gate.release();
        const answered = await Promise.all([first, staying]);
        expect(answered.map((r) => r.status)).toEqual([200, 200]);
        expect(hasher.stats()).toEqual({ active: 0, waiting: 0 });
        // Its wrong password was never checked: no failed login in the audit
        // log, and the two that stayed have their sessions.
        const logins = await app.container.auditLog.list({
          userId: user.user.id,
          action: "user.login",
          limit: 10,
        });
        expect(logins.items.map((e) => e.outcome)).toEqual(["success", "success"]);
        const after = await liveSessionIds(app, user.user.id);
        expect(after.length).toBe(sessionsBefore.length + 2);
      } finally {
        gate.release();
        await app.close();
      }
    });

    test("register is bounded the same way, and a refused one creates no account", async () => {
      const { gate, hasher, app } = await gatedApp(dialect, 1);
      try {
        gate.close();
        const register = (email: string) =>
          app.request("POST", "/auth/register", {
            json: { email, password: GOOD_PASSWORD },
          });
        const a = register("queue-a@example.com");
        await until(() => gate.held() === 1);
        const b = register("queue-b@example.com");
        await until(() => hasher.stats().waiting === 1);
        await expectProblem(await register("queue-c@example.com"), 503, "unavailable");
        gate.release();
        expect((await Promise.all([a, b])).map((r) => r.status)).toEqual([201, 201]);
        const store = app.container.store;
        expect(await store.findUserByEmail("queue-c@example.com")).toBeNull();
        expect(await store.findUserByEmail("queue-b@example.com")).not.toBeNull();
      } finally {
        gate.release();
        await app.close();
      }
    });
  });
}
