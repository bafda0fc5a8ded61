/**
 * Issue 7, point 8: registration is one transaction on both dialects — the
 * user row, the first session, its refresh token and the audit event are all
 * stored or none is. A failure in any later insert leaves no user behind.
 */
import { describe, expect, test } from "bun:test";
import { isAuthError } from "../../src/core/errors.ts";
import type { AuditEvent, Session, UserRecord } from "../../src/core/ports.ts";
import { DIALECTS } from "../helpers/databases.ts";
import {
  GOOD_PASSWORD,
  registerUser,
  type TestApp,
  uniqueEmail,
  useTestApp,
} from "../helpers/harness.ts";
import { auditOf, expectProblem, refreshTokenRows } from "../helpers/http.ts";

const newId = () => Bun.randomUUIDv7();

function records(app: TestApp, email = uniqueEmail("tx")) {
  const now = app.clock.now();
  const user: UserRecord = {
    id: newId(),
    email,
    emailVerified: false,
    name: null,
    roles: ["user"],
    disabled: false,
    passwordHash: "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA",
    createdAt: now,
    updatedAt: now,
  };
  const session: Session = {
    id: newId(),
    userId: user.id,
    createdAt: now,
    lastUsedAt: now,
    expiresAt: new Date(now.getTime() + 3_600_000),
    revokedAt: null,
    ip: null,
    userAgent: null,
  };
  const token = {
    id: newId(),
    tokenHash: `hash-${newId()}`,
    expiresAt: session.expiresAt,
  };
  const event: AuditEvent = {
    id: newId(),
    at: now,
    action: "user.register",
    actorId: user.id,
    userId: user.id,
    ip: null,
    userAgent: null,
    requestId: null,
    outcome: "success",
    detail: null,
  };
  return { user, session, token, event };
}

const failure = (p: Promise<unknown>) =>
  p.then(
    () => "stored",
    (e: unknown) => (isAuthError(e) ? e.code : "raw error"),
  );

/** Makes every insert into sessions fail, as a crash or a full disk between two inserts would. */
async function failSessionInserts(app: TestApp) {
  const database = app.container.database;
  if (database.dialect === "sqlite") {
    database.client.exec(
      "create trigger authd_test_no_session before insert on sessions begin select raise(abort, 'authd_test_no_session'); end",
    );
    return;
  }
  await database.client.unsafe(`
    create function authd_test_no_session() returns trigger language plpgsql as $$
    begin raise exception 'authd_test_no_session'; end $$;
    create trigger authd_test_no_session before insert on sessions
    for each row execute function authd_test_no_session();`);
}

for (const dialect of DIALECTS) {
  describe(`createUserWithSession is all or nothing [${dialect}]`, () => {
    const app = useTestApp(dialect);
    const store = () => app.container.store;

    test("stores the user, the session, the refresh token and the audit event", async () => {
      const r = records(app);
      await store().createUserWithSession(r.user, r.session, r.token, r.event);
      expect((await store().findUserByEmail(r.user.email))?.id).toBe(r.user.id);
      const [live] = await store().listLiveSessions(r.user.id, app.clock.now());
      expect(live?.id).toBe(r.session.id);
      expect((await refreshTokenRows(app)).some((t) => t.id === r.token.id)).toBe(true);
      expect((await auditOf(app, "user.register", r.user.id)).map((e) => e.id)).toEqual(
        [r.event.id],
      );
    });

    test("a session id that collides: no user row, no token, no event", async () => {
      const first = records(app);
      await store().createUserWithSession(
        first.user,
        first.session,
        first.token,
        first.event,
      );
      const r = records(app);
      const clash = { ...r.session, id: first.session.id };
      // A generated id colliding is a conflict, not "email taken".
      expect(
        await failure(store().createUserWithSession(r.user, clash, r.token, r.event)),
      ).toBe("conflict");
      expect(await store().findUserByEmail(r.user.email)).toBeNull();
      expect(await store().findUserById(r.user.id)).toBeNull();
      expect((await refreshTokenRows(app)).some((t) => t.id === r.token.id)).toBe(
        false,
      );
      expect(await auditOf(app, "user.register", r.user.id)).toEqual([]);
    });

    test("a failure in the last insert (the audit event) undoes the user and the session", async () => {
      const first = records(app);
      await store().createUserWithSession(
        first.user,
        first.session,
        first.token,
        first.event,
      );
      const r = records(app);
      const clash = { ...r.event, id: first.event.id };
      expect(
        await failure(store().createUserWithSession(r.user, r.session, r.token, clash)),
      ).toBe("conflict");
      expect(await store().findUserById(r.user.id)).toBeNull();
      expect(await store().listLiveSessions(r.user.id, app.clock.now())).toEqual([]);
    });

    test("an existing email is email_taken, and the first account is untouched", async () => {
      const first = records(app);
      await store().createUserWithSession(
        first.user,
        first.session,
        first.token,
        first.event,
      );
      const r = records(app, first.user.email);
      expect(
        await failure(
          store().createUserWithSession(r.user, r.session, r.token, r.event),
        ),
      ).toBe("email_taken");
      expect((await store().findUserByEmail(first.user.email))?.id).toBe(first.user.id);
      expect(await store().listLiveSessions(r.user.id, app.clock.now())).toEqual([]);
    });
  });

  describe(`POST /auth/register when the session cannot be stored [${dialect}]`, () => {
    const app = useTestApp(dialect);

    test("500, and no account is left behind without its session", async () => {
      await registerUser(app);
      await failSessionInserts(app);
      const email = uniqueEmail("orphan");
      const res = await app.request("POST", "/auth/register", {
        json: { email, password: GOOD_PASSWORD },
      });
      await expectProblem(res, 500, "internal_error");
      expect(await app.container.store.findUserByEmail(email)).toBeNull();
      const registered = await auditOf(app, "user.register");
      expect(registered).toHaveLength(1);
    });
  });
}
