/**
 * The Swagger UI assets survive `bun build --compile`: they are imported as
 * files, so the standalone executable embeds them and serves the same bytes
 * from an empty directory, with no node_modules anywhere near it.
 */
import {
  afterAll,
  beforeAll,
  describe,
  expect,
  setDefaultTimeout,
  test,
} from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";

// A compile and a process start on a busy 2-core machine: generous.
setDefaultTimeout(180_000);

const REPO = resolve(import.meta.dir, "../..");
const DIST = resolve(REPO, "node_modules/swagger-ui-dist");

describe("Swagger UI assets in a compiled executable", () => {
  let dir: string;
  let proc: Subprocess<"ignore", "pipe", "pipe"> | undefined;
  let base: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "authd-swagger-bin-"));
    const binary = join(dir, "swagger-ui-server");
    const build = Bun.spawnSync(
      [
        process.execPath,
        "build",
        "--compile",
        resolve(import.meta.dir, "swagger-ui-server.ts"),
        "--outfile",
        binary,
      ],
      { cwd: REPO, stdout: "pipe", stderr: "pipe" },
    );
    expect({ exit: build.exitCode, stderr: build.stderr.toString() }).toMatchObject({
      exit: 0,
    });
    // An empty working directory, and a PATH-less environment.
    const empty = join(dir, "empty");
    mkdirSync(empty);
    proc = Bun.spawn([binary], {
      cwd: empty,
      env: {},
      stdout: "pipe",
      stderr: "pipe",
      stdin: "ignore",
    });
    const reader = proc.stdout.getReader();
    const { value } = await reader.read();
    reader.releaseLock();
    const { port } = JSON.parse(new TextDecoder().decode(value)) as { port: number };
    base = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    proc?.kill();
    await proc?.exited;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("serves the page and the installed package's exact files", async () => {
    const page = await fetch(`${base}/swagger`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("/swagger/swagger-ui-bundle.js");
    for (const file of [
      "swagger-ui-bundle.js",
      "swagger-ui.css",
      "favicon-32x32.png",
    ]) {
      const res = await fetch(`${base}/swagger/${file}`);
      expect({ file, status: res.status }).toEqual({ file, status: 200 });
      const served = new Uint8Array(await res.arrayBuffer());
      expect({
        file,
        same: Bun.hash(served) === Bun.hash(readFileSync(join(DIST, file))),
      }).toEqual({
        file,
        same: true,
      });
    }
    const init = await fetch(`${base}/swagger/init.js`);
    expect(await init.text()).toContain("SwaggerUIBundle(");
  });
});
