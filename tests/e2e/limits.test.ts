/**
 * Issue 7, point 9: Bun's own refusals, through the real daemon. A body of
 * any size is answered by our limit (problem+json with X-Request-Id, and the
 * connection closed), because Bun's maxRequestBodySize is set out of reach.
 * Headers over Bun's limit (16 KiB) are answered by Bun itself before any of
 * our code runs: a bare 431 that we cannot dress — this test pins that down
 * as evidence for docs/decisions.md, and fails if a Bun upgrade changes it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Daemon, startDaemon } from "./daemon-process.ts";

const LIMIT = 1024;
const MiB = 1 << 20;

describe("request size limits, through the daemon", () => {
  let daemon: Daemon;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "authd-limits-"));
    daemon = await startDaemon({
      env: {
        DATABASE_URL: `sqlite:${join(dir, "auth.db")}`,
        MAX_BODY_BYTES: String(LIMIT),
      },
    });
  });
  afterAll(async () => {
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function expect413(res: Response) {
    expect(res.status).toBe(413);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get("connection")).toBe("close");
    const body = (await res.json()) as { code: string; request_id: string };
    expect(body.code).toBe("payload_too_large");
    expect(body.request_id).toBe(res.headers.get("x-request-id") ?? "");
  }

  test("a body far over the limit (past Bun's old 16× backstop) is our 413", async () => {
    const res = await fetch(`${daemon.url}/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "a@example.com", password: "x".repeat(2 * MiB) }),
    });
    await expect413(res);
  });

  test("a streamed body without Content-Length: our 413, and the upload is cut short", async () => {
    const total = 64;
    let sent = 0;
    const chunk = new Uint8Array(MiB).fill(0x20);
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= total) return controller.close();
        sent++;
        controller.enqueue(chunk);
      },
    });
    const res = await fetch(`${daemon.url}/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      duplex: "half",
    } as RequestInit);
    await expect413(res);
    // The daemon stopped reading at the limit and closed the connection; it
    // did not take all 64 MiB.
    expect(sent).toBeLessThan(total);
  });

  test("a route that reads no body still refuses a declared oversized one", async () => {
    const res = await fetch(`${daemon.url}/healthz`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "content-length": String(4 * MiB),
      },
      body: "x".repeat(4 * MiB),
    });
    await expect413(res);
  });

  test("headers over Bun's 16 KiB: Bun's bare 431, without our headers (documented)", async () => {
    const res = await fetch(`${daemon.url}/healthz`, {
      headers: { "x-padding": "p".repeat(20_000) },
    });
    expect(res.status).toBe(431);
    expect(res.headers.get("x-request-id")).toBeNull();
    expect(res.headers.get("content-type")).toBeNull();
    expect(await res.text()).toBe("");
    // Bun answered without calling our handler: no access line for it.
    expect(daemon.lines.some((l) => l.msg === "request" && l.status === 431)).toBe(
      false,
    );
  });

  test("the daemon serves normally afterwards", async () => {
    const res = await fetch(`${daemon.url}/healthz`);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).not.toBeNull();
  });
});
