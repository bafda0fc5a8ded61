/**
 * The real daemon process, started as `npm start` starts it, on a temporary
 * SQLite file and (with TEST_DATABASE_URL) on a fresh PostgreSQL database.
 */

import { Database } from "bun:sqlite";
import {
  afterAll,
  beforeAll,
  describe,
  expect,
  setDefaultTimeout,
  test,
} from "bun:test";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { getFrom, postJson, registerOver } from "../helpers/daemon-http.ts";
import { createPgDatabase, DIALECTS, type TestDatabase } from "../helpers/databases.ts";
import { GOOD_PASSWORD, TEST_KEK } from "../helpers/harness.ts";
import { kidOf } from "../helpers/jwt.ts";
import { type Daemon, startDaemon } from "./daemon-process.ts";

// Real daemons (with the default argon2id cost) on a busy 2-core machine: generous.
setDefaultTimeout(120_000);

const ISSUER = "https://auth.e2e.example";
const AUDIENCE = "e2e-downstream";
const PG_PASSWORD = "e2e-db-password-never-logged";

/** How the daemon names a PostgreSQL database: no user, no password. */
const pgLocation = (url: string) => {
  const u = new URL(url);
  return `postgres://${u.host}${u.pathname}`;
};

for (const dialect of DIALECTS) {
  describe(`the daemon [${dialect}]`, () => {
    let daemon: Daemon;
    let dir: string;
    let pg: TestDatabase | undefined;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "authd-e2e-"));
      const env: Record<string, string> = {
        ISSUER,
        AUDIENCE,
        DATABASE_URL: `sqlite:${join(dir, "auth.db")}`,
      };
      if (dialect === "pg") {
        pg = await createPgDatabase();
        // A password the server ignores (trust auth), to prove it is never logged.
        const url = new URL(pg.url);
        url.password = PG_PASSWORD;
        env.DATABASE_URL = url.toString();
        env.KEY_ENCRYPTION_KEY = TEST_KEK;
      }
      daemon = await startDaemon({ env });
    });
    afterAll(async () => {
      await daemon?.stop();
      await pg?.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    test("logs one JSON line saying where it listens and which database", () => {
      const listening = daemon.lines.filter((l) => l.msg === "listening");
      expect(listening).toHaveLength(1);
      expect(listening[0]).toMatchObject({
        level: "info",
        host: "127.0.0.1",
        port: daemon.port,
        url: daemon.url,
        database: pg ? pgLocation(pg.url) : `sqlite:${join(dir, "auth.db")}`,
      });
      expect(daemon.lines.find((l) => l.msg === "applied migrations")).toBeDefined();
      expect(daemon.junk).toEqual([]);
      expect(daemon.stderr()).toBe("");
    });

    test("X-Request-Id round-trips to the response and the access log", async () => {
      const res = await fetch(`${daemon.url}/healthz`, {
        headers: { "x-request-id": `e2e.${dialect}:rid-1` },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-request-id")).toBe(`e2e.${dialect}:rid-1`);
      const line = await daemon.waitForLine(
        (l) => l.request_id === `e2e.${dialect}:rid-1` && l.msg === "request",
      );
      expect(line).toMatchObject({ method: "GET", route: "/healthz", status: 200 });
      expect(typeof line.duration_ms).toBe("number");

      const bad = await fetch(`${daemon.url}/healthz`, {
        headers: { "x-request-id": "not valid!" },
      });
      expect(bad.headers.get("x-request-id")).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
      expect(daemon.junk).toEqual([]);
    });

    test("an unknown route is a problem+json 404", async () => {
      const res = await fetch(`${daemon.url}/definitely/not/here`);
      expect(res.status).toBe(404);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toMatchObject({
        type: "about:blank",
        status: 404,
        code: "not_found",
      });
      expect(body.request_id).toBe(res.headers.get("x-request-id"));
    });

    test("serves the OpenAPI document and Swagger UI", async () => {
      const res = await fetch(`${daemon.url}/swagger/json`);
      expect(res.status).toBe(200);
      const doc = (await res.json()) as {
        openapi: string;
        paths: Record<string, unknown>;
      };
      expect(doc.openapi).toMatch(/^3\./);
      expect(Object.keys(doc.paths)).toContain("/auth/login");
      expect(Object.keys(doc.paths)).toContain("/.well-known/jwks.json");
      const ui = await fetch(`${daemon.url}/swagger`);
      expect(ui.headers.get("content-type")).toStartWith("text/html");
    });

    test("bodies over MAX_BODY_BYTES get 413, declared or streamed", async () => {
      const big = JSON.stringify({
        email: "a@example.com",
        password: "x".repeat(70_000),
      });
      const declared = await fetch(`${daemon.url}/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: big,
      });
      expect(declared.status).toBe(413);
      expect(((await declared.json()) as { code: string }).code).toBe(
        "payload_too_large",
      );

      const bytes = new TextEncoder().encode(big);
      let offset = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (offset >= bytes.length) return controller.close();
          controller.enqueue(bytes.slice(offset, offset + 8192));
          offset += 8192;
        },
      });
      const chunked = await fetch(`${daemon.url}/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: stream,
        duplex: "half",
      } as RequestInit);
      expect(chunked.status).toBe(413);
      expect(chunked.headers.get("content-type")).toBe("application/problem+json");
    });

    test("a downstream service verifies access tokens with the JWKS alone", async () => {
      const tokens = await registerOver(daemon.url);

      // Exactly what another service would do: fetch the JWKS, verify offline.
      const jwks = createRemoteJWKSet(new URL(`${daemon.url}/.well-known/jwks.json`));
      const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, {
        issuer: ISSUER,
        audience: AUDIENCE,
        typ: "at+jwt",
      });
      expect(payload.sub).toBe(tokens.user.id);
      expect(["EdDSA", "ES256"]).toContain(protectedHeader.alg);
      expect(typeof payload.sid).toBe("string");

      // …and rejects what it must.
      await expect(
        jwtVerify(tokens.access_token, jwks, { issuer: ISSUER, audience: "other" }),
      ).rejects.toThrow();
      await expect(
        jwtVerify(tokens.access_token, jwks, {
          issuer: "https://evil.example",
          audience: AUDIENCE,
        }),
      ).rejects.toThrow();
      const [h, p, s] = tokens.access_token.split(".");
      const tampered = `${h}.${p}.${s?.startsWith("A") ? `B${s.slice(1)}` : `A${s?.slice(1)}`}`;
      await expect(
        jwtVerify(tampered, jwks, { issuer: ISSUER, audience: AUDIENCE }),
      ).rejects.toThrow();

      const discovery = (await (
        await fetch(`${daemon.url}/.well-known/openid-configuration`)
      ).json()) as { issuer: string; jwks_uri: string };
      expect(discovery.issuer).toBe(ISSUER);
      expect(discovery.jwks_uri).toBe(`${ISSUER}/.well-known/jwks.json`);
      const kid = kidOf(tokens.access_token);
      const published = (await (
        await fetch(`${daemon.url}/.well-known/jwks.json`)
      ).json()) as { keys: { kid: string; d?: unknown }[] };
      expect(published.keys.map((k) => k.kid)).toContain(kid ?? "missing");
      for (const key of published.keys) expect(key.d).toBeUndefined();
    });

    test("a session records the client's address (no proxy trusted: the peer's)", async () => {
      const tokens = await registerOver(daemon.url);
      // A forged header is ignored: TRUST_PROXY is off by default.
      const login = await postJson(
        daemon.url,
        "/auth/login",
        { email: tokens.email, password: tokens.password },
        { headers: { "x-forwarded-for": "203.0.113.9", "user-agent": "e2e-agent/1" } },
      );
      expect(login.status).toBe(200);
      const res = await getFrom(daemon.url, "/users/me/sessions", {
        token: tokens.access_token,
      });
      expect(res.status).toBe(200);
      const { items } = (await res.json()) as {
        items: { ip: string | null; user_agent: string | null }[];
      };
      expect(items).toHaveLength(2);
      expect(items.map((i) => i.ip)).toEqual(["127.0.0.1", "127.0.0.1"]);
      expect(items.map((i) => i.user_agent)).toContain("e2e-agent/1");
    });

    test("every stdout line is one JSON object, and none holds a secret", () => {
      expect(daemon.lines.length).toBeGreaterThan(5);
      expect(daemon.junk).toEqual([]);
      const text = JSON.stringify(daemon.lines);
      expect(text).not.toContain(PG_PASSWORD);
      expect(text).not.toContain(TEST_KEK);
      expect(text).not.toContain(GOOD_PASSWORD);
      // ISSUER is set here, so no warning about it.
      expect(daemon.lines.filter((l) => l.level === "warn")).toEqual([]);
    });
  });
}

