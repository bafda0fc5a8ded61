/**
 * GET /swagger/json: the OpenAPI 3.1 document of every route.
 *
 * @elysiajs/openapi turns the route table (TypeBox schemas, `detail`) into
 * paths; `finishDocument` (./openapi-document.ts) then makes the result true
 * to what the server answers. The document is built once, on the first
 * request, when every route is registered; both modules are loaded then, not
 * at start-up (~20 ms of a start from source, docs/performance.md).
 */
import { type AnyElysia, Elysia } from "elysia";
import type { DocumentInfo } from "./openapi-document.ts";
import { SPEC_PATH } from "./swagger-ui.ts";

export interface OpenApiOptions extends DocumentInfo {
  /** The app whose routes are documented (read at the first request). */
  app: () => AnyElysia;
}

export const openApiRoutes = (options: OpenApiOptions) => {
  let json: Promise<string> | undefined;
  const build = async () => {
    const [{ toOpenAPISchema }, { finishDocument }] = await Promise.all([
      import("@elysiajs/openapi"),
      import("./openapi-document.ts"),
    ]);
    // staticFile: false, or paths with a dot (/.well-known/*) would be left out.
    const generated = toOpenAPISchema(options.app(), { staticFile: false });
    return JSON.stringify(finishDocument(generated, options));
  };
  return new Elysia({ name: "openapi-document" }).get(
    SPEC_PATH,
    async () => {
      // Concurrent first requests share one build; a failed one is not kept.
      json ??= build().catch((e: unknown) => {
        json = undefined;
        throw e;
      });
      return new Response(await json, {
        headers: { "content-type": "application/json; charset=utf-8" },
      });
    },
    { detail: { hide: true } },
  );
};
