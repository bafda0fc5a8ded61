import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import SwaggerParser from "@apidevtools/swagger-parser";
import { createApp } from "../../src/http/app.ts";
import { createTestApp, type TestApp } from "../helpers/harness.ts";

interface Operation {
  requestBody?: {
    content?: Record<string, { schema?: { properties?: Record<string, unknown> } }>;
  };
  responses?: Record<
    string,
    {
      description?: string;
      content?: Record<string, { schema?: unknown }>;
      headers?: Record<string, unknown>;
    }
  >;
  security?: Record<string, string[]>[];
  parameters?: { name: string; in: string; schema?: Record<string, unknown> }[];
  tags?: string[];
  operationId?: string;
  summary?: string;
}

interface OpenApiDoc {
  openapi: string;
  tags?: { name: string; description?: string }[];
  paths: Record<string, Record<string, Operation>>;
  components?: {
    securitySchemes?: Record<string, Record<string, unknown>>;
    schemas?: Record<string, Record<string, unknown>>;
  };
}

/**
 * Routes served but deliberately left out of the document: Swagger UI itself
 * and its assets. Each must be served (so the list cannot rot), and every
 * other served route must be documented, and nothing else.
 */
const HIDDEN = [
  "get /swagger",
  "get /swagger/json",
  "get /swagger/init.js",
  "get /swagger/swagger-ui-bundle.js",
  "get /swagger/swagger-ui.css",
  "get /swagger/favicon-32x32.png",
];

/**
 * The only routes whose errors are not problem+json: the contract gives the
 * OAuth endpoints RFC 6749 §5.2 error bodies (API.md "Standard clients").
 */
const RFC_ERROR_ROUTES = /^\/oauth\//;

/** Every operation of the document, with its method and path. */
function operations(doc: OpenApiDoc) {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => ({ method, path, op })),
  );
}

/** Every object in a JSON value, depth first. */
function* objectsIn(value: unknown): Generator<Record<string, unknown>> {
  if (Array.isArray(value)) for (const v of value) yield* objectsIn(v);
  else if (value && typeof value === "object") {
    yield value as Record<string, unknown>;
    for (const v of Object.values(value)) yield* objectsIn(v);
  }
}

interface ContractRow {
  method: string;
  /** OpenAPI style: /users/{id} */
  path: string;
  /** Elysia style: /users/:id */
  route: string;
  auth: "none" | "bearer" | "admin";
  bodyFields: string[];
  success: string;
  /** The success answer has no body (the cell says "no body" or "empty body"). */
  bodyless: boolean;
}

