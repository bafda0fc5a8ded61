/**
 * Assertions and small clients shared by the HTTP suites: problem+json
 * checks, token-response checks, and typed shortcuts for the auth endpoints.
 */
import { expect } from "bun:test";
import type { Container } from "../../src/container.ts";
import * as pgSchema from "../../src/db/schema/pg.ts";
import * as sqliteSchema from "../../src/db/schema/sqlite.ts";
import type { TestApp, TokenBody } from "./harness.ts";

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  request_id: string;
  errors?: { path: string; message: string }[];
}

/** Asserts an RFC 9457 problem with this status and code; returns its body. */
export async function expectProblem(
  res: Response,
  status: number,
  code: string,
): Promise<ProblemBody> {
  const body = (await res.json()) as ProblemBody;
  expect({ status: res.status, code: body.code }).toEqual({ status, code });
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  expect(body.type).toBe("about:blank");
  expect(body.status).toBe(status);
  expect(body.request_id).toBe(res.headers.get("x-request-id") ?? "missing");
  return body;
}

/** A 422 whose errors name exactly these JSON pointers. */
export async function expectValidation(
  res: Response,
  ...paths: string[]
): Promise<ProblemBody> {
  const body = await expectProblem(res, 422, "validation_failed");
  expect(body.errors?.map((e) => e.path).sort()).toEqual([...paths].sort());
  for (const e of body.errors ?? []) expect(e.message.length).toBeGreaterThan(0);
  return body;
}

/** 401 for a token that was sent and rejected (RFC 6750 §3). */
export async function expectRejectedToken(res: Response): Promise<ProblemBody> {
  const body = await expectProblem(res, 401, "invalid_token");
  expect(res.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
  return body;
}

/** A token response: status, no-store, and the RFC 6749 §5.1 shape. */
export async function expectTokens(res: Response, status = 200): Promise<TokenBody> {
  const text = await res.text();
  expect({ status: res.status, text }).toMatchObject({ status });
  expect(res.headers.get("cache-control")).toBe("no-store");
  expect(res.headers.get("content-type")).toStartWith("application/json");
  const body = JSON.parse(text) as TokenBody;
  expect(body.token_type).toBe("Bearer");
  expect(typeof body.access_token).toBe("string");
  expect(typeof body.refresh_token).toBe("string");
  expect(body).not.toHaveProperty("user.password_hash");
  expect(body).not.toHaveProperty("user.passwordHash");
  return body;
}

export const post = (app: TestApp, path: string, json: unknown, token?: string) =>
  app.request("POST", path, token ? { json, token } : { json });

export const login = (app: TestApp, email: string, password: string) =>
  post(app, "/auth/login", { email, password });

export const refresh = (app: TestApp, refreshToken: string) =>
  post(app, "/auth/refresh", { refresh_token: refreshToken });

export async function loginOk(
  app: TestApp,
  email: string,
  password: string,
): Promise<TokenBody> {
  return expectTokens(await login(app, email, password));
}

export async function refreshOk(app: TestApp, refreshToken: string) {
  return expectTokens(await refresh(app, refreshToken));
}

export const me = (app: TestApp, token: string) =>
  app.request("GET", "/users/me", { token });

export { type AccessClaimsBody, claimsOf, headerOf } from "./jwt.ts";

/** Every stored refresh-token row (to check that only hashes are stored). */
export async function refreshTokenRows(app: { container: Container }) {
  const database = app.container.database;
  if (database.dialect === "pg") {
    return database.db.select().from(pgSchema.refreshTokens);
  }
  return database.db.select().from(sqliteSchema.refreshTokens).all();
}

/** A session's refresh-token rows, and how many of them are unspent and unrevoked. */
export async function sessionTokens(app: { container: Container }, sessionId: string) {
  const rows = (await refreshTokenRows(app)).filter((r) => r.sessionId === sessionId);
  const live = rows.filter((r) => r.usedAt === null && r.revokedAt === null);
  return { rows, live };
}

/** Session ids that are live for a user, as the store sees them. */
export async function liveSessionIds(app: TestApp, userId: string): Promise<string[]> {
  const list = await app.container.store.listLiveSessions(userId, app.clock.now());
  return list.map((s) => s.id).sort();
}

/** The user's audit events for one action, newest first. */
export const auditOf = (app: TestApp, action: string, userId?: string) =>
  app.container.store.listAudit({
    action,
    limit: 100,
    ...(userId ? { userId } : {}),
  });

export const CLI = { actorId: "cli" } as const;
