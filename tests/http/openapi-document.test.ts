/**
 * The document's finishing step on routes shaped like the ones other issues
 * add (email flows, forward auth, OAuth endpoints, metrics): they get their
 * statuses, problem+json and security from what they are, with nothing
 * written for the document, and what a route declares itself is kept.
 */
import { describe, expect, test } from "bun:test";
import SwaggerParser from "@apidevtools/swagger-parser";
import { Elysia, t } from "elysia";
import type { Container } from "../../src/container.ts";
import { authGuard } from "../../src/http/guard.ts";
import { Problem } from "../../src/http/models.ts";
import { openApiRoutes } from "../../src/http/openapi.ts";

interface Doc {
  openapi: string;
  tags: { name: string; description?: string }[];
  paths: Record<
    string,
    Record<
      string,
      {
        security?: Record<string, string[]>[];
        responses: Record<
          string,
          { description: string; content?: Record<string, unknown> }
        >;
      }
    >
  >;
}

/** An app of routes like the second wave's, documented by the real mechanism. */
async function documentOf(): Promise<Doc> {
  // The guard reads the container only when a request comes; none does here.
  const guard = authGuard({} as Container);
  const OAuthError = t.Object(
    { error: t.String(), error_description: t.Optional(t.String()) },
    { description: "RFC 6749 §5.2 error" },
  );
  const app: Elysia = new Elysia()
    .use(
      openApiRoutes({
        title: "t",
        version: "1",
        description: "d",
        tags: [{ name: "auth", description: "known" }],
        ipBudgeted: /^\/(auth|oauth)(\/|$)/,
        app: () => app,
      }),
    )
    .use(guard)
    .post("/auth/password/forgot", () => new Response(null, { status: 202 }), {
      body: t.Object({ email: t.String() }),
      response: { 202: t.Void() },
      detail: { tags: ["auth"], summary: "forgot" },
    })
    .get("/auth/verify", () => new Response(null), {
      auth: true,
      response: { 200: t.Void() },
      detail: { tags: ["forward-auth"], summary: "verify" },
    })
    .post("/oauth/token", () => ({ access_token: "x" }), {
      parse: "urlencoded",
      body: t.Object({ grant_type: t.String() }),
      response: { 200: t.Object({ access_token: t.String() }), 400: OAuthError },
      detail: { tags: ["oauth"], summary: "token" },
    })
    .get("/metrics", () => "", {
      response: { 200: t.String(), 401: Problem },
      detail: { tags: ["operations"], summary: "metrics" },
    })
    .get("/oauth/introspect-like", () => ({}), {
      admin: true,
      detail: { tags: ["oauth"], summary: "admin only" },
    }) as unknown as Elysia;
  const res = await app.handle(new Request("http://localhost/swagger/json"));
  return (await res.json()) as Doc;
}

const problem = {
  "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } },
};

describe("finishing the document for routes added later", () => {
  test("it is valid OpenAPI 3.1", async () => {
    const doc = await documentOf();
    await SwaggerParser.validate(structuredClone(doc) as never);
    expect(doc.openapi).toBe("3.1.0");
  });

  test("a JSON POST under /auth gets 400, 413, 415, 422, 429 and 503 as problems; its 202 has no content", async () => {
    const op = (await documentOf()).paths["/auth/password/forgot"]?.post;
    expect(Object.keys(op?.responses ?? {})).toEqual([
      "202",
      "400",
      "413",
      "415",
      "422",
      "429",
      "503",
    ]);
    expect(op?.responses["202"]).toEqual({
      description: "Accepted",
      headers: { "X-Request-Id": { $ref: "#/components/headers/X-Request-Id" } },
    } as never);
    for (const s of ["400", "413", "415", "422", "429", "503"])
      expect(op?.responses[s]?.content).toEqual(problem);
  });

  test("a bearer GET gets its security, 401 and 503 from the macro alone", async () => {
    const op = (await documentOf()).paths["/auth/verify"]?.get;
    expect(op?.security).toEqual([{ bearer: [] }]);
    expect(Object.keys(op?.responses ?? {})).toEqual(["200", "401", "413", "503"]);
    expect(op?.responses["401"]?.description).toContain("invalid_token");
    expect(op?.responses["200"]).not.toHaveProperty("content");
  });

  test("an admin route names the role and gets 403", async () => {
    const op = (await documentOf()).paths["/oauth/introspect-like"]?.get;
    expect(op?.security).toEqual([{ bearer: ["admin"] }]);
    expect(op?.responses["403"]?.content).toEqual(problem);
  });

  test("a route's own error shape is kept (RFC 6749 on /oauth/token); the rest is added", async () => {
    const op = (await documentOf()).paths["/oauth/token"]?.post;
    expect(Object.keys(op?.responses["400"]?.content ?? {})).toEqual([
      "application/json",
    ]);
    expect(JSON.stringify(op?.responses["400"])).toContain("RFC 6749");
    expect(op?.responses["429"]?.content).toEqual(problem);
    expect(op?.responses["415"]?.content).toEqual(problem);
  });

  test("declared problems become problem+json; new tags are listed after the known ones", async () => {
    const doc = await documentOf();
    expect(doc.paths["/metrics"]?.get?.responses["401"]?.content).toEqual(problem);
    expect(doc.paths["/metrics"]?.get?.responses["200"]?.content).toHaveProperty(
      "text/plain",
    );
    expect(doc.tags.map((t) => t.name)).toEqual([
      "auth",
      "forward-auth",
      "oauth",
      "operations",
    ]);
    expect(doc.tags[0]?.description).toBe("known");
  });
});
