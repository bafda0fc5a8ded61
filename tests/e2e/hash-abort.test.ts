/**
 * A login flood that disconnects leaves no hashing behind: on the real daemon,
 * logins whose clients close the connection while they wait for the hashing
 * slot are dropped from the queue, unverified. Observed as Prometheus would
 * (the hash queue gauges) and in what the database holds afterwards (one
 * session per verified login). Slow hashes (128 MiB, t=4) keep the one slot
 * busy long enough to see the queue; nothing here waits for a time.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { getFrom, registerOver } from "../helpers/daemon-http.ts";
import { DIALECTS } from "../helpers/databases.ts";
import { GOOD_PASSWORD } from "../helpers/harness.ts";
import { parsePrometheus } from "../helpers/prometheus.ts";
import { useDaemon } from "./daemon-process.ts";

// Seconds of argon2id on a busy 2-core machine: generous.
setDefaultTimeout(180_000);

const QUEUED = 5;

for (const dialect of DIALECTS) {
  describe(`logins whose clients have gone [${dialect}]`, () => {
    const daemon = useDaemon(dialect, {
      HASH_CONCURRENCY: "1",
      ARGON2_MEMORY_KIB: "131072",
      ARGON2_TIME_COST: "4",
    });

    const hashQueue = async () => {
      const scrape = parsePrometheus(
        await (await getFrom(daemon.url, "/metrics")).text(),
      );
      return {
        running: scrape.value("authd_password_hashes_running"),
        waiting: scrape.value("authd_password_hash_queue"),
      };
    };

    test("queued logins are dropped unverified when their clients disconnect", async () => {
      const user = await registerOver(daemon.url);
      const sessions = async () => {
        const res = await getFrom(daemon.url, "/users/me/sessions", {
          token: user.access_token,
        });
        expect(res.status).toBe(200);
        return ((await res.json()) as { items: unknown[] }).items.length;
      };
      expect(await sessions()).toBe(1);
      // The dummy hash for unknown emails is made once, beside serving: let it
      // finish, so the slot is free before the flood.
      while ((await hashQueue()).running !== 0) await Bun.sleep(20);

      const clients = Array.from({ length: QUEUED + 1 }, () => new AbortController());
      const requests = clients.map((client) =>
        fetch(`${daemon.url}/auth/login`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ email: user.email, password: GOOD_PASSWORD }),
          signal: client.signal,
        }).then(
          () => "answered",
          () => "aborted",
        ),
      );
      // One hashing, the rest waiting: then every client goes away.
      for (;;) {
        const q = await hashQueue();
        if (q.running === 1 && q.waiting === QUEUED) break;
        await Bun.sleep(5);
      }
      for (const client of clients) client.abort();
      expect(await Promise.all(requests)).toEqual(clients.map(() => "aborted"));

      // The waiting ones leave the queue; the one in hand finishes.
      for (;;) {
        const q = await hashQueue();
        if (q.running === 0 && q.waiting === 0) break;
        await Bun.sleep(20);
      }
      // Only a login that reached the slot made a session: the one hashing
      // when the clients left, and at most one more that took the slot in
      // between. Without the drop, all six would have.
      const made = (await sessions()) - 1;
      expect(made).toBeGreaterThanOrEqual(1);
      expect(made).toBeLessThanOrEqual(2);
      const dropped = daemon.lines.filter(
        (l) => l.route === "/auth/login" && l.status === 503,
      );
      expect(dropped.length).toBe(QUEUED + 1 - made);
    });
  });
}
