/**
 * Swagger UI in a real browser, offline: Debian's Chromium (installed by
 * .ci/run), driven by playwright-core, opens /swagger on the real daemon with
 * every request to another host aborted, and must show every tag's
 * operations without a console error or a CSP violation. A missing Chromium
 * fails the suite with the install command; it is never skipped.
 */
import {
  afterAll,
  beforeAll,
  describe,
  expect,
  setDefaultTimeout,
  test,
} from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { type Daemon, startDaemon } from "./daemon-process.ts";

// A daemon and a browser on a busy 2-core machine: generous.
setDefaultTimeout(180_000);

/** Debian's package puts it here (`apt-get install chromium`). */
const CHROMIUM = "/usr/bin/chromium";
/** Only bounds a hang; a busy machine renders the page in seconds. */
const RENDER_BOUND_MS = 90_000;

const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

interface Doc {
  tags: { name: string }[];
  paths: Record<
    string,
    Record<string, { tags: string[]; operationId: string; responses: object }>
  >;
}

describe("Swagger UI, offline, in Chromium", () => {
  let daemon: Daemon;
  let dir: string;
  let browser: Browser;
  let doc: Doc;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is not at ${CHROMIUM}: install Debian's package (apt-get install -y chromium), as .ci/run does`,
      );
    }
    dir = mkdtempSync(join(tmpdir(), "authd-swagger-"));
    daemon = await startDaemon({
      env: { DATABASE_URL: `sqlite:${join(dir, "auth.db")}` },
    });
    doc = (await (await fetch(`${daemon.url}/swagger/json`)).json()) as Doc;
    browser = await chromium.launch({ executablePath: CHROMIUM });
  });

  afterAll(async () => {
    await browser?.close();
    await daemon?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A page whose requests to any other host are aborted and recorded. */
  async function offlinePage() {
    const page = await browser.newPage();
    const external: string[] = [];
    const problems: string[] = [];
    await page.route("**/*", (route) => {
      const url = new URL(route.request().url());
      if (url.protocol === "data:" || LOCAL_HOSTS.has(url.hostname))
        return route.continue();
      external.push(url.href);
      return route.abort("internetdisconnected");
    });
    // CSP violations, failed scripts and uncaught errors all land here.
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning")
        problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
    page.on("requestfailed", (r) => {
      if (LOCAL_HOSTS.has(new URL(r.url()).hostname))
        problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`);
    });
    return { page, external, problems };
  }

  const operationsOf = (tag: string) =>
    Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([, op]) => op.tags.includes(tag))
        .map(([method, op]) => ({ method, path, id: op.operationId })),
    );

  async function render(page: Page) {
    const total = Object.values(doc.paths).reduce(
      (n, item) => n + Object.keys(item).length,
      0,
    );
    expect(total).toBeGreaterThanOrEqual(22);
    const res = await page.goto(`${daemon.url}/swagger`);
    expect(res?.status()).toBe(200);
    // Every operation rendered (the count runs in the page).
    const blocks = page.locator(".opblock");
    const deadline = Date.now() + RENDER_BOUND_MS;
    await blocks.first().waitFor({ timeout: RENDER_BOUND_MS });
    while ((await blocks.count()) < total && Date.now() < deadline)
      await Bun.sleep(100);
    expect(await blocks.count()).toBe(total);
  }

  test("shows every tag's operations with no other host and no console error", async () => {
    const { page, external, problems } = await offlinePage();
    await render(page);
    expect(doc.tags.map((t) => t.name)).toEqual(
      expect.arrayContaining(["auth", "me", "admin", "discovery", "health"]),
    );
    for (const { name: tag } of doc.tags) {
      const ops = operationsOf(tag);
      expect({ tag, operations: ops.length > 0 }).toEqual({ tag, operations: true });
      await expect(page.locator(`h3[data-tag="${tag}"]`).isVisible()).resolves.toBe(
        true,
      );
      for (const op of ops) {
        const block = page.locator(`[id="operations-${tag}-${op.id}"]`);
        const name = `${op.method} ${op.path}`;
        expect({ name, visible: await block.isVisible() }).toEqual({
          name,
          visible: true,
        });
        const method = await block.locator(".opblock-summary-method").textContent();
        const path = await block.locator("[data-path]").getAttribute("data-path");
        expect({ name, method, path }).toEqual({
          name,
          method: op.method.toUpperCase(),
          path: op.path,
        });
      }
    }
    expect(external).toEqual([]);
    expect(problems).toEqual([]);
    await page.close();
  });

  test("an expanded operation lists every documented status, problems as problem+json", async () => {
    const { page, external, problems } = await offlinePage();
    await render(page);
    const login = doc.paths["/auth/login"]?.post;
    expect(login).toBeDefined();
    const block = page.locator(`[id="operations-auth-${login?.operationId}"]`);
    await block.locator(".opblock-summary-control").click();
    const codes = Object.keys(login?.responses ?? {});
    expect(codes).toEqual(
      expect.arrayContaining(["200", "400", "401", "413", "415", "422", "429", "503"]),
    );
    for (const code of codes) {
      const row = block.locator(`tr.response[data-code="${code}"]`);
      await row.waitFor({ timeout: RENDER_BOUND_MS });
      expect({ code, visible: await row.isVisible() }).toEqual({ code, visible: true });
    }
    const unauthorized = await block
      .locator('tr.response[data-code="401"]')
      .textContent();
    expect(unauthorized).toContain("application/problem+json");
    expect(external).toEqual([]);
    expect(problems).toEqual([]);
    await page.close();
  });

  test("the page's own markup names no other host (the browser is not needed to see it)", async () => {
    const res = await fetch(`${daemon.url}/swagger`);
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
    const html = await res.text();
    expect(html).not.toMatch(/https?:\/\//);
  });
});
