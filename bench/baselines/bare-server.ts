/**
 * Baseline: bare Bun.serve answering every request with the same JSON body
 * the daemon's GET /users/me returns (BENCH_BODY), nothing else. The ceiling
 * for any route on this machine, under the same load generator.
 */
const body = process.env.BENCH_BODY ?? "{}";
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  fetch: () => new Response(body, { headers: { "content-type": "application/json" } }),
});
process.on("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});
