/**
 * Forward auth as a gateway runs it: the real nginx (Debian's package,
 * installed by .ci/run) with `auth_request` pointed at GET /auth/verify of
 * the real daemon, in front of a tiny Bun upstream. The nginx configuration
 * is docs/examples/nginx.conf itself, with its placeholders filled in (random
 * ports, a temporary prefix; no root needed). The service principal is made
 * by the real `authctl users create --role service` and introspects over the
 * network, as the documented long-lived credential story says.
 */
import {
  afterAll,
  beforeAll,
  describe,
  expect,
  setDefaultTimeout,
  test,
} from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import type { Server, Subprocess } from "bun";
import { useCliDatabase } from "../cli/authctl-process.ts";
import { loginOver, postJson, registerOver } from "../helpers/daemon-http.ts";
import { DIALECTS } from "../helpers/databases.ts";
import { GOOD_PASSWORD, uniqueEmail } from "../helpers/harness.ts";
import { type Daemon, REPO, startDaemon } from "./daemon-process.ts";

// Starts a daemon, nginx and authctl processes on a busy 2-core machine.
setDefaultTimeout(180_000);

const NGINX = "/usr/sbin/nginx";
const TEMPLATE = join(REPO, "docs/examples/nginx.conf");

/** A port nothing listens on right now (the OS picks it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const address = s.address();
      const port = typeof address === "object" && address ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** docs/examples/nginx.conf with every ${NAME} replaced; fails on a leftover. */
export function renderNginxConf(values: Record<string, string>): string {
  const text = readFileSync(TEMPLATE, "utf8").replace(
    /\$\{([A-Z_]+)\}/g,
    (_, name: string) => {
      const value = values[name];
      if (value === undefined) throw new Error(`no value for \${${name}}`);
      return value;
    },
  );
  return text;
}

interface Nginx {
  url: string;
  errorLog(): string;
  stop(): Promise<void>;
}

