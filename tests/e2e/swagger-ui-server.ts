/**
 * A server of the Swagger UI routes alone, for
 * tests/e2e/swagger-ui-compiled.test.ts to compile with `bun build --compile`:
 * it prints its port as one JSON line and serves until killed.
 */
import { swaggerUiRoutes } from "../../src/http/swagger-ui.ts";

const app = swaggerUiRoutes("authd");
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: (r) => app.handle(r),
});
console.log(JSON.stringify({ port: server.port }));
