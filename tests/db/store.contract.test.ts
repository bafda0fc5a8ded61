/**
 * The Store contract, written once and run against every dialect: what the
 * core may rely on from src/db, whichever database is underneath.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { AuthError } from "../../src/core/errors.ts";
import type {
  AuditEvent,
  RotateInput,
  Session,
  SigningKeyRecord,
  UserRecord,
} from "../../src/core/ports.ts";
import { type Database, openDatabase } from "../../src/db/connect.ts";
import { createStore, type Store } from "../../src/db/store.ts";
import { DIALECTS } from "../helpers/databases.ts";
import { useMigratedStore } from "../helpers/store.ts";

const T0 = new Date("2026-01-01T00:00:00.000Z");
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const HOUR = 3600;

let seq = 0;
/** Ids that sort in creation order, like the UUIDv7s the service uses. */
const nextId = (prefix: string) => `${prefix}-${String(++seq).padStart(6, "0")}`;

function userRecord(over: Partial<UserRecord> = {}): UserRecord {
  const id = over.id ?? nextId("u");
  return {
    id,
    email: `${id}@example.com`,
    emailVerified: false,
    name: null,
    roles: ["user"],
    disabled: false,
    passwordHash: "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA",
    createdAt: T0,
    updatedAt: T0,
    ...over,
  };
}

function sessionFor(userId: string, over: Partial<Session> = {}): Session {
  return {
    id: nextId("s"),
    userId,
    createdAt: T0,
    lastUsedAt: T0,
    expiresAt: at(24 * HOUR),
    revokedAt: null,
    ip: "203.0.113.9",
    userAgent: "Test/1.0",
    ...over,
  };
}

function keyRecord(state: SigningKeyRecord["state"], createdAt = T0): SigningKeyRecord {
  const kid = nextId("kid");
  return {
    kid,
    alg: "EdDSA",
    state,
    publicJwk: {
      kty: "OKP",
      crv: "Ed25519",
      x: `x-${kid}`,
      kid,
      alg: "EdDSA",
      use: "sig",
    },
    privateKeySealed: `sealed-${kid}`,
    createdAt,
    activatedAt: state === "current" ? createdAt : null,
    retiredAt: null,
  };
}

function auditEvent(over: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id: nextId("a"),
    at: T0,
    action: "user.login",
    actorId: null,
    userId: null,
    ip: null,
    userAgent: null,
    requestId: null,
    outcome: "success",
    detail: null,
    ...over,
  };
}