/** Runs nginx on the template until it answers; bounded only to turn a hang into a failure. */
async function startNginx(dir: string, authdPort: number, appPort: number) {
  const listen = await freePort();
  const conf = join(dir, "nginx.conf");
  writeFileSync(
    conf,
    renderNginxConf({
      PREFIX: dir,
      AUTHD_PORT: String(authdPort),
      APP_PORT: String(appPort),
      LISTEN_PORT: String(listen),
    }),
  );
  const errorLog = join(dir, "error.log");
  const proc: Subprocess<"ignore", "pipe", "pipe"> = Bun.spawn(
    [NGINX, "-p", dir, "-c", conf, "-e", errorLog],
    { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
  );
  const url = `http://127.0.0.1:${listen}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    // Any answer means nginx is up (this one is authd's 401, passed through).
    const ok = await fetch(`${url}/auth/verify`).then(
      () => true,
      () => false,
    );
    if (ok) break;
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill("SIGKILL");
      const log = existsSync(errorLog) ? readFileSync(errorLog, "utf8") : "";
      throw new Error(`nginx did not start (exit ${proc.exitCode}):\n${log}`);
    }
    await Bun.sleep(50);
  }
  return {
    url,
    errorLog: () => (existsSync(errorLog) ? readFileSync(errorLog, "utf8") : ""),
    async stop() {
      proc.kill("SIGQUIT");
      await proc.exited;
    },
  } satisfies Nginx;
}

interface Seen {
  path: string;
  headers: Record<string, string>;
}

for (const dialect of DIALECTS) {
  describe(`forward auth behind a real nginx [${dialect}]`, () => {
    const { db } = useCliDatabase(dialect);
    let daemon: Daemon;
    let upstream: Server<unknown>;
    let nginx: Nginx;
    const seen: Seen[] = [];

    beforeAll(async () => {
      daemon = await startDaemon({
        env: { ...db.env, LOG_LEVEL: "info", ISSUER: "http://authd.nginx.test" },
      });
      upstream = Bun.serve({
        hostname: "127.0.0.1",
        port: 0,
        fetch(request) {
          const path = new URL(request.url).pathname;
          seen.push({ path, headers: Object.fromEntries(request.headers) });
          return Response.json({
            path,
            user: request.headers.get("x-auth-user-id"),
          });
        },
      });
      nginx = await startNginx(db.dir, daemon.port, Number(upstream.port));
    });

    afterAll(async () => {
      await nginx?.stop();
      upstream?.stop(true);
      await daemon?.stop();
    });

    /** GET through nginx to the application. */
    const viaNginx = (path: string, headers: Record<string, string> = {}) =>
      fetch(`${nginx.url}${path}`, { headers });

    test("a valid token reaches the upstream with the user's identity headers", async () => {
      const user = await registerOver(nginx.url);
      const before = seen.length;
      const res = await viaNginx("/app/orders", {
        authorization: `Bearer ${user.access_token}`,
        // A client's own identity headers never reach the application.
        "x-auth-user-id": "someone-else",
        "x-auth-roles": "admin",
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ path: "/app/orders", user: user.user.id });
      expect(seen.length).toBe(before + 1);
      const headers = seen.at(-1)?.headers ?? {};
      expect(headers["x-auth-user-id"]).toBe(user.user.id);
      expect(headers["x-auth-email"]).toBe(user.email);
      expect(headers["x-auth-roles"]).toBe("user");
      expect(headers["x-auth-session-id"]).toBe(
        JSON.parse(atob(user.access_token.split(".")[1] ?? "")).sid,
      );
      // The application gets the identity, not the caller's token.
      expect(headers.authorization).toBeUndefined();
      // nginx's request id is the one authd logged the check under.
      const rid = headers["x-request-id"] ?? "";
      expect(rid).toMatch(/^[0-9a-f]{32}$/);
      const line = await daemon.waitForLine(
        (l) => l.request_id === rid && l.msg === "request",
      );
      expect(line).toMatchObject({ route: "/auth/verify", status: 200 });
    });

    test("no token: 401 from nginx with the Bearer challenge; the upstream is not reached", async () => {
      const before = seen.length;
      const res = await viaNginx("/app/orders");
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe("Bearer");
      await res.text();
      const rejected = await viaNginx("/app/orders", {
        authorization: "Bearer not-a-token",
      });
      expect(rejected.status).toBe(401);
      expect(rejected.headers.get("www-authenticate")).toBe(
        'Bearer error="invalid_token"',
      );
      await rejected.text();
      expect(seen.length).toBe(before);
    });

    test("an ended session: the same token is refused at once", async () => {
      const user = await registerOver(nginx.url);
      const auth = { authorization: `Bearer ${user.access_token}` };
      expect((await viaNginx("/app/a", auth)).status).toBe(200);
      const out = await postJson(nginx.url, "/auth/logout", {
        refresh_token: user.refresh_token,
      });
      expect(out.status).toBe(204);
      const before = seen.length;
      const res = await viaNginx("/app/a", auth);
      expect(res.status).toBe(401);
      await res.text();
      expect(seen.length).toBe(before);
      // The session really ended in the database.
      const sessions = await db.json<{ revoked_at: string | null }[]>([
        "sessions",
        "list",
        "--user",
        user.user.id,
      ]);
      expect(sessions).toEqual([]);
    });

    test("a service principal made with authctl introspects tokens over the network", async () => {
      const email = uniqueEmail("svc");
      const created = await db.json<{ id: string; roles: string[] }>(
        ["users", "create", "--email", email, "--role", "service", "--password-stdin"],
        { stdin: GOOD_PASSWORD },
      );
      expect(created.roles).toEqual(["service"]);
      const service = await loginOver(daemon.url, email);
      const user = await registerOver(daemon.url);
      const introspect = (token: string) =>
        fetch(`${daemon.url}/oauth/introspect`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${service.access_token}`,
            "content-type": "application/x-www-form-urlencoded",
          },
          body: new URLSearchParams({ token }),
        });
      const res = await introspect(user.access_token);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        active: true,
        sub: user.user.id,
        roles: ["user"],
        token_type: "Bearer",
        iss: "http://authd.nginx.test",
      });
      // The service keeps working past its access token by refreshing on /oauth/token.
      const refreshed = await fetch(`${daemon.url}/oauth/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "refresh_token",
          refresh_token: service.refresh_token,
        }),
      });
      expect(refreshed.status).toBe(200);
      const next = (await refreshed.json()) as { access_token: string };
      const again = await fetch(`${daemon.url}/oauth/introspect`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${next.access_token}`,
          "content-type": "application/x-www-form-urlencoded",
        },
        body: `token=${encodeURIComponent(user.access_token)}`,
      });
      expect(again.status).toBe(200);
      expect(((await again.json()) as { active: boolean }).active).toBe(true);
    });

    test("nginx logged no error", () => {
      expect(nginx.errorLog()).not.toMatch(/\[(error|crit|alert|emerg)\]/);
    });
  });
}
