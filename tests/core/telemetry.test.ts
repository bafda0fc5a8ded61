/**
 * The core's metrics port: how a login's outcome is read from what the core
 * returned or threw, and that observing a login changes nothing about it.
 * Plus the METRICS_TOKEN check of the /metrics route.
 */
import { describe, expect, test } from "bun:test";
import { AuthError } from "../../src/core/errors.ts";
import {
  type LoginOutcome,
  loginOutcomeOf,
  observeLogin,
} from "../../src/core/telemetry.ts";
import { metricsTokenCheck } from "../../src/http/routes/metrics.ts";

describe("login outcomes", () => {
  test("each error the core throws maps to one outcome", () => {
    const cases: [unknown, LoginOutcome][] = [
      [new AuthError("invalid_credentials", "x"), "invalid_credentials"],
      [
        new AuthError("rate_limited", "x", undefined, { retryAfter: 3 }),
        "rate_limited",
      ],
      [new AuthError("email_not_verified", "x"), "refused"],
      [new AuthError("forbidden", "x"), "refused"],
      [new AuthError("unavailable", "x"), "error"],
      [new AuthError("internal_error", "x"), "error"],
      [new Error("a bug"), "error"],
      ["a string", "error"],
    ];
    for (const [error, outcome] of cases)
      expect({ error: String(error), outcome: loginOutcomeOf(error) }).toEqual({
        error: String(error),
        outcome,
      });
  });

  test("observeLogin reports once per call and passes results and errors through", async () => {
    const seen: LoginOutcome[] = [];
    const error = new AuthError("invalid_credentials", "no");
    const login = observeLogin(
      async (ok: boolean) => {
        if (!ok) throw error;
        return "tokens";
      },
      { login: (o) => seen.push(o) },
    );
    expect(await login(true)).toBe("tokens");
    await expect(login(false)).rejects.toBe(error);
    await login(false).catch(() => {});
    expect(seen).toEqual(["success", "invalid_credentials", "invalid_credentials"]);
  });
});

describe("METRICS_TOKEN check", () => {
  test("no token set: no check", () => {
    expect(metricsTokenCheck("")).toBeNull();
  });

  test("only `Bearer <token>` passes", () => {
    const check = metricsTokenCheck("s3cret-token") as (h: string | null) => boolean;
    expect(check("Bearer s3cret-token")).toBe(true);
    expect(check("bearer s3cret-token")).toBe(true);
    expect(check("Bearer   s3cret-token ")).toBe(true);
    for (const header of [
      null,
      "",
      "Bearer",
      "Bearer ",
      "s3cret-token",
      "Basic s3cret-token",
      "Bearer s3cret-toke",
      "Bearer s3cret-token2",
      "Bearer S3CRET-TOKEN",
      "Bearer s3cret-token extra",
    ])
      expect({ header, ok: check(header) }).toEqual({ header, ok: false });
  });
});
