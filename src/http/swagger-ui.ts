/**
 * GET /swagger: Swagger UI, served entirely by the daemon from the pinned
 * swagger-ui-dist package, so the page works with no network and names no
 * other host (API.md "Operations"). Its CSP (./security.ts, ROUTE_CSP) allows
 * scripts, styles and fetches from this origin only; that is why the page
 * carries no inline script and starts Swagger UI from /swagger/init.js.
 *
 * The assets are imported as files: under `bun run` the import is the path
 * of the installed package's file, and `bun build --compile` embeds the file
 * in the executable and gives its path inside the binary, so the standalone
 * daemon serves the same bytes without a node_modules beside it.
 */
import { Elysia } from "elysia";
import faviconPath from "swagger-ui-dist/favicon-32x32.png" with { type: "file" };
import cssPath from "swagger-ui-dist/swagger-ui.css" with { type: "file" };
import bundlePath from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };

/** Where the OpenAPI document is served (./openapi.ts). */
export const SPEC_PATH = "/swagger/json";

/**
 * The assets change only with the pinned package version, i.e. with a new
 * build of the daemon: a browser may keep them an hour.
 */
const ASSET_CACHE = "public, max-age=3600";

/**
 * Starts Swagger UI. `validatorUrl: null` matters: by default Swagger UI
 * sends the document's URL to validator.swagger.io and shows its badge,
 * which is another host (and would leak the daemon's address).
 */
const INIT_SCRIPT = `"use strict";
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: true,
    docExpansion: "list",
    tryItOutEnabled: false
  });
});
`;

const page = (title: string) => `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${title}</title>
  <link rel="icon" type="image/png" href="/swagger/favicon-32x32.png">
  <link rel="stylesheet" href="/swagger/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui" data-spec-url="${SPEC_PATH}"></div>
  <script src="/swagger/swagger-ui-bundle.js"></script>
  <script src="/swagger/init.js"></script>
</body>
</html>
`;

const JS = "text/javascript; charset=utf-8";

/** An asset answer: the bytes, their type, and a cache lifetime. */
const asset = (body: string | (() => Blob), type: string) => () =>
  new Response(typeof body === "function" ? body() : body, {
    headers: { "content-type": type, "cache-control": ASSET_CACHE },
  });

/** The page, its start-up script and the package's assets; none is in the document. */
export const swaggerUiRoutes = (title: string) => {
  const html = page(title);
  const hidden = { detail: { hide: true } };
  return new Elysia({ name: "swagger-ui" })
    .get(
      "/swagger",
      () =>
        new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } }),
      hidden,
    )
    .get("/swagger/init.js", asset(INIT_SCRIPT, JS), hidden)
    .get(
      "/swagger/swagger-ui-bundle.js",
      asset(() => Bun.file(bundlePath), JS),
      hidden,
    )
    .get(
      "/swagger/swagger-ui.css",
      asset(() => Bun.file(cssPath), "text/css; charset=utf-8"),
      hidden,
    )
    .get(
      "/swagger/favicon-32x32.png",
      asset(() => Bun.file(faviconPath), "image/png"),
      hidden,
    );
};
