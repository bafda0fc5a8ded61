/**
 * HTTP over the network, for tests against a real daemon process
 * (tests/e2e/daemon-process.ts): what a client does, with fetch.
 * In-process suites use TestApp.request instead.
 */
import { expect } from "bun:test";
import { GOOD_PASSWORD, type TokenBody, uniqueEmail } from "./harness.ts";

export interface FetchOptions {
  /** Sent as `Authorization: Bearer …`. */
  token?: string;
  headers?: Record<string, string>;
}

function headersOf(options: FetchOptions, json: boolean): Record<string, string> {
  const headers: Record<string, string> = { ...options.headers };
  if (json) headers["content-type"] = "application/json";
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  return headers;
}

/** POSTs `json` to `base + path`. */
export const postJson = (
  base: string,
  path: string,
  json: unknown,
  options: FetchOptions = {},
) =>
  fetch(`${base}${path}`, {
    method: "POST",
    headers: headersOf(options, true),
    body: JSON.stringify(json),
  });

/** GETs `base + path`, with a bearer token when given. */
export const getFrom = (base: string, path: string, options: FetchOptions = {}) =>
  fetch(`${base}${path}`, { headers: headersOf(options, false) });

/** Registers an account on a running daemon; fails the test unless it is a 201. */
export async function registerOver(
  base: string,
  email = uniqueEmail("e2e"),
  password = GOOD_PASSWORD,
): Promise<TokenBody & { email: string; password: string }> {
  const res = await postJson(base, "/auth/register", { email, password });
  const text = await res.text();
  expect({ status: res.status, text }).toMatchObject({ status: 201 });
  return { ...(JSON.parse(text) as TokenBody), email, password };
}

/** Logs in on a running daemon; fails the test unless it is a 200. */
export async function loginOver(
  base: string,
  email: string,
  password = GOOD_PASSWORD,
): Promise<TokenBody> {
  const res = await postJson(base, "/auth/login", { email, password });
  const text = await res.text();
  expect({ status: res.status, text }).toMatchObject({ status: 200 });
  return JSON.parse(text) as TokenBody;
}

/** The key ids a daemon's JWKS publishes. */
export async function jwksKidsOf(base: string): Promise<string[]> {
  const res = await getFrom(base, "/.well-known/jwks.json");
  expect(res.status).toBe(200);
  return ((await res.json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
}
