/** GET /healthz (liveness) and GET /readyz (readiness). */
import { Elysia, t } from "elysia";
import type { Container } from "../../container.ts";
import { problemResponse } from "../problem.ts";
import { contextOf } from "../request-context.ts";

export const healthRoutes = (c: Container) =>
  new Elysia({ name: "health-routes", detail: { tags: ["health"] } })
    .get("/healthz", () => ({ status: "ok" as const }), {
      response: { 200: t.Object({ status: t.Literal("ok") }) },
      detail: { summary: "Liveness: 200 while the process runs" },
    })
    .get(
      "/readyz",
      async ({ request }) => {
        const { ok, checks } = await c.readiness();
        if (ok) return Response.json({ status: "ok", checks });
        const failing = Object.entries(checks)
          .filter(([, v]) => v === "failing")
          .map(([k]) => k);
        const res = problemResponse({
          code: "unavailable",
          detail: `not ready: ${failing.join(", ")} failing`,
          requestId: contextOf(request).requestId,
        });
        const body = { ...((await res.json()) as object), checks };
        return new Response(JSON.stringify(body), {
          status: 503,
          headers: res.headers,
        });
      },
      {
        response: {
          200: t.Object({
            status: t.Literal("ok"),
            checks: t.Record(t.String(), t.String()),
          }),
        },
        detail: {
          summary:
            "Readiness: storage answers, migrations are current, a signing key is loaded",
        },
      },
    );
