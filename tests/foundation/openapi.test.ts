import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { createApp } from "../../src/http/app.ts";
import { createTestApp, type TestApp } from "../helpers/harness.ts";

interface Operation {
  requestBody?: {
    content?: Record<string, { schema?: { properties?: Record<string, unknown> } }>;
  };
  responses?: Record<string, { content?: Record<string, { schema?: unknown }> }>;
  security?: Record<string, string[]>[];
  parameters?: { name: string; in: string }[];
}

interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components?: { securitySchemes?: Record<string, Record<string, unknown>> };
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
    });
  }
  return rows;
}

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

  const implemented = () => rows.filter((r) => served.has(`${r.method} ${r.route}`));

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
      if (r.path.startsWith("/.well-known/openid")) continue; // shape is OIDC's
      expect({ name, documented: response !== undefined }).toEqual({
        name,
        documented: true,
      });
      if (r.success !== "204" && r.success !== "202") {
        const schema = response?.content?.["application/json"]?.schema;
        expect({ name, schema: schema !== undefined }).toEqual({ name, schema: true });
      }
    }
  });

  test("path parameters are declared", () => {
    const op = doc.paths["/users/me/sessions/{id}"]?.delete;
    expect(op?.parameters).toContainEqual(
      expect.objectContaining({ name: "id", in: "path" }),
    );
  });

  test("GET /swagger serves Swagger UI pointing at the document", async () => {
    const res = await app.request("GET", "/swagger");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toStartWith("text/html");
    const html = await res.text();
    expect(html).toContain("swagger-ui");
    expect(html).toContain("swagger/json");
  });
});
