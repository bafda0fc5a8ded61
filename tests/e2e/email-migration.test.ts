/**
 * Issue 7, point 5, existing rows: addresses stored before NFKC, IDNA and the
 * script rules. `authctl doctor` lists what needs an operator; the real daemon
 * rewrites what it safely can at start, warns about the rest, and merges
 * nothing. Then sign-in works by the normal form, and the rows it could not
 * rewrite can still sign in as they are.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Container } from "../../src/container.ts";
import type { UserRecord } from "../../src/core/ports.ts";
import { type CliDatabase, createCliDatabase } from "../cli/authctl-process.ts";
import { DIALECTS } from "../helpers/databases.ts";
import { GOOD_PASSWORD } from "../helpers/harness.ts";
import { type Daemon, startDaemon } from "./daemon-process.ts";

interface DoctorJson {
  ok: boolean;
  checks: { check: string; ok: boolean; detail: string; items?: unknown[] }[];
}

/** Legacy rows, as the old normalisation (trim, NFC, lower-case) stored them. */
const LEGACY = {
  ada: "ada@example.com", // already normal
  wideAda: "ａda@example.com", // collides with ada once normalised
  ligature: "ﬁnn@example.com", // → finn@example.com
  idn: "bob@bücher.de", // → bob@xn--bcher-kva.de
  mixed: "\u0430da@example.com", // Cyrillic а + Latin: cannot be normalised
};

for (const dialect of DIALECTS) {
  describe(`stored emails are normalised, collisions reported [${dialect}]`, () => {
    let db: CliDatabase;
    let c: Container;
    let daemon: Daemon | undefined;
    const ids = {} as Record<keyof typeof LEGACY, string>;

    beforeAll(async () => {
      db = await createCliDatabase(dialect);
      expect((await db.run(["migrate", "up"])).code).toBe(0);
      c = await db.container();
      const hash = await Bun.password.hash(GOOD_PASSWORD, {
        algorithm: "argon2id",
        memoryCost: 1024,
        timeCost: 1,
      });
      for (const [name, email] of Object.entries(LEGACY)) {
        const now = new Date();
        const user: UserRecord = {
          id: Bun.randomUUIDv7(),
          email,
          emailVerified: false,
          name,
          roles: ["user"],
          disabled: false,
          passwordHash: hash,
          createdAt: now,
          updatedAt: now,
        };
        // Straight into the store: today's rules would refuse or rewrite them.
        await c.store.insertUser(user);
        ids[name as keyof typeof LEGACY] = user.id;
      }
    });
    afterAll(async () => {
      await daemon?.stop();
      await db.drop();
    });

    const emailOf = async (name: keyof typeof LEGACY) =>
      (await c.store.findUserById(ids[name]))?.email;

    test("doctor lists the collision and the address that cannot be normalised; exit 1", async () => {
      const r = await db.run(["doctor", "--json"]);
      expect(r.code).toBe(1);
      const emails = (JSON.parse(r.stdout) as DoctorJson).checks.find(
        (x) => x.check === "emails",
      );
      expect(emails?.ok).toBe(false);
      expect(emails?.items).toEqual([
        {
          user_id: ids.wideAda,
          email: LEGACY.wideAda,
          problem: `collides with ${ids.ada} as ada@example.com`,
        },
        {
          user_id: ids.mixed,
          email: LEGACY.mixed,
          problem: expect.stringContaining("mix scripts"),
        },
      ]);
      // Doctor only looks: nothing was rewritten.
      expect(await emailOf("ligature")).toBe(LEGACY.ligature);
    });

    test("the daemon rewrites what it can at start, warns about the rest, merges nothing", async () => {
      daemon = await startDaemon({ env: { ...db.env, LOG_LEVEL: "info" } });
      const warnings = daemon.lines.filter((l) => l.level === "warn" && l.user_id);
      expect(warnings.map((w) => [w.user_id, w.email]).sort()).toEqual(
        [
          [ids.wideAda, LEGACY.wideAda],
          [ids.mixed, LEGACY.mixed],
        ].sort(),
      );
      expect(
        daemon.lines.find((l) => l.msg === "normalised stored emails"),
      ).toMatchObject({
        renamed: 2,
      });
      expect(await emailOf("ligature")).toBe("finn@example.com");
      expect(await emailOf("idn")).toBe("bob@xn--bcher-kva.de");
      expect(await emailOf("ada")).toBe(LEGACY.ada);
      expect(await emailOf("wideAda")).toBe(LEGACY.wideAda);
      expect(await emailOf("mixed")).toBe(LEGACY.mixed);
      const events = await c.store.listAudit({
        action: "user.email_normalized",
        limit: 10,
      });
      expect(events.map((e) => [e.userId, e.actorId, e.detail]).sort()).toEqual(
        [
          [ids.ligature, "system", { from: LEGACY.ligature, to: "finn@example.com" }],
          [ids.idn, "system", { from: LEGACY.idn, to: "bob@xn--bcher-kva.de" }],
        ].sort(),
      );
    });

    test("sign-in by any spelling of a rewritten address; the unrewritten ones still sign in", async () => {
      if (!daemon) throw new Error("the daemon did not start");
      const url = daemon.url;
      const login = (email: string) =>
        fetch(`${url}/auth/login`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ email, password: GOOD_PASSWORD }),
        }).then(async (r) => ({
          email,
          status: r.status,
          user: r.ok ? ((await r.json()) as { user: { id: string } }).user.id : null,
        }));
      expect(await login("ﬁnn@example.com")).toMatchObject({
        status: 200,
        user: ids.ligature,
      });
      expect(await login("FINN@EXAMPLE.COM")).toMatchObject({
        status: 200,
        user: ids.ligature,
      });
      expect(await login("bob@BÜCHER.de")).toMatchObject({
        status: 200,
        user: ids.idn,
      });
      expect(await login("bob@xn--bcher-kva.de")).toMatchObject({
        status: 200,
        user: ids.idn,
      });
      // The look-alike of ada reaches ada's account, not the colliding row.
      expect(await login("Ａda@example.com")).toMatchObject({
        status: 200,
        user: ids.ada,
      });
      // A row that cannot be normalised is found by its stored spelling.
      expect(await login(LEGACY.mixed)).toMatchObject({ status: 200, user: ids.mixed });
    });

    test("a second start finds nothing new to rewrite; doctor still lists the two", async () => {
      const report = await c.reconcileEmails({ apply: true });
      expect(report.renamed).toEqual([]);
      expect(report.collisions.map((x) => x.id)).toEqual([ids.wideAda]);
      expect(report.invalid.map((x) => x.id)).toEqual([ids.mixed]);
    });
  });
}
