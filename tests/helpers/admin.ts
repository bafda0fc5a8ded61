/**
 * Shortcuts for the admin API suites: an admin signed in over HTTP, and
 * typed calls to the admin routes.
 */
import { expect } from "bun:test";
import { GOOD_PASSWORD, type TestApp, type TokenBody, uniqueEmail } from "./harness.ts";
import { expectTokens, login } from "./http.ts";

export interface UserBody {
  id: string;
  email: string;
  email_verified: boolean;
  name: string | null;
  roles: string[];
  disabled: boolean;
  created_at: string;
  updated_at: string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export const USER_KEYS = [
  "created_at",
  "disabled",
  "email",
  "email_verified",
  "id",
  "name",
  "roles",
  "updated_at",
];

/** A user made by the operator (as `authctl admin create` does), then signed in. */
export async function signedInAs(
  app: TestApp,
  roles: string[],
  email = uniqueEmail(roles.includes("admin") ? "admin" : "user"),
  password = GOOD_PASSWORD,
): Promise<TokenBody & { email: string; password: string }> {
  await app.container.userAdmin.create({ email, password, roles }, { actorId: "cli" });
  const tokens = await expectTokens(await login(app, email, password));
  return { ...tokens, email, password };
}

export const signedInAdmin = (app: TestApp, email?: string) =>
  signedInAs(app, ["admin", "user"], email);

/** A JSON body of the given status (fails the test with the body otherwise). */
export async function jsonOf<T>(res: Response, status = 200): Promise<T> {
  const text = await res.text();
  expect({ status: res.status, text }).toMatchObject({ status });
  expect(res.headers.get("content-type")).toStartWith("application/json");
  return JSON.parse(text) as T;
}

export const getUser = (app: TestApp, token: string, id: string) =>
  app.request("GET", `/users/${id}`, { token });

export const patchUser = (app: TestApp, token: string, id: string, json: unknown) =>
  app.request("PATCH", `/users/${id}`, { token, json });

export const listUsers = (app: TestApp, token: string, query = "") =>
  app.request("GET", `/users${query ? `?${query}` : ""}`, { token });

/** How many enabled users hold the admin role, as the store sees it. */
export async function activeAdminCount(app: TestApp): Promise<number> {
  return (
    await app.container.store.listUsers({
      role: "admin",
      disabled: false,
      limit: 10_000,
    })
  ).length;
}
