/**
 * Makes the document @elysiajs/openapi generates true to what the server
 * answers, in one pass over every operation, so that a route added anywhere
 * is covered without being written down twice:
 *
 * - the statuses every route of a kind can answer are added where the route
 *   did not declare them (STATUS_RULES): 413 anywhere, 400/415 wherever a
 *   body is parsed, 422 with a JSON body or path or query parameters,
 *   401/503 with a bearer token, 403 with a required role, 429/503 on POSTs
 *   that spend the per-IP budget;
 * - every problem response is `application/problem+json` with the Problem
 *   schema (the generator says application/json);
 * - a response without a body (t.Void) has no content (the generator writes
 *   an invalid `content: {type: "void"}`);
 * - integers are integers (the generator types a t.Integer as
 *   `string | integer`, its query-string coercion);
 * - headers the server always or sometimes sends (X-Request-Id, Retry-After,
 *   WWW-Authenticate), operation ids, and a tag list naming every tag used.
 */
import type { ErrorCode } from "../core/errors.ts";
import { PROBLEM_DESCRIPTION, Problem } from "./models.ts";
import { PROBLEM_STATUS } from "./problem.ts";

type Json = { [key: string]: unknown };
type Security = Record<string, string[]>[];

interface Operation extends Json {
  tags?: string[];
  security?: Security;
  parameters?: Json[];
  requestBody?: { content?: Record<string, Json> };
  responses?: Record<string, Json>;
  operationId?: string;
}

export interface DocumentInfo {
  title: string;
  version: string;
  description: string;
  /** Tags in the order Swagger UI shows them, with what each holds. */
  tags: { name: string; description: string }[];
  /** POSTs to these paths spend the per-IP budget (429), see ./app.ts. */
  ipBudgeted: RegExp;
}

export interface GeneratedDocument {
  paths: Record<string, unknown>;
  components?: { schemas?: Record<string, unknown> };
}

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
/** Methods whose requests Elysia hands to the body parser when they carry one. */
const BODY_METHODS = ["post", "put", "patch", "delete"];

const isObject = (v: unknown): v is Json =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** What an operation is, as far as the statuses it can answer depend on it. */
interface Facts {
  method: string;
  path: string;
  /** A body sent with this method is parsed (./app.ts onParse), schema or not. */
  parsesBody: boolean;
  jsonBody: boolean;
  parameters: boolean;
  bearer: boolean;
  roles: boolean;
}

/**
 * The statuses a route answers because of what it is, not what it does:
 * each is answered by the shared machinery (./app.ts, ./guard.ts, the store's
 * circuit breaker) before or around the handler.
 */
const STATUS_RULES: {
  status: number;
  applies: (f: Facts, info: DocumentInfo) => boolean;
}[] = [
  // A declared Content-Length over MAX_BODY_BYTES, on any route.
  { status: 413, applies: () => true },
  // Malformed JSON, or not JSON at all: the parser answers before any
  // check, on every route of a method with a body, whether it reads one.
  { status: 400, applies: (f) => f.parsesBody },
  { status: 415, applies: (f) => f.parsesBody },
  { status: 422, applies: (f) => f.jsonBody || f.parameters },
  { status: 401, applies: (f) => f.bearer },
  { status: 403, applies: (f) => f.roles },
  {
    status: 429,
    applies: (f, info) => f.method === "post" && info.ipBudgeted.test(f.path),
  },
  // The session check and the budget both read storage; its circuit answers 503.
  {
    status: 503,
    applies: (f, info) =>
      f.bearer || (f.method === "post" && info.ipBudgeted.test(f.path)),
  },
];

/** Why a problem of a status comes, for its description. */
const WHY: Record<number, string> = {
  400: "The request is refused as a whole (e.g. the body is not valid JSON).",
  401: "No access token, or a rejected one (WWW-Authenticate says which), or wrong credentials.",
  403: "Not allowed for this user (e.g. the route needs a role the user lacks).",
  404: "No such resource.",
  409: "Conflicts with the current state; `code` says how.",
  413: "The declared body is larger than MAX_BODY_BYTES; the connection is closed.",
  415: "The body is not application/json.",
  422: "A field, path or query parameter is not valid; `errors` names each.",
  429: "A request budget is spent; retry after Retry-After seconds.",
  503: "Storage is unavailable or the daemon is overloaded; retry after Retry-After seconds.",
};

