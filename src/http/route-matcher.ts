/**
 * Knows every route's path pattern, for two things Elysia does not give us
 * before a handler runs: the route name in the access log, and the `Allow`
 * header of a 405 (Elysia alone answers a wrong method with 404).
 */
interface RouteInfo {
  method: string;
  path: string;
}

export function createRouteMatcher(routes: readonly RouteInfo[]) {
  const compiled = routes.map((r) => ({
    method: r.method.toUpperCase(),
    path: r.path,
    regex: new RegExp(
      `^${r.path
        .split("/")
        .map((part) =>
          part.startsWith(":")
            ? "[^/]+"
            : part === "*"
              ? ".*"
              : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
        )
        .join("/")}/?$`,
    ),
  }));
  const matching = (pathname: string) => compiled.filter((r) => r.regex.test(pathname));
  // Routes without parameters, by "METHOD path" (with and without a trailing
  // slash, as the patterns allow): the common case costs one Map lookup.
  const fixed = new Map<string, string>();
  for (const r of compiled) {
    if (r.path.includes(":") || r.path.includes("*")) continue;
    const bare = r.path.length > 1 ? r.path.replace(/\/$/, "") : r.path;
    fixed.set(`${r.method} ${bare}`, r.path);
    if (bare !== "/") fixed.set(`${r.method} ${bare}/`, r.path);
  }
  return {
    /** The route pattern a request will be served by, or null (404). */
    route(method: string, pathname: string): string | null {
      const m = method === "HEAD" ? "GET" : method.toUpperCase();
      const known = fixed.get(`${m} ${pathname}`);
      if (known !== undefined) return known;
      return matching(pathname).find((r) => r.method === m)?.path ?? null;
    },
    /** Methods served at this path; empty when the path is unknown. */
    allowed(pathname: string): string[] {
      return [...new Set(matching(pathname).map((r) => r.method))].sort();
    },
  };
}
