import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { ERROR_CODES } from "../../src/core/errors.ts";
import type { Hasher } from "../../src/core/ports.ts";
import { PROBLEM_STATUS, problemResponse } from "../../src/http/problem.ts";
import { DIALECTS, PG_URL } from "../helpers/databases.ts";
import {
  createTestApp,
  GOOD_PASSWORD,
  registerUser,
  type TestApp,
  uniqueEmail,
} from "../helpers/harness.ts";
import { expectProblem, expectValidation } from "../helpers/http.ts";

const LIMIT = 1024;

/** A JSON body of exactly `size` bytes. */
const jsonOfSize = (size: number) => {
  const base = JSON.stringify({ email: "a@example.com", password: "" });
  return base.replace(
    '"password":""',
    `"password":"${"x".repeat(size - base.length)}"`,
  );
};

/** A request body streamed in chunks, so it has no Content-Length. */
function streamed(text: string, chunkSize = 256): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + chunkSize));
      offset += chunkSize;
    },
  });
}

describe("the problem table", () => {
  test("every error code has a status and a title, and renders as problem+json", async () => {
    for (const code of ERROR_CODES) {
      const { status, title, publicCode } = PROBLEM_STATUS[code];
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(600);
      const res = problemResponse({ code, detail: "d", requestId: "rid-1" });
      expect(res.status).toBe(status);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      expect(await res.json()).toEqual({
        type: "about:blank",
        title,
        status,
        code: publicCode ?? code,
        detail: "d",
        request_id: "rid-1",
      });
    }
  });

  test("a mailed link token that is refused is 400 invalid_token, without a Bearer challenge", async () => {
    const res = problemResponse({
      code: "invalid_link_token",
      detail: "d",
      requestId: "rid-2",
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("www-authenticate")).toBeNull();
    expect(((await res.json()) as { code: string }).code).toBe("invalid_token");
  });
});

for (const dialect of DIALECTS) {
  describe(`errors are problem+json [${dialect}]`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(dialect, { MAX_BODY_BYTES: String(LIMIT) });
    });
    afterAll(() => app.close());

    test("unknown route: 404 not_found, with the client's request id", async () => {
      const res = await app.request("GET", "/no/such/route", {
        headers: { "x-request-id": "client-id.42" },
      });
      const body = await expectProblem(res, 404, "not_found");
      expect(body.request_id).toBe("client-id.42");
    });

    test("wrong method: 405 with Allow listing what the path serves", async () => {
      const cases: [string, string, string][] = [
        ["DELETE", "/healthz", "GET"],
        ["GET", "/auth/login", "POST"],
        // DELETE is /users/{id} (the admin API), which /users/me also matches.
        ["PUT", "/users/me", "DELETE, GET, PATCH"],
        ["PUT", "/users/some-id", "DELETE, GET, PATCH"],
        ["POST", "/users/me/sessions/some-id", "DELETE"],
      ];
      for (const [method, path, allow] of cases) {
        const res = await app.request(method, path);
        await expectProblem(res, 405, "method_not_allowed");
        expect({ method, path, allow: res.headers.get("allow") }).toEqual({
          method,
          path,
          allow,
        });
      }
    });

    test("malformed JSON: 400 malformed_body, no field errors", async () => {
      for (const body of ["{not json", '{"email": "a@b.c",', "", "[1,"]) {
        const res = await app.request("POST", "/auth/login", {
          headers: { "content-type": "application/json" },
          body,
        });
        const problem = await expectProblem(res, 400, "malformed_body");
        expect(problem.errors).toBeUndefined();
      }
    });

    test("validation: 422 validation_failed with one error per field", async () => {
      const res = await app.request("POST", "/auth/register", { json: { email: 42 } });
      await expectValidation(res, "/email", "/password");
      const unknown = await app.request("POST", "/auth/register", {
        json: { email: uniqueEmail(), password: GOOD_PASSWORD, roles: ["admin"] },
      });
      await expectValidation(unknown, "/roles");
      const notObject = await app.request("POST", "/auth/login", { json: [1, 2] });
      expect(notObject.status).toBe(422);
    });

    test("a body that is not JSON: 415", async () => {
      const types = [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
      ];
      for (const type of types) {
        const res = await app.request("POST", "/auth/login", {
          headers: { "content-type": type },
          body: "email=a@example.com&password=x",
        });
        await expectProblem(res, 415, "unsupported_media_type");
      }
      const charset = await app.request("POST", "/auth/login", {
        headers: { "content-type": "application/json; charset=utf-8" },
        body: JSON.stringify({ email: "nobody@example.com", password: "x" }),
      });
      expect(charset.status).toBe(401);
    });

    test("a body over MAX_BODY_BYTES with Content-Length: 413", async () => {
      const res = await app.request("POST", "/auth/login", {
        headers: {
          "content-type": "application/json",
          "content-length": `${LIMIT + 1}`,
        },
        body: jsonOfSize(LIMIT + 1),
      });
      await expectProblem(res, 413, "payload_too_large");
      // Refused on the declared length alone, before a byte is read.
      const declared = await app.request("POST", "/auth/login", {
        headers: { "content-type": "application/json", "content-length": "99999999" },
        body: streamed("{}"),
      });
      await expectProblem(declared, 413, "payload_too_large");
      // At the limit it is read and judged on its merits.
      const atLimit = await app.request("POST", "/auth/login", {
        headers: { "content-type": "application/json" },
        body: jsonOfSize(LIMIT),
      });
      expect(atLimit.status).toBe(401);
    });

    test("a streamed body over MAX_BODY_BYTES without Content-Length: 413", async () => {
      const send = (size: number) => {
        const req = new Request("http://authd.test/auth/login", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: streamed(jsonOfSize(size)),
          duplex: "half",
        } as RequestInit);
        expect(req.headers.get("content-length")).toBeNull();
        return app.handle(req);
      };
      await expectProblem(await send(LIMIT * 4), 413, "payload_too_large");
      await expectProblem(await send(LIMIT + 1), 413, "payload_too_large");
      expect((await send(LIMIT)).status).toBe(401);
    });

    test("a lying Content-Length does not get a larger body past the limit", async () => {
      const req = new Request("http://authd.test/auth/login", {
        method: "POST",
        headers: { "content-type": "application/json", "content-length": "10" },
        body: streamed(jsonOfSize(LIMIT * 2)),
        duplex: "half",
      } as RequestInit);
      await expectProblem(await app.handle(req), 413, "payload_too_large");
    });
  });

  describe(`unexpected errors [${dialect}]`, () => {
    let app: TestApp;
    const throwing: Hasher = {
      hash: async () => {
        throw new Error("kaboom: hasher exploded at /var/lib/secret");
      },
      verify: async () => false,
      needsRehash: () => false,
    };
    beforeAll(async () => {
      app = await createTestApp(dialect, {}, { hasher: throwing });
    });
    afterAll(() => app.close());

    test("500 internal_error; the cause goes to the log, not the client", async () => {
      const res = await app.request("POST", "/auth/register", {
        json: { email: uniqueEmail(), password: GOOD_PASSWORD },
        headers: { "x-request-id": "boom-1" },
      });
      const text = await res.clone().text();
      const body = await expectProblem(res, 500, "internal_error");
      expect(body.request_id).toBe("boom-1");
      expect(text).not.toContain("kaboom");
      expect(text).not.toContain("/var/lib");
      expect(text).not.toMatch(/\bat /);

      const lines = app.logs.filter((l) => l.request_id === "boom-1");
      const error = lines.find((l) => l.level === "error");
      expect(JSON.stringify(error)).toContain("kaboom");
      expect(lines.find((l) => l.msg === "request")).toMatchObject({ status: 500 });
    });
  });

  describe(`storage down [${dialect}]`, () => {
    let app: TestApp;
    afterEach(() => app.close());

    /** Takes the database away under the running app. */
    async function breakStorage() {
      const database = app.container.database;
      if (database.dialect === "sqlite") {
        database.client.close();
        return;
      }
      const name = new URL(app.config.DATABASE_URL).pathname.slice(1);
      const admin = postgres(PG_URL ?? "", { max: 1, onnotice: () => {} });
      try {
        await admin.unsafe(`drop database "${name}" with (force)`);
      } finally {
        await admin.end();
      }
    }

    test("503 unavailable with Retry-After, on /readyz and on every route", async () => {
      app = await createTestApp(dialect, { DB_BREAKER_THRESHOLD: "2" });
      const user = await registerUser(app);
      await breakStorage();

      const ready = await app.request("GET", "/readyz");
      const problem = await expectProblem(ready, 503, "unavailable");
      expect(problem.detail).toContain("storage");
      expect((problem as unknown as { checks: Record<string, string> }).checks).toEqual(
        {
          storage: "failing",
          migrations: "failing",
          signing_key: "ok",
        },
      );
      expect(ready.headers.get("retry-after")).toMatch(/^\d+$/);

      // More calls than the breaker threshold: failing calls and an open
      // circuit both answer 503, never 500.
      for (let i = 0; i < 4; i++) {
        const calls = [
          app.request("POST", "/auth/login", {
            json: { email: user.email, password: user.password },
          }),
          app.request("GET", "/users/me", { token: user.access_token }),
          app.request("POST", "/auth/refresh", {
            json: { refresh_token: user.refresh_token },
          }),
        ];
        for (const res of await Promise.all(calls)) {
          await expectProblem(res, 503, "unavailable");
          expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
        }
      }
      expect(app.logs.some((l) => l.msg === "storage unavailable")).toBe(true);
      // Liveness does not depend on storage.
      expect((await app.request("GET", "/healthz")).status).toBe(200);
    });
  });
}