/** Descriptions of success responses that give none. */
const REASONS: Record<number, string> = {
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
};

const problemRef = { $ref: "#/components/schemas/Problem" };
const headerRef = (name: string) => ({ $ref: `#/components/headers/${name}` });

const HEADERS: Record<string, Json> = {
  "X-Request-Id": {
    description:
      "The request's id (the client's own when it was well formed); quote it in reports.",
    schema: { type: "string" },
  },
  "Retry-After": {
    description: "Seconds to wait before trying again.",
    schema: { type: "integer", minimum: 1 },
  },
  "WWW-Authenticate": {
    description:
      '`Bearer`, or `Bearer error="invalid_token"` when a token was rejected (RFC 6750 §3).',
    schema: { type: "string" },
  },
};

/** The public codes answered with a status, from the one table in ./problem.ts. */
function codesOf(status: number): string[] {
  const codes = new Set<string>();
  for (const [code, kind] of Object.entries(PROBLEM_STATUS) as [
    ErrorCode,
    (typeof PROBLEM_STATUS)[ErrorCode],
  ][]) {
    if (kind.status === status) codes.add(kind.publicCode ?? code);
  }
  return [...codes];
}

function problemDescription(status: number): string {
  const codes = codesOf(status);
  const title =
    codes.length > 0 ? PROBLEM_STATUS[codes[0] as ErrorCode]?.title : undefined;
  const parts = [
    `${title ?? `Status ${status}`}.`,
    WHY[status] ?? "",
    codes.length > 0 ? `\`code\`: ${codes.map((c) => `\`${c}\``).join(", ")}.` : "",
  ];
  return parts.filter(Boolean).join(" ");
}

/**
 * `{anyOf: [{type: "string", format: "integer"}, {type: "integer"}]}` — how
 * the generator writes t.Integer, to say a query string "5" is accepted — is
 * the integer it means; the same for numbers.
 */
function collapseNumeric(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(collapseNumeric);
  if (!isObject(node)) return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) out[k] = collapseNumeric(v);
  const anyOf = out.anyOf;
  if (Array.isArray(anyOf) && anyOf.length === 2) {
    const text = anyOf.find(
      (s) =>
        isObject(s) &&
        s.type === "string" &&
        (s.format === "integer" || s.format === "numeric"),
    );
    const number = anyOf.find(
      (s) => isObject(s) && (s.type === "integer" || s.type === "number"),
    );
    if (text && isObject(number)) {
      const { anyOf: _, ...rest } = out;
      return { ...rest, ...number };
    }
  }
  return out;
}

/** One requirement per scheme, with the union of the roles named for it. */
function mergeSecurity(security: Security | undefined): Security | undefined {
  if (!security || security.length === 0) return undefined;
  const roles = new Map<string, Set<string>>();
  for (const requirement of security) {
    for (const [scheme, names] of Object.entries(requirement)) {
      const set = roles.get(scheme) ?? new Set<string>();
      for (const n of names) set.add(n);
      roles.set(scheme, set);
    }
  }
  return [...roles].map(([scheme, names]) => ({ [scheme]: [...names].sort() }));
}

/** A response as the server sends it: problem+json, no void content, headers. */
function finishResponse(status: number, response: Json): Json {
  const content = isObject(response.content) ? response.content : undefined;
  const out: Json = { ...response };
  // The generator's "no body": a content map whose keys are not media types.
  if (content && Object.keys(content).some((k) => !k.includes("/"))) delete out.content;
  const json = content?.["application/json"];
  const schema = isObject(json) ? json.schema : undefined;
  if (
    status >= 400 &&
    isObject(schema) &&
    typeof schema.description === "string" &&
    schema.description.startsWith(PROBLEM_DESCRIPTION)
  ) {
    const plain = schema.description === PROBLEM_DESCRIPTION;
    out.content = {
      "application/problem+json": { schema: plain ? problemRef : schema },
    };
    out.description = problemDescription(status);
  }
  // The generator's placeholder ("Response for status 200") says nothing.
  if (typeof out.description !== "string" || out.description.startsWith("Response for"))
    out.description = REASONS[status] ?? `Status ${status}`;
  const headers: Json = {
    ...(isObject(out.headers) ? out.headers : {}),
    "X-Request-Id": headerRef("X-Request-Id"),
  };
  if (status === 401) headers["WWW-Authenticate"] = headerRef("WWW-Authenticate");
  if (status === 429 || status === 503)
    headers["Retry-After"] = headerRef("Retry-After");
  out.headers = headers;
  return out;
}

/** `post /users/{id}/sessions` → `postUsersIdSessions`. */
function operationIdOf(method: string, path: string): string {
  const words = path.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return method + words.map((w) => w[0]?.toUpperCase() + w.slice(1)).join("");
}

function finishOperation(
  method: string,
  path: string,
  raw: Operation,
  info: DocumentInfo,
): Operation {
  const op: Operation = { ...raw };
  const security = mergeSecurity(op.security);
  if (security) op.security = security;
  else delete op.security;
  const facts: Facts = {
    method,
    path,
    parsesBody: BODY_METHODS.includes(method),
    jsonBody: isObject(op.requestBody?.content?.["application/json"]),
    parameters: (op.parameters?.length ?? 0) > 0,
    bearer: (security ?? []).some((s) => "bearer" in s),
    roles: (security ?? []).some((s) => Object.values(s).some((r) => r.length > 0)),
  };
  const responses: Record<string, Json> = { ...op.responses };
  for (const rule of STATUS_RULES) {
    if (!rule.applies(facts, info) || String(rule.status) in responses) continue;
    responses[String(rule.status)] = {
      content: { "application/json": { schema: { description: PROBLEM_DESCRIPTION } } },
    };
  }
  op.responses = Object.fromEntries(
    Object.entries(responses)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([status, r]) => [status, finishResponse(Number(status), r)]),
  );
  // The generator's ids keep dots and dashes (`get.well-knownJwks.json`).
  if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(op.operationId ?? ""))
    op.operationId = operationIdOf(method, path);
  return op;
}

/**
 * The finished OpenAPI 3.1 document: `generated` is toOpenAPISchema's
 * output, `info` what the generator cannot know.
 */
export function finishDocument(generated: GeneratedDocument, info: DocumentInfo) {
  const source = collapseNumeric(generated) as GeneratedDocument;
  const paths: Record<string, Record<string, Operation>> = {};
  const used = new Set<string>();
  for (const [path, item] of Object.entries(source.paths)) {
    if (!isObject(item)) continue;
    const finished: Record<string, Operation> = {};
    for (const [method, raw] of Object.entries(item)) {
      if (!METHODS.includes(method) || !isObject(raw)) continue;
      const op = finishOperation(method, path, raw as Operation, info);
      for (const tag of op.tags ?? []) used.add(tag);
      finished[method] = op;
    }
    paths[path] = finished;
  }
  const named = new Set(info.tags.map((t) => t.name));
  return {
    openapi: "3.1.0",
    info: {
      title: info.title,
      version: info.version,
      description: info.description,
      license: { name: "MIT", identifier: "MIT" },
    },
    tags: [
      ...info.tags,
      ...[...used].filter((t) => !named.has(t)).map((name) => ({ name })),
    ],
    paths,
    components: {
      schemas: {
        ...source.components?.schemas,
        Problem: collapseNumeric(JSON.parse(JSON.stringify(Problem))),
      },
      headers: HEADERS,
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description:
            "An access token from /auth/login, /auth/register or /auth/refresh. Where an operation names roles (`admin`), the user must hold one of them.",
        },
        metricsToken: {
          type: "http",
          scheme: "bearer",
          description: "The METRICS_TOKEN setting (only when it is set).",
        },
      },
    },
  };
}
