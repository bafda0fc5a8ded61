/** GET /healthz (liveness) and GET /readyz (readiness). */
import { Elysia, t } from "elysia";
import type { Container } from "../../container.ts";
import { PROBLEM_DESCRIPTION, Problem } from "../models.ts";
import { problemResponse } from "../problem.ts";
import { contextOf } from "../request-context.ts";

const Checks = t.Record(t.String(), t.Union([t.Literal("ok"), t.Literal("failing")]), {
  description: "storage, migrations, signing_key: ok or failing",
});

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
          200: t.Object({ status: t.Literal("ok"), checks: Checks }),
          503: t.Composite([Problem, t.Object({ checks: Checks })], {
            description: `${PROBLEM_DESCRIPTION}, with every check's state`,
          }),
        },
        detail: {
          summary:
            "Readiness: storage answers, migrations are current, a signing key is loaded",
        },
      },
    );