/** The endpoint table of docs/API.md, one row per method and path. */
function contractRows(): ContractRow[] {
  const text = readFileSync(resolve(import.meta.dir, "../../docs/API.md"), "utf8");
  const rows: ContractRow[] = [];
  for (const line of text.split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    const m = /^(GET|POST|PUT|PATCH|DELETE) (\/[^\s?`]*)/.exec(cells[1] ?? "");
    // "GET /swagger, GET /swagger/json" is the document itself.
    if (!m?.[1] || !m[2] || /, (GET|POST) /.test(cells[1] ?? "")) continue;
    const body = /`\{([^}]*)\}`/.exec(cells[1] ?? "")?.[1] ?? "";
    const auth = cells[2] ?? "";
    rows.push({
      method: m[1].toLowerCase(),
      path: m[2],
      route: m[2].replace(/\{([^}]+)\}/g, ":$1"),
      auth: auth.startsWith("Bearer")
        ? "bearer"
        : auth.startsWith("admin")
          ? "admin"
          : "none",
      bodyFields: body
        .split(",")
        .map((f) => f.trim().replace(/\?$/, ""))
        .filter(Boolean),
      success: /\b(2\d\d)\b/.exec(cells[3] ?? "")?.[1] ?? "",
      bodyless: /\b(no|empty) body\b/.test(cells[3] ?? ""),
    });
  }
  return rows;
}

const PROBLEM_REF = { $ref: "#/components/schemas/Problem" };

/** What the foundation serves: these must be implemented and documented. */
const FOUNDATION = [
  "get /healthz",
  "get /readyz",
  "get /.well-known/jwks.json",
  "get /.well-known/openid-configuration",
  "post /auth/register",
  "post /auth/login",
  "post /auth/refresh",
  "post /auth/logout",
  "post /auth/logout-all",
  "get /users/me",
  "patch /users/me",
  "post /users/me/password",
  "get /users/me/sessions",
  "delete /users/me/sessions/{id}",
];

describe("OpenAPI document", () => {
  let app: TestApp;
  let doc: OpenApiDoc;
  let served: Set<string>;
  const rows = contractRows();

  beforeAll(async () => {
    app = await createTestApp("sqlite");
    const res = await app.request("GET", "/swagger/json");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toStartWith("application/json");
    doc = (await res.json()) as OpenApiDoc;
    served = new Set(
      createApp(app.container).app.routes.map(
        (r) => `${r.method.toLowerCase()} ${r.path}`,
      ),
    );
  });
  afterAll(() => app.close());

  /** Every route docs/API.md documents: the second wave has landed, all are built. */
  const implemented = () => rows;

  test("every documented route is served", () => {
    const missing = rows
      .filter((r) => !served.has(`${r.method} ${r.route}`))
      .map((r) => `${r.method} ${r.path}`);
    expect(missing).toEqual([]);
  });

  test("is OpenAPI 3 and declares the bearer scheme", () => {
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.components?.securitySchemes?.bearer).toMatchObject({
      type: "http",
      scheme: "bearer",
    });
  });

  test("the contract table parses, and every foundation route is in it and served", () => {
    expect(rows.length).toBeGreaterThanOrEqual(25);
    const contract = new Set(rows.map((r) => `${r.method} ${r.path}`));
    for (const op of FOUNDATION) {
      expect({ op, inContract: contract.has(op) }).toEqual({ op, inContract: true });
    }
    const implementedOps = new Set(implemented().map((r) => `${r.method} ${r.path}`));
    for (const op of FOUNDATION) {
      expect({ op, served: implementedOps.has(op) }).toEqual({ op, served: true });
    }
  });

  test("every implemented route of docs/API.md is documented with its method", () => {
    for (const r of implemented()) {
      const op = `${r.method} ${r.path}`;
      expect({ op, documented: doc.paths[r.path]?.[r.method] !== undefined }).toEqual({
        op,
        documented: true,
      });
    }
  });

  test("no served route is left out of the document", () => {
    for (const key of served) {
      const [method = "", route = ""] = key.split(" ");
      if (route.startsWith("/swagger")) continue;
      const path = route.replace(/:([^/]+)/g, "{$1}");
      expect({ key, documented: doc.paths[path]?.[method] !== undefined }).toEqual({
        key,
        documented: true,
      });
    }
  });

  test("request bodies are JSON with a schema naming the contract's fields", () => {
    const withBody = implemented().filter((r) => r.bodyFields.length > 0);
    expect(withBody.length).toBeGreaterThanOrEqual(6);
    for (const r of withBody) {
      const op = doc.paths[r.path]?.[r.method];
      const content = op?.requestBody?.content ?? {};
      expect({ op: `${r.method} ${r.path}`, types: Object.keys(content) }).toEqual({
        op: `${r.method} ${r.path}`,
        types: ["application/json"],
      });
      const properties = Object.keys(
        content["application/json"]?.schema?.properties ?? {},
      );
      expect({ op: `${r.method} ${r.path}`, properties: properties.sort() }).toEqual({
        op: `${r.method} ${r.path}`,
        properties: [...r.bodyFields].sort(),
      });
    }
  });

  test("bearer routes declare security; public routes do not", () => {
    for (const r of implemented()) {
      const op = doc.paths[r.path]?.[r.method];
      const bearer = (op?.security ?? []).some((s) => "bearer" in s);
      expect({ op: `${r.method} ${r.path}`, bearer }).toEqual({
        op: `${r.method} ${r.path}`,
        bearer: r.auth !== "none",
      });
    }
  });

  test("each route documents its success response, with a schema when it has a body", () => {
    for (const r of implemented()) {
      const op = doc.paths[r.path]?.[r.method];
      const response = op?.responses?.[r.success];
      const name = `${r.method} ${r.path} ${r.success}`;
      expect({ name, documented: response !== undefined }).toEqual({
        name,
        documented: true,
      });
      // "no body" / "empty body" in the success cell: headers or status only.
      if (r.success !== "204" && r.success !== "202" && !r.bodyless) {
        // /metrics is the Prometheus text format; everything else is JSON.
        const type = r.path === "/metrics" ? "text/plain" : "application/json";
        const schema = response?.content?.[type]?.schema;
        expect({ name, schema: schema !== undefined }).toEqual({ name, schema: true });
      }
    }
  });

  test("every admin route is served, tagged admin, with 401 and 403 problems", () => {
    const admin = rows.filter((r) => r.auth === "admin");
    expect(admin.length).toBe(8);
    for (const r of admin) {
      const name = `${r.method} ${r.path}`;
      expect({ name, served: served.has(`${r.method} ${r.route}`) }).toEqual({
        name,
        served: true,
      });
      const op = doc.paths[r.path]?.[r.method];
      expect({ name, tags: op?.tags }).toEqual({ name, tags: ["admin"] });
      for (const status of ["401", "403"]) {
        const content = op?.responses?.[status]?.content;
        expect({ name, status, content }).toEqual({
          name,
          status,
          content: { "application/problem+json": { schema: PROBLEM_REF } },
        });
      }
    }
  });

  test("path parameters are declared", () => {
    const op = doc.paths["/users/me/sessions/{id}"]?.delete;
    expect(op?.parameters).toContainEqual(
      expect.objectContaining({ name: "id", in: "path" }),
    );
  });

  test("GET /swagger serves Swagger UI pointing at the document, from this origin only", async () => {
    const res = await app.request("GET", "/swagger");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toStartWith("text/html");
    const html = await res.text();
    expect(html).toContain('data-spec-url="/swagger/json"');
    // Every script, stylesheet and icon is one of ours; no other host is named.
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] ?? "");
    expect(refs.sort()).toEqual([
      "/swagger/favicon-32x32.png",
      "/swagger/init.js",
      "/swagger/swagger-ui-bundle.js",
      "/swagger/swagger-ui.css",
    ]);
    expect(html).not.toMatch(/https?:|\/\/[a-z]/i);
    expect(html).not.toMatch(/<script>|<style|style=/);
  });

  test("the Swagger UI assets are the installed swagger-ui-dist files", async () => {
    const dist = resolve(import.meta.dir, "../../node_modules/swagger-ui-dist");
    const assets: [string, string, string][] = [
      ["/swagger/swagger-ui-bundle.js", "swagger-ui-bundle.js", "text/javascript"],
      ["/swagger/swagger-ui.css", "swagger-ui.css", "text/css"],
      ["/swagger/favicon-32x32.png", "favicon-32x32.png", "image/png"],
    ];
    for (const [route, file, type] of assets) {
      const res = await app.request("GET", route);
      expect({ route, status: res.status }).toEqual({ route, status: 200 });
      expect(res.headers.get("content-type")).toStartWith(type);
      expect(res.headers.get("cache-control")).toBe("public, max-age=3600");
      const served = new Uint8Array(await res.arrayBuffer());
      expect(Bun.hash(served)).toBe(Bun.hash(readFileSync(resolve(dist, file))));
    }
    const init = await app.request("GET", "/swagger/init.js");
    expect(init.headers.get("content-type")).toStartWith("text/javascript");
    const script = await init.text();
    expect(script).toContain("SwaggerUIBundle(");
    // Swagger UI would otherwise send the document's URL to validator.swagger.io.
    expect(script).toContain("validatorUrl: null");
  });
  test("is valid OpenAPI 3.1: @apidevtools/swagger-parser finds no error", async () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    // validate() dereferences in place: give it a copy.
    const validated = await SwaggerParser.validate(structuredClone(doc) as never);
    expect(Object.keys(validated.paths ?? {}).sort()).toEqual(
      Object.keys(doc.paths).sort(),
    );
  });

  test("documents exactly the served routes, but for the named hidden ones", () => {
    const documented = new Set(
      operations(doc).map(
        ({ method, path }) => `${method} ${path.replace(/\{([^}]+)\}/g, ":$1")}`,
      ),
    );
    for (const hidden of HIDDEN) {
      expect({ hidden, served: served.has(hidden) }).toEqual({ hidden, served: true });
      expect({ hidden, documented: documented.has(hidden) }).toEqual({
        hidden,
        documented: false,
      });
    }
    const shown = [...served].filter((r) => !HIDDEN.includes(r)).sort();
    expect([...documented].sort()).toEqual(shown);
  });

  test("every error is application/problem+json with the Problem schema", () => {
    expect(doc.components?.schemas?.Problem).toMatchObject({
      type: "object",
      required: ["type", "title", "status", "code", "detail", "request_id"],
      properties: { status: { type: "integer" } },
    });
    let errors = 0;
    for (const { method, path, op } of operations(doc)) {
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        if (Number(status) < 400) continue;
        errors++;
        const types = Object.keys(response.content ?? {});
        const name = `${method} ${path} ${status}`;
        if (RFC_ERROR_ROUTES.test(path) && types.includes("application/json")) continue;
        expect({ name, types }).toEqual({ name, types: ["application/problem+json"] });
        const schema = response.content?.["application/problem+json"]?.schema;
        // The Problem itself, or (GET /readyz) an object that extends it.
        const isProblem =
          JSON.stringify(schema) === JSON.stringify(PROBLEM_REF) ||
          JSON.stringify(schema).includes("RFC 9457");
        expect({ name, isProblem }).toEqual({ name, isProblem: true });
      }
    }
    expect(errors).toBeGreaterThan(100);
  });

  test("the statuses every route of a kind answers are documented", () => {
    const has = (op: Operation, status: string) => op.responses?.[status] !== undefined;
    for (const { method, path, op } of operations(doc)) {
      const name = `${method} ${path}`;
      const expected = ["413"];
      // A body sent with these methods is parsed on any route: 400 and 415.
      if (["post", "put", "patch", "delete"].includes(method))
        expected.push("400", "415");
      if (op.requestBody?.content?.["application/json"]) expected.push("422");
      if ((op.parameters ?? []).length > 0) expected.push("422");
      const bearer = op.security?.find((s) => "bearer" in s);
      if (bearer) expected.push("401", "503");
      if ((bearer?.bearer ?? []).length > 0) expected.push("403");
      if (method === "post" && /^\/(auth|oauth)\//.test(path))
        expected.push("429", "503");
      const missing = [...new Set(expected)].filter((s) => !has(op, s));
      expect({ name, missing }).toEqual({ name, missing: [] });
      // The headers that come with them.
      if (has(op, "401"))
        expect(op.responses?.["401"]?.headers).toHaveProperty("WWW-Authenticate");
      for (const s of ["429", "503"])
        if (has(op, s))
          expect(op.responses?.[s]?.headers).toHaveProperty("Retry-After");
      for (const [status, r] of Object.entries(op.responses ?? {}))
        expect({ name, status, id: r.headers?.["X-Request-Id"] }).toEqual({
          name,
          status,
          id: { $ref: "#/components/headers/X-Request-Id" },
        });
    }
    // Admin routes name the role; its 403 follows from it.
    for (const { method, path, op } of operations(doc).filter((o) =>
      o.op.tags?.includes("admin"),
    )) {
      expect({ op: `${method} ${path}`, security: op.security }).toEqual({
        op: `${method} ${path}`,
        security: [{ bearer: ["admin"] }],
      });
    }
  });

  test("responses without a body declare no content; integers are integers", () => {
    for (const { method, path, op } of operations(doc)) {
      const noBody = op.responses?.["204"];
      if (noBody)
        expect({ op: `${method} ${path}`, noBody }).not.toHaveProperty(
          "noBody.content",
        );
      for (const r of Object.values(op.responses ?? {}))
        for (const type of Object.keys(r.content ?? {})) expect(type).toContain("/");
    }
    for (const o of objectsIn(doc)) {
      // The generator's query coercion, `string | integer`, must not survive.
      expect(o.format === "integer" || o.format === "numeric").toBe(false);
      if (Array.isArray(o.type)) expect(o.type).not.toContain("integer");
    }
    const token = doc.paths["/auth/login"]?.post?.responses?.["200"]?.content?.[
      "application/json"
    ]?.schema as { properties: Record<string, unknown> };
    expect(token.properties.expires_in).toMatchObject({ type: "integer" });
    const limit = doc.paths["/users"]?.get?.parameters?.find((p) => p.name === "limit");
    expect(limit?.schema).toMatchObject({ type: "integer" });
  });

  test("every operation has a summary, a declared tag, a unique operationId and a 2xx", () => {
    const tags = new Set((doc.tags ?? []).map((t) => t.name));
    const ids = new Set<string>();
    for (const { method, path, op } of operations(doc)) {
      const name = `${method} ${path}`;
      expect({ name, tags: (op.tags ?? []).filter((t) => !tags.has(t)) }).toEqual({
        name,
        tags: [],
      });
      expect({ name, tagged: (op.tags ?? []).length > 0 }).toEqual({
        name,
        tagged: true,
      });
      expect({ name, summary: typeof op.summary }).toEqual({ name, summary: "string" });
      const success = Object.keys(op.responses ?? {}).filter((c) => /^2\d\d$/.test(c));
      expect({ name, success: success.length > 0 }).toEqual({ name, success: true });
      expect(op.operationId ?? "").toMatch(/^[a-z][A-Za-z0-9]*$/);
      expect(ids.has(op.operationId ?? "")).toBe(false);
      ids.add(op.operationId ?? "");
    }
  });
});
