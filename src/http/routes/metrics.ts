/**
 * GET /metrics: the Prometheus text format (src/infra/metrics.ts). With
 * METRICS_TOKEN set it wants `Authorization: Bearer <METRICS_TOKEN>`;
 * without, it is open, as is usual for a port only Prometheus reaches.
 * Not served at all with METRICS_ENABLED=false (404).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { Elysia, t } from "elysia";
import type { Container } from "../../container.ts";
import { AuthError } from "../../core/errors.ts";
import { Problem } from "../models.ts";

export const METRICS_PATH = "/metrics";

const BEARER = /^bearer[ ]+(\S+)\s*$/i;

// Digests have one length whatever was sent, so the comparison takes the
// same time for every wrong token, short, long or almost right.
const digest = (s: string) => createHash("sha256").update(s).digest();

/** A check of the Authorization header against the token; null when none is set. */
export function metricsTokenCheck(
  token: string,
): ((header: string | null) => boolean) | null {
  if (!token) return null;
  const expected = digest(token);
  return (header) => {
    const presented = header ? BEARER.exec(header)?.[1] : undefined;
    // Compared even when absent, so a missing header costs what a wrong one does.
    const ok = timingSafeEqual(digest(presented ?? ""), expected);
    return ok && presented !== undefined;
  };
}

export const metricsRoutes = (c: Container) => {
  const routes = new Elysia({
    name: "metrics-routes",
    detail: { tags: ["operations"] },
  });
  const { metrics } = c;
  if (!metrics) return routes;
  const authorized = metricsTokenCheck(c.config.METRICS_TOKEN);
  return routes.get(
    METRICS_PATH,
    async ({ request }) => {
      if (authorized && !authorized(request.headers.get("authorization")))
        throw new AuthError(
          "unauthenticated",
          "/metrics needs `Authorization: Bearer <METRICS_TOKEN>`",
        );
      return new Response(await metrics.scrape(), {
        headers: { "content-type": metrics.contentType },
      });
    },
    {
      response: {
        200: t.String({ description: "Prometheus text exposition format 0.0.4" }),
        401: Problem,
      },
      detail: {
        summary: "Prometheus metrics (a bearer METRICS_TOKEN when one is set)",
        description:
          "Counters of requests (by method, route pattern and status), logins and refreshes by outcome, 429s by budget; a request-duration histogram by route; gauges of the password-hash queue, the storage circuit and the outbox; build info and the process metrics. 401 only when METRICS_TOKEN is set and the header does not carry it.",
        security: [{ metricsToken: [] }, {}],
        responses: {
          200: {
            description: "Prometheus text exposition format 0.0.4",
            content: {
              "text/plain; version=0.0.4; charset=utf-8": {
                schema: { type: "string" },
              },
            },
          },
        },
      },
    },
  );
};