for (const dialect of DIALECTS) {
  describe(`Store contract [${dialect}]`, () => {
    const { testDb, database, store } = useMigratedStore(dialect);
    /** A trigger that refuses to insert the refresh token `id`; null drops it. */
    async function refuseSuccessor(id: string | null) {
      if (database.dialect === "sqlite") {
        database.client.exec("drop trigger if exists refuse_successor");
        if (id)
          database.client.exec(`create trigger refuse_successor
            before insert on refresh_tokens when new.id = '${id}'
            begin select raise(abort, 'successor refused'); end`);
        return;
      }
      await database.client.unsafe(
        "drop trigger if exists refuse_successor on refresh_tokens",
      );
      if (!id) return;
      await database.client.unsafe(`create or replace function refuse_successor()
        returns trigger language plpgsql as $$
        begin
          if new.id = '${id}' then raise exception 'successor refused'; end if;
          return new;
        end $$`);
      await database.client.unsafe(`create trigger refuse_successor
        before insert on refresh_tokens for each row execute function refuse_successor()`);
    }
    const findLive = async (sessionId: string, userId: string, now: Date) =>
      (await store.findLiveSessions([{ sessionId, userId, now }]))[0] ?? null;
    /** One rotation, a batch of one. */
    const rotateOne = async (input: RotateInput) => {
      const [outcome] = await store.rotateRefreshTokens([input]);
      if (!outcome?.ok) throw outcome?.error;
      return outcome.value;
    };

    test("ping answers on a working database and fails on a lost one", async () => {
      await expect(store.ping()).resolves.toBeUndefined();
      // The same store code on a connection that is gone: readiness must see it.
      const lost =
        dialect === "sqlite"
          ? await openDatabase({ url: "sqlite::memory:" })
          : await openDatabase({ url: `${testDb.url}_that_does_not_exist` });
      if (lost.dialect === "sqlite") lost.client.close();
      try {
        await expect((await createStore(lost)).ping()).rejects.toThrow();
      } finally {
        if (lost.dialect === "pg") await lost.close();
      }
    });

    describe("users", () => {
      test("insert, then find by email and by id, field for field", async () => {
        const user = userRecord({
          name: "Ada",
          roles: ["user", "admin"],
          emailVerified: true,
          updatedAt: at(5),
        });
        await store.insertUser(user);
        expect(await store.findUserByEmail(user.email)).toEqual(user);
        expect(await store.findUserById(user.id)).toEqual(user);
        expect(await store.findUserByEmail("nobody@example.com")).toBeNull();
        expect(await store.findUserById("u-missing")).toBeNull();
      });

      test("a second user with the same email is email_taken", async () => {
        const user = userRecord();
        await store.insertUser(user);
        const clash = userRecord({ email: user.email });
        const error = await store.insertUser(clash).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(AuthError);
        expect((error as AuthError).code).toBe("email_taken");
        expect(await store.findUserById(clash.id)).toBeNull();
      });

      test("update applies the patch and stamps updatedAt; unknown id is null", async () => {
        const user = userRecord();
        await store.insertUser(user);
        const updated = await store.updateUser(
          user.id,
          { name: "Grace", roles: ["admin"], disabled: true, emailVerified: true },
          at(60),
        );
        const expected = {
          ...user,
          name: "Grace",
          roles: ["admin"],
          disabled: true,
          emailVerified: true,
          updatedAt: at(60),
        };
        expect(updated).toEqual(expected);
        expect(await store.findUserById(user.id)).toEqual(expected);
        expect(await store.updateUser("u-missing", { name: "x" }, at(60))).toBeNull();
      });

      test("deleteUserKeepingAdmin removes the user and, by cascade, their sessions", async () => {
        const user = userRecord();
        await store.insertUser(user);
        const session = sessionFor(user.id);
        await store.createSession(session, {
          id: nextId("rt"),
          tokenHash: nextId("h"),
          expiresAt: at(HOUR),
        });
        expect(await store.deleteUserKeepingAdmin(user.id)).toEqual({
          kind: "done",
          before: user,
          after: null,
        });
        expect(await store.findUserById(user.id)).toBeNull();
        expect(await store.listLiveSessions(user.id, T0)).toEqual([]);
        expect(await findLive(session.id, user.id, T0)).toBeNull();
        expect(await store.deleteUserKeepingAdmin(user.id)).toEqual({
          kind: "not_found",
        });
      });

      test("insertUsersIfAbsent creates the new emails and skips existing ones", async () => {
        const existing = userRecord();
        await store.insertUser(existing);
        const fresh = [userRecord(), userRecord()];
        const again = userRecord({ email: existing.email, name: "impostor" });
        const created = await store.insertUsersIfAbsent([
          fresh[0],
          again,
          fresh[1],
        ] as UserRecord[]);
        expect(created.sort()).toEqual(fresh.map((u) => u.email).sort());
        expect((await store.findUserByEmail(existing.email))?.id).toBe(existing.id);
        expect((await store.findUserByEmail(existing.email))?.name).toBeNull();
        for (const u of fresh) expect(await store.findUserById(u.id)).toEqual(u);
        expect(await store.insertUsersIfAbsent([])).toEqual([]);
        expect(await store.insertUsersIfAbsent(fresh)).toEqual([]);
      });

      describe("listUsers", () => {
        // A private population: ids with their own prefix, found via q.
        const tag = `lst${Date.now().toString(36)}`;
        const people: UserRecord[] = [];
        beforeAll(async () => {
          const specs: Partial<UserRecord>[] = [
            { name: "Ada Lovelace", roles: ["user", "admin"] },
            { name: "Grace Hopper", roles: ["user"], disabled: true },
            { name: "Alan Turing", roles: ["user", "auditor"] },
            { name: "100%_real", roles: ["user"] },
            { name: "Barbara Liskov", roles: ["user", "admin"], disabled: true },
          ];
          for (const [i, spec] of specs.entries()) {
            const id = `${tag}-${i}`;
            // Emails reach the store normalised (lower-cased) by the core.
            people.push(userRecord({ id, email: `${tag}.${i}@example.test`, ...spec }));
          }
          for (const p of people) await store.insertUser(p);
        });
        const ids = (rows: UserRecord[]) => rows.map((r) => r.id);
        const pid = (i: number) => people[i]?.id ?? "missing";
        const list = (
          f: Omit<Parameters<Store["listUsers"]>[0], "limit">,
          limit = 50,
        ) => store.listUsers({ q: tag, ...f, limit });

        test("q is a prefix of the email or of the name, case-insensitive", async () => {
          expect(ids(await list({}))).toEqual(ids(people));
          expect(ids(await store.listUsers({ q: "ADA LOVE", limit: 50 }))).toEqual([
            pid(0),
          ]);
          expect(ids(await store.listUsers({ q: "lovelace", limit: 50 }))).toEqual([]);
          expect(
            ids(await store.listUsers({ q: `${tag.toUpperCase()}.2@`, limit: 50 })),
          ).toEqual([pid(2)]);
          expect(
            ids(await store.listUsers({ q: `${tag}.2@example`, limit: 50 })),
          ).toEqual([pid(2)]);
          expect(await store.listUsers({ q: "example.test", limit: 50 })).toEqual([]);
        });

        test("q treats % and _ literally", async () => {
          expect(ids(await store.listUsers({ q: "100%_", limit: 50 }))).toEqual([
            pid(3),
          ]);
          expect(await store.listUsers({ q: "%", limit: 50 })).toEqual([]);
          expect(await store.listUsers({ q: "100_", limit: 50 })).toEqual([]);
          expect(await store.listUsers({ q: "_", limit: 50 })).toEqual([]);
        });

        test("email is an exact match", async () => {
          const email = people[1]?.email ?? "";
          expect(ids(await store.listUsers({ email, limit: 50 }))).toEqual([pid(1)]);
          expect(await store.listUsers({ email: email.slice(1), limit: 50 })).toEqual(
            [],
          );
        });

        test("role and disabled filter, alone and together", async () => {
          expect(ids(await list({ role: "admin" }))).toEqual([pid(0), pid(4)]);
          expect(ids(await list({ role: "auditor" }))).toEqual([pid(2)]);
          expect(ids(await list({ role: "adm" }))).toEqual([]);
          expect(ids(await list({ disabled: true }))).toEqual([pid(1), pid(4)]);
          expect(ids(await list({ disabled: false }))).toEqual([
            pid(0),
            pid(2),
            pid(3),
          ]);
          expect(ids(await list({ role: "admin", disabled: false }))).toEqual([pid(0)]);
        });

        test("limit and the afterId cursor page through in id order", async () => {
          const first = await list({}, 2);
          expect(ids(first)).toEqual([pid(0), pid(1)]);
          const second = await list({ afterId: first.at(-1)?.id ?? "" }, 2);
          expect(ids(second)).toEqual([pid(2), pid(3)]);
          const third = await list({ afterId: second.at(-1)?.id ?? "" }, 2);
          expect(ids(third)).toEqual([pid(4)]);
          expect(await list({ afterId: people[4]?.id ?? "" }, 2)).toEqual([]);
        });
      });
    });

    describe("sessions and refresh tokens", () => {
      let user: UserRecord;
      beforeAll(async () => {
        user = userRecord();
        await store.insertUser(user);
      });

      async function newSession(over: Partial<Session> = {}, tokenTtl = HOUR) {
        const session = sessionFor(user.id, over);
        const tokenHash = nextId("hash");
        await store.createSession(session, {
          id: nextId("rt"),
          tokenHash,
          expiresAt: new Date(session.createdAt.getTime() + tokenTtl * 1000),
        });
        return { session, tokenHash };
      }

      const rotateInput = (
        tokenHash: string,
        now: Date,
        over: Partial<RotateInput> = {},
      ) =>
        ({
          tokenHash,
          now,
          reuseIntervalMs: 10_000,
          idleTtlMs: HOUR * 1000,
          successor: { id: nextId("rt"), tokenHash: nextId("hash") },
          successorSealed: nextId("sealed"),
          ...over,
        }) satisfies RotateInput;

      test("a created session is live and listed with its token's expiry", async () => {
        const { session } = await newSession();
        const live = await findLive(session.id, user.id, at(1));
        expect(live?.session).toEqual(session);
        expect(live?.user.id).toBe(user.id);
        const listed = await store.listLiveSessions(user.id, at(1));
        expect(listed.find((s) => s.id === session.id)).toEqual({
          ...session,
          expiresAt: at(HOUR),
        });
        // Bound to its user, and to its absolute lifetime.
        expect(await findLive(session.id, "u-other", at(1))).toBeNull();
        expect(await findLive(session.id, user.id, at(24 * HOUR))).toBeNull();
      });

      test("findLiveSessions answers each lookup of a batch on its own, in order", async () => {
        const a = await newSession();
        const b = await newSession();
        const revoked = await newSession();
        await store.revokeSession(revoked.session.id, user.id, "test", at(1));
        const answers = await store.findLiveSessions([
          { sessionId: a.session.id, userId: user.id, now: at(1) },
          { sessionId: a.session.id, userId: "u-other", now: at(1) },
          // Past its lifetime at this lookup's own clock, not at the others'.
          { sessionId: b.session.id, userId: user.id, now: at(24 * HOUR) },
          { sessionId: b.session.id, userId: user.id, now: at(2) },
          { sessionId: revoked.session.id, userId: user.id, now: at(2) },
          { sessionId: "no-such-session", userId: user.id, now: at(2) },
        ]);
        expect(answers.map((live) => live?.session.id ?? null)).toEqual([
          a.session.id,
          null,
          null,
          b.session.id,
          null,
          null,
        ]);
        expect(answers[3]?.user.id).toBe(user.id);
        expect(await store.findLiveSessions([])).toEqual([]);
      });

      test("findLiveSessions answers a batch of more sessions than one statement binds", async () => {
        // 70 live sessions (past the 64 ids one PostgreSQL statement binds),
        // each asked twice, between a revoked one and an unknown id.
        const live = [];
        for (let i = 0; i < 70; i++) live.push((await newSession()).session.id);
        const revoked = await newSession();
        await store.revokeSession(revoked.session.id, user.id, "test", at(1));
        const asked = [...live, revoked.session.id, "no-such-session", ...live];
        const answers = await store.findLiveSessions(
          asked.map((sessionId) => ({ sessionId, userId: user.id, now: at(2) })),
        );
        expect(answers.map((a) => a?.session.id ?? null)).toEqual([
          ...live,
          null,
          null,
          ...live,
        ]);
      });

      /**
       * A store of its own on one PostgreSQL connection, closed afterwards:
       * pg_prepared_statements shows one connection's statements.
       */
      async function onOneConnection(
        body: (
          client: Extract<Database, { dialect: "pg" }>["client"],
          store: Store,
        ) => Promise<void>,
      ) {
        const one = await openDatabase({ url: testDb.url, poolMax: 1 });
        try {
          if (one.dialect !== "pg") throw new Error("a PostgreSQL test");
          await body(one.client, await createStore(one));
        } finally {
          await one.close();
        }
      }

      test.skipIf(dialect !== "pg")(
        "the lookup keeps one plan: PostgreSQL stops planning it after its first five",
        async () => {
          await onOneConnection(async (client, lookups) => {
            const a = await newSession();
            const b = await newSession();
            // A table of some size, its statistics current: the planner then
            // prices a lookup of one id well below one of an unknown number.
            await client`insert into sessions (id, user_id, created_at, last_used_at, expires_at)
              select 'filler-' || g, ${user.id}, now(), now(), now()
              from generate_series(1, 2000) g`;
            try {
              await client`analyze sessions`;
              await client`analyze users`;
              for (let i = 0; i < 20; i++) {
                const answers = await lookups.findLiveSessions([
                  { sessionId: a.session.id, userId: user.id, now: at(1) },
                  ...(i % 2
                    ? [{ sessionId: b.session.id, userId: user.id, now: at(1) }]
                    : []),
                ]);
                expect(answers.every((live) => live !== null)).toBe(true);
              }
              const plans = await client<
                { generic_plans: string; custom_plans: string }[]
              >`select generic_plans, custom_plans from pg_prepared_statements
              where statement like '%"sessions"%"users"%'`;
              // Batches of one id and of two, ten of each: each shape is planned
              // for at most its first five executions (PostgreSQL's rule), then
              // runs on its cached generic plan.
              expect(plans.length).toBeGreaterThan(0);
              const custom = plans.reduce((n, p) => n + Number(p.custom_plans), 0);
              const generic = plans.reduce((n, p) => n + Number(p.generic_plans), 0);
              expect(custom).toBeLessThanOrEqual(5 * plans.length);
              expect(generic).toBeGreaterThanOrEqual(20 - 5 * plans.length);
            } finally {
              await client`delete from sessions where id like 'filler-%'`;
            }
          });
        },
      );

      test.skipIf(dialect !== "pg")(
        "a rotation's and a logout's statements are prepared on the server, once per connection",
        async () => {
          await onOneConnection(async (client, writes) => {
            for (let i = 0; i < 3; i++) {
              const { tokenHash } = await newSession();
              const [rotated] = await writes.rotateRefreshTokens([
                rotateInput(tokenHash, at(10)),
              ]);
              expect(rotated?.ok && rotated.value.kind).toBe("rotated");
              const [ended] = await writes.revokeSessionsByTokens([
                { tokenHash, reason: "logout", now: at(11) },
              ]);
              expect(ended?.ok && ended.value?.userId).toBe(user.id);
            }
            // Each statement is prepared once on this connection, whatever
            // its parameters: three rotations and logouts, one statement each.
            const statements = (
              await client<{ statement: string }[]>`
                select statement from pg_prepared_statements where not from_sql`
            ).map((r) => r.statement.replace(/\s+/g, " "));
            const count = (pattern: RegExp) =>
              statements.filter((s) => pattern.test(s)).length;
            expect(count(/ for update of /)).toBe(1);
            expect(count(/^ ?with spent as \( update refresh_tokens/)).toBe(1);
            expect(
              count(
                /^ ?update sessions set revoked_at = .* returning id as session_id/,
              ),
            ).toBe(1);
            expect(
              count(
                /^ ?update refresh_tokens set revoked_at = \$1::timestamptz where session_id/,
              ),
            ).toBe(1);
          });
        },
      );

      test("listLiveSessions leaves out sessions whose refresh token expired", async () => {
        const { session } = await newSession({}, 60);
        const ids = async (now: Date) =>
          (await store.listLiveSessions(user.id, now)).map((s) => s.id);
        expect(await ids(at(59))).toContain(session.id);
        expect(await ids(at(60))).not.toContain(session.id);
      });

      test("rotate: the token is spent, a successor is live, lastUsedAt moves", async () => {
        const { session, tokenHash } = await newSession();
        const input = rotateInput(tokenHash, at(100));
        const result = await rotateOne(input);
        expect(result.kind).toBe("rotated");
        if (result.kind !== "rotated") return;
        expect(result.session.id).toBe(session.id);
        expect(result.session.lastUsedAt).toEqual(at(100));
        expect(result.user.id).toBe(user.id);
        expect(result.expiresAt).toEqual(at(100 + HOUR));
        const listed = (await store.listLiveSessions(user.id, at(100))).filter(
          (s) => s.id === session.id,
        );
        expect(listed).toHaveLength(1);
        expect(listed[0]?.lastUsedAt).toEqual(at(100));
        expect(listed[0]?.expiresAt).toEqual(at(100 + HOUR));

        // The successor rotates in turn.
        const again = await rotateOne(rotateInput(input.successor.tokenHash, at(200)));
        expect(again.kind).toBe("rotated");
      });

      test("a successor never outlives the session's absolute end", async () => {
        const { tokenHash } = await newSession({ expiresAt: at(HOUR / 2) });
        const result = await rotateOne(rotateInput(tokenHash, at(10)));
        expect(result.kind === "rotated" && result.expiresAt).toEqual(at(HOUR / 2));
      });

      test("a repeat inside the interval returns the sealed successor", async () => {
        const { session, tokenHash } = await newSession();
        const input = rotateInput(tokenHash, at(100));
        await rotateOne(input);
        const repeat = await rotateOne(rotateInput(tokenHash, at(110)));
        expect(repeat).toMatchObject({
          kind: "reused",
          successorSealed: input.successorSealed,
          expiresAt: at(100 + HOUR),
        });
        expect(repeat.kind === "reused" && repeat.session.id).toBe(session.id);
        // Still one live token: the original successor.
        const next = await rotateOne(rotateInput(input.successor.tokenHash, at(120)));
        expect(next.kind).toBe("rotated");
      });

      test("a repeat after the interval revokes the session and all its tokens", async () => {
        const { session, tokenHash } = await newSession();
        const input = rotateInput(tokenHash, at(100));
        await rotateOne(input);
        const reuse = await rotateOne(rotateInput(tokenHash, at(111)));
        expect(reuse).toEqual({
          kind: "reuse_detected",
          sessionId: session.id,
          userId: user.id,
        });
        expect(await findLive(session.id, user.id, at(111))).toBeNull();
        const successor = await rotateOne(
          rotateInput(input.successor.tokenHash, at(112)),
        );
        expect(successor.kind).toBe("invalid");
      });

      test("unknown, expired and revoked tokens are invalid", async () => {
        expect((await rotateOne(rotateInput("nope", at(1)))).kind).toBe("invalid");
        const expired = await newSession({}, 60);
        expect((await rotateOne(rotateInput(expired.tokenHash, at(60)))).kind).toBe(
          "invalid",
        );
        const revoked = await newSession();
        await store.revokeSession(revoked.session.id, user.id, "test", at(1));
        expect((await rotateOne(rotateInput(revoked.tokenHash, at(2)))).kind).toBe(
          "invalid",
        );
      });

      test("a disabled user's tokens neither rotate nor authenticate", async () => {
        const other = userRecord();
        await store.insertUser(other);
        const session = sessionFor(other.id);
        const tokenHash = nextId("hash");
        await store.createSession(session, {
          id: nextId("rt"),
          tokenHash,
          expiresAt: at(HOUR),
        });
        await store.updateUser(other.id, { disabled: true }, at(1));
        expect(await findLive(session.id, other.id, at(2))).toBeNull();
        expect((await rotateOne(rotateInput(tokenHash, at(2)))).kind).toBe("invalid");
      });

      test("revokeSession is scoped to the user and happens once", async () => {
        const { session } = await newSession();
        expect(await store.revokeSession(session.id, "u-other", "test", at(1))).toBe(
          false,
        );
        expect(await findLive(session.id, user.id, at(1))).not.toBeNull();
        expect(await store.revokeSession(session.id, user.id, "test", at(1))).toBe(
          true,
        );
        expect(await store.revokeSession(session.id, user.id, "test", at(2))).toBe(
          false,
        );
        expect(await findLive(session.id, user.id, at(2))).toBeNull();
        // An operator (no user given) can end any session.
        const { session: s2 } = await newSession();
        expect(await store.revokeSession(s2.id, null, "operator", at(1))).toBe(true);
      });

      test("revokeSessionsByTokens ends each token's session once, in order", async () => {
        const a = await newSession();
        const b = await newSession();
        const ended = (session: Session) => ({
          ok: true as const,
          value: { sessionId: session.id, userId: user.id },
        });
        // The same token twice in one batch: one of the two ends the session,
        // the other finds it ended. (On PostgreSQL the two run side by side,
        // each in its own transaction, and either may take the row first.)
        const outcomes = await store.revokeSessionsByTokens([
          { tokenHash: a.tokenHash, reason: "logout", now: at(1) },
          { tokenHash: a.tokenHash, reason: "logout", now: at(1) },
          { tokenHash: "unknown", reason: "logout", now: at(1) },
          { tokenHash: b.tokenHash, reason: "logout", now: at(1) },
        ]);
        expect(outcomes.slice(0, 2)).toContainEqual(ended(a.session));
        expect(outcomes.slice(0, 2)).toContainEqual({ ok: true, value: null });
        expect(outcomes.slice(2)).toEqual([
          { ok: true, value: null },
          ended(b.session),
        ]);
        expect(await findLive(a.session.id, user.id, at(1))).toBeNull();
        expect(await findLive(b.session.id, user.id, at(1))).toBeNull();
        // Their tokens are spent for good: neither rotates.
        for (const { tokenHash } of [a, b])
          expect((await rotateOne(rotateInput(tokenHash, at(2)))).kind).toBe("invalid");
        expect(
          await store.revokeSessionsByTokens([
            { tokenHash: a.tokenHash, reason: "logout", now: at(2) },
          ]),
        ).toEqual([{ ok: true, value: null }]);
        expect(await store.revokeSessionsByTokens([])).toEqual([]);
      });

      test("rotateRefreshTokens: each rotation as if alone, outcomes in order", async () => {
        const a = await newSession();
        const b = await newSession();
        // The same token twice in one batch: one of the two rotates (which
        // one is the dialect's to choose), the other is a repeat in the
        // grace window and gets the first one's successor.
        const twice = [
          rotateInput(a.tokenHash, at(100)),
          rotateInput(a.tokenHash, at(100)),
        ];
        const outcomes = await store.rotateRefreshTokens([
          ...twice,
          rotateInput(b.tokenHash, at(100)),
          rotateInput("unknown", at(100)),
        ]);
        const kinds = outcomes.map((o) => (o.ok ? o.value.kind : "error"));
        expect([...kinds.slice(0, 2)].sort()).toEqual(["reused", "rotated"]);
        expect(kinds.slice(2)).toEqual(["rotated", "invalid"]);
        const winner = twice[kinds.indexOf("rotated")] as RotateInput;
        expect(outcomes[kinds.indexOf("reused")]).toMatchObject({
          ok: true,
          value: { successorSealed: winner.successorSealed },
        });
        // The winner's successor is the one live token of its session.
        expect(
          (await rotateOne(rotateInput(winner.successor.tokenHash, at(101)))).kind,
        ).toBe("rotated");
        expect(await store.rotateRefreshTokens([])).toEqual([]);
      });

      test("a rotation of a batch that fails is undone alone; the others stand", async () => {
        const a = await newSession();
        const b = await newSession();
        // A trigger refuses one successor id, so that rotation fails midway:
        // after its token was spent, at the successor's insert.
        await refuseSuccessor("rt-refused");
        try {
          const refused = rotateInput(a.tokenHash, at(100), {
            successor: { id: "rt-refused", tokenHash: nextId("hash") },
          });
          const fine = rotateInput(b.tokenHash, at(100));
          const [bad, good] = await store.rotateRefreshTokens([refused, fine]);
          expect(bad?.ok).toBe(false);
          expect(String(!bad?.ok && bad?.error)).toContain("refused");
          expect(good?.ok && good.value.kind).toBe("rotated");
          // b's rotation stands: its successor rotates in turn.
          expect(
            (await rotateOne(rotateInput(fine.successor.tokenHash, at(101)))).kind,
          ).toBe("rotated");
        } finally {
          await refuseSuccessor(null);
        }
        // a's token was not spent: it rotates now, as if never presented
        // (a kept spend would make this a grace-window "reused").
        expect((await rotateOne(rotateInput(a.tokenHash, at(102)))).kind).toBe(
          "rotated",
        );
      });

      test("revokeUserSessions ends all but the excepted one and counts them", async () => {
        const owner = userRecord();
        await store.insertUser(owner);
        const sessions = [
          sessionFor(owner.id),
          sessionFor(owner.id),
          sessionFor(owner.id),
        ];
        for (const s of sessions) {
          await store.createSession(s, {
            id: nextId("rt"),
            tokenHash: nextId("hash"),
            expiresAt: at(HOUR),
          });
        }
        const keep = sessions[1]?.id ?? "";
        expect(
          await store.revokeUserSessions(owner.id, "password_change", at(1), keep),
        ).toBe(2);
        expect(
          (await store.listLiveSessions(owner.id, at(1))).map((s) => s.id),
        ).toEqual([keep]);
        expect(await store.revokeUserSessions(owner.id, "logout_all", at(2))).toBe(1);
        expect(await store.revokeUserSessions(owner.id, "logout_all", at(3))).toBe(0);
        expect(await store.listLiveSessions(owner.id, at(3))).toEqual([]);
      });
    });

    describe("signing keys", () => {
      test("insertInitialKeys stores current and next once", async () => {
        expect(await store.listKeys()).toEqual([]);
        const current = keyRecord("current", at(0));
        const next = keyRecord("next", at(1));
        expect(await store.insertInitialKeys(current, next)).toBe(true);
        expect(await store.listKeys()).toEqual([current, next]);
        expect(
          await store.insertInitialKeys(
            keyRecord("current", at(2)),
            keyRecord("next", at(3)),
          ),
        ).toBe(false);
        expect(await store.listKeys()).toHaveLength(2);
      });

      test("rotateKeys: next → current, current → retired, a new next", async () => {
        const [oldCurrent, oldNext] = await store.listKeys();
        const newNext = keyRecord("next", at(10));
        // A caller that checked another next key (a concurrent rotation won): no change.
        const before = await store.listKeys();
        expect(
          await store.rotateKeys(
            oldCurrent?.kid ?? "",
            keyRecord("next", at(5)),
            at(6),
          ),
        ).toBe(false);
        expect(await store.listKeys()).toEqual(before);
        expect(await store.rotateKeys(oldNext?.kid ?? "", newNext, at(20))).toBe(true);
        const byKid = new Map((await store.listKeys()).map((k) => [k.kid, k]));
        expect(byKid.get(oldCurrent?.kid ?? "")).toMatchObject({
          state: "retired",
          retiredAt: at(20),
        });
        expect(byKid.get(oldNext?.kid ?? "")).toMatchObject({
          state: "current",
          activatedAt: at(20),
        });
        expect(byKid.get(newNext.kid)).toEqual(newNext);
      });

      test("deleteKeys removes retired keys only", async () => {
        const keys = await store.listKeys();
        const retired = keys.filter((k) => k.state === "retired").map((k) => k.kid);
        const active = keys.filter((k) => k.state !== "retired").map((k) => k.kid);
        expect(retired).toHaveLength(1);
        expect(await store.deleteKeys([...active, ...retired])).toBe(1);
        expect((await store.listKeys()).map((k) => k.kid).sort()).toEqual(
          active.sort(),
        );
        expect(await store.deleteKeys([])).toBe(0);
      });
    });

    describe("audit", () => {
      const events: AuditEvent[] = [];
      beforeAll(async () => {
        const specs: Partial<AuditEvent>[] = [
          { action: "user.register", userId: "au-1", detail: { fields: ["name"] } },
          {
            action: "user.login",
            userId: "au-1",
            outcome: "failure",
            ip: "198.51.100.7",
          },
          {
            action: "user.login",
            userId: "au-2",
            userAgent: "curl/8",
            requestId: "r-1",
          },
          { action: "session.logout", userId: "au-1", actorId: "au-1" },
          { action: "user.login", userId: "au-1", detail: { nested: { ok: true } } },
        ];
        for (const [i, spec] of specs.entries()) {
          const event = auditEvent({ at: at(i), ...spec });
          events.push(event);
          await store.appendAudits([event]);
        }
      });
      const eids = (...i: number[]) => i.map((n) => events[n]?.id ?? "missing");
      const mine = (rows: AuditEvent[]) =>
        rows.filter((r) => events.some((e) => e.id === r.id));

      test("lists newest first, field for field", async () => {
        const rows = mine(await store.listAudit({ limit: 100 }));
        expect(rows).toEqual([...events].reverse());
      });

      test("filters by user and by action", async () => {
        const byUser = await store.listAudit({ userId: "au-1", limit: 100 });
        expect(byUser.map((e) => e.id)).toEqual(eids(4, 3, 1, 0));
        const logins = mine(
          await store.listAudit({ action: "user.login", limit: 100 }),
        );
        expect(logins.map((e) => e.id)).toEqual(eids(4, 2, 1));
        const both = await store.listAudit({
          userId: "au-1",
          action: "user.login",
          limit: 100,
        });
        expect(both.map((e) => e.id)).toEqual(eids(4, 1));
      });

      test("limit and the beforeId cursor page backwards in time", async () => {
        const page1 = await store.listAudit({ userId: "au-1", limit: 2 });
        expect(page1.map((e) => e.id)).toEqual(eids(4, 3));
        const page2 = await store.listAudit({
          userId: "au-1",
          limit: 2,
          beforeId: page1.at(-1)?.id ?? "",
        });
        expect(page2.map((e) => e.id)).toEqual(eids(1, 0));
        const page3 = await store.listAudit({
          userId: "au-1",
          limit: 2,
          beforeId: page2.at(-1)?.id ?? "",
        });
        expect(page3).toEqual([]);
      });
    });
  });
}
