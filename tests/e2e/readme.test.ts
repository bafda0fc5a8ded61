/**
 * The README's "Try it" lines, run as a reader would paste them (bash, curl,
 * jq) against a real daemon: the token the first line stores is the one the
 * second line uses, and /users/me answers with the new user.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TEST_KEK } from "../helpers/harness.ts";
import { type Daemon, REPO, startDaemon } from "./daemon-process.ts";

setDefaultTimeout(120_000);

/** The shell block that follows "Try it:" in README.md. */
function tryIt(): string {
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  const block = /Try it:\n\n```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error('README.md has no "Try it:" sh block');
  return block;
}

let dir: string;
let daemon: Daemon;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "authd-readme-"));
  daemon = await startDaemon({
    env: {
      DATABASE_URL: `sqlite:${join(dir, "auth.db")}`,
      KEY_ENCRYPTION_KEY: TEST_KEK,
      ARGON2_MEMORY_KIB: "1024",
      ARGON2_TIME_COST: "1",
    },
  });
});
afterAll(async () => {
  await daemon?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("the curl example sets ACCESS_TOKEN and /users/me answers with it", async () => {
  const block = tryIt();
  expect(block).toContain("ACCESS_TOKEN=$(");
  // The daemon listens on a port of its own, not 3000; `open` needs a desktop.
  const script = block
    .replaceAll("localhost:3000", `127.0.0.1:${daemon.port}`)
    .split("\n")
    .filter((l) => !l.startsWith("open "))
    .join("\n");
  const proc = Bun.spawn(["bash", "-euo", "pipefail", "-c", script], {
    stdout: "pipe",
    stderr: "pipe",
    timeout: 60_000,
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
  const me = JSON.parse(stdout) as Record<string, unknown>;
  expect(me).toMatchObject({ email: "ada@example.com", roles: ["user"] });
});