describe("the daemon with no DATABASE_URL", () => {
  let cwd: string;
  let daemon: Daemon | undefined;
  beforeAll(() => {
    cwd = mkdtempSync(join(tmpdir(), "authd-default-"));
  });
  afterAll(async () => {
    await daemon?.stop();
    rmSync(cwd, { recursive: true, force: true });
  });

  test("creates ./data/auth.db and a 0600 key file under its working directory", async () => {
    expect(existsSync(join(cwd, "data"))).toBe(false);
    daemon = await startDaemon({ env: {}, cwd });
    expect(daemon.lines.find((l) => l.msg === "listening")).toMatchObject({
      database: "sqlite:./data/auth.db",
      host: "127.0.0.1",
    });
    // No ISSUER and an OS-picked port: tokens would name http://127.0.0.1:0.
    expect(daemon.lines.find((l) => l.level === "warn")).toMatchObject({
      issuer: "http://127.0.0.1:0",
      msg: expect.stringContaining("ISSUER is not set"),
    });
    const keyFile = join(cwd, "data", "key-encryption.key");
    expect(existsSync(join(cwd, "data", "auth.db"))).toBe(true);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);

    await registerOver(daemon.url, "first@example.com");
    expect(await daemon.stop()).toBe(0);
    daemon = undefined;

    const db = new Database(join(cwd, "data", "auth.db"), { readonly: true });
    try {
      const row = db.query<{ email: string }, []>("select email from users").all();
      expect(row).toEqual([{ email: "first@example.com" }]);
    } finally {
      db.close();
    }
  });
});
