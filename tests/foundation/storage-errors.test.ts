/**
 * Issue 7, point 1b: the storage circuit breaker counts only failures of the
 * database as a service. A data error a client can provoke at will answers
 * 4xx or 500 and leaves storage — and /readyz — up for everyone else.
 */
import { describe, expect, test } from "bun:test";
import { BrokenCircuitError, TaskCancelledError } from "cockatiel";
import { isAuthError } from "../../src/core/errors.ts";
import {
  classifyStorageError,
  type StorageErrorKind,
  storageError,
} from "../../src/infra/resilience.ts";
import { DIALECTS } from "../helpers/databases.ts";
import {
  GOOD_PASSWORD,
  registerUser,
  type TestApp,
  uniqueEmail,
  useTestApp,
} from "../helpers/harness.ts";
import { expectProblem, loginOk } from "../helpers/http.ts";

/** A driver error as Drizzle hands it over: a wrapper whose cause has the code. */
const drizzle = (code: string | undefined, message = "boom") => {
  const driver = Object.assign(new Error(message), code ? { code } : {});
  return new Error("Failed query: select $1\nparams: secret", { cause: driver });
};

describe("classifyStorageError", () => {
  test.each<[string | undefined, StorageErrorKind]>([
    // The database as a service: outages, counted by the breaker.
    ["ECONNREFUSED", "outage"],
    ["ECONNRESET", "outage"],
    ["CONNECTION_CLOSED", "outage"],
    ["CONNECTION_DESTROYED", "outage"],
    ["CONNECT_TIMEOUT", "outage"],
    ["08006", "outage"],
    ["28P01", "outage"],
    ["3D000", "outage"],
    ["53100", "outage"],
    ["53300", "outage"],
    ["57P01", "outage"],
    ["57014", "outage"],
    ["58030", "outage"],
    ["XX001", "outage"],
    ["SQLITE_BUSY", "outage"],
    ["SQLITE_BUSY_SNAPSHOT", "outage"],
    ["SQLITE_IOERR_WRITE", "outage"],
    ["SQLITE_FULL", "outage"],
    ["SQLITE_CANTOPEN", "outage"],
    ["SQLITE_READONLY", "outage"],
    // Data errors: about one request, never counted.
    ["22021", "input"],
    ["22P05", "input"],
    ["22001", "input"],
    ["SQLITE_TOOBIG", "input"],
    ["SQLITE_MISMATCH", "input"],
    ["23505", "conflict"],
    ["23503", "conflict"],
    ["SQLITE_CONSTRAINT_UNIQUE", "conflict"],
    ["SQLITE_CONSTRAINT_FOREIGNKEY", "conflict"],
    ["23502", "defect"],
    ["23514", "defect"],
    ["42P01", "defect"],
    ["42703", "defect"],
    ["P0001", "defect"],
    ["SQLITE_CONSTRAINT_TRIGGER", "defect"],
    ["SQLITE_ERROR", "defect"],
    [undefined, "defect"],
  ])("%s → %s", (code, kind) => {
    expect(classifyStorageError(drizzle(code))).toBe(kind);
  });

  test("timeouts, an open circuit, too many connections and a closed handle are outages", () => {
    expect(classifyStorageError(new TaskCancelledError())).toBe("outage");
    expect(classifyStorageError(new BrokenCircuitError())).toBe("outage");
    expect(
      classifyStorageError(drizzle(undefined, "sorry, too many clients already")),
    ).toBe("outage");
    expect(
      classifyStorageError(
        drizzle("08P01", "no more connections allowed (too many connections)"),
      ),
    ).toBe("outage");
    expect(classifyStorageError(new RangeError("Cannot use a closed database"))).toBe(
      "outage",
    );
  });

  test("query parameters in Drizzle's message cannot make a data error look like an outage", () => {
    const err = new Error("Failed query: update users\nparams: too many connections", {
      cause: Object.assign(new Error("invalid byte sequence"), { code: "22021" }),
    });
    expect(classifyStorageError(err)).toBe("input");
  });

  test("each kind becomes the AuthError with its status", () => {
    expect(storageError(drizzle("08006")).code).toBe("unavailable");
    expect(storageError(drizzle("22021")).code).toBe("validation_failed");
    expect(storageError(drizzle("23503")).code).toBe("conflict");
    expect(storageError(drizzle("42P01")).code).toBe("internal_error");
  });
});

/** Makes every insert into users fail with a data error, not an outage. */
async function rejectNewUsersAsData(app: TestApp) {
  const database = app.container.database;
  if (database.dialect === "sqlite") {
    database.client.exec(
      "create trigger authd_test_bad_row before insert on users begin select raise(abort, 'authd_test_bad_row'); end",
    );
    return;
  }
  await database.client.unsafe(`
    create function authd_test_bad_row() returns trigger language plpgsql as $$
    begin raise exception 'authd_test_bad_row'; end $$;
    create trigger authd_test_bad_row before insert on users
    for each row execute function authd_test_bad_row();`);
}

async function allowNewUsers(app: TestApp) {
  const database = app.container.database;
  if (database.dialect === "sqlite")
    database.client.exec("drop trigger authd_test_bad_row");
  else await database.client.unsafe("drop trigger authd_test_bad_row on users");
}

for (const dialect of DIALECTS) {
  describe(`data errors do not open the storage circuit [${dialect}]`, () => {
    // Threshold 5 (the default): ten failures in a row would open it.
    const app = useTestApp(dialect, { DB_BREAKER_THRESHOLD: "5" });

    test("ten failing registrations: 500 each, then /readyz 200 and sign-in works", async () => {
      const user = await registerUser(app);
      await rejectNewUsersAsData(app);
      const password = `${GOOD_PASSWORD} never-log-me`;
      for (let i = 0; i < 10; i++) {
        const res = await app.request("POST", "/auth/register", {
          json: { email: uniqueEmail(), password },
        });
        await expectProblem(res, 500, "internal_error");
      }
      expect((await app.request("GET", "/readyz")).status).toBe(200);
      await loginOk(app, user.email, user.password);
      // The cause is logged, without the query parameters.
      const logged = app.logs.filter((l) => l.msg === "storage error");
      expect(logged).toHaveLength(10);
      expect(JSON.stringify(logged[0])).toContain("authd_test_bad_row");
      expect(app.rawLogs()).not.toContain("never-log-me");
      expect(app.rawLogs()).not.toContain("$argon2");
      await allowNewUsers(app);
      await registerUser(app);
    });

    test("a NUL handed straight to the store, ten times: refused per call, storage stays up", async () => {
      // The models refuse NUL with 422 before any query (tests/http/
      // hostile-input.test.ts); this is the second line, should one slip past.
      for (let i = 0; i < 10; i++) {
        const result = await app.container.store.findUserByEmail("a\u0000b@x.io").then(
          (u) => ({ ok: true as const, found: u !== null }),
          (e: unknown) => ({
            ok: false as const,
            code: isAuthError(e) ? e.code : "raw",
          }),
        );
        // PostgreSQL rejects the byte (SQLSTATE 22021); SQLite stores and finds nothing.
        expect(result).toEqual(
          dialect === "pg"
            ? { ok: false, code: "validation_failed" }
            : { ok: true, found: false },
        );
      }
      expect((await app.request("GET", "/readyz")).status).toBe(200);
      const user = await registerUser(app);
      await loginOk(app, user.email, user.password);
    });
  });
}
