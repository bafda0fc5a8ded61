/**
 * A real local HTTP server that speaks the Have I Been Pwned range API
 * (GET /range/{5 hex}), with padding lines (count 0) when asked for them, and
 * that can be switched to answer slowly (never, until restored) or to refuse
 * connections altogether. It records every request it receives.
 */
import { createHash } from "node:crypto";
import type { Server } from "bun";

export type HibpMode = "ok" | "slow" | "error";

export interface HibpServer {
  url: string;
  /** Every request received: path and the Add-Padding header. */
  requests: { path: string; padding: string | null }[];
  /** ok: answers; slow: holds every request open; error: answers 503. */
  setMode(mode: HibpMode): void;
  /** Requests received but not answered yet (slow mode). */
  pending(): number;
  /** Stops listening: connections to `url` are refused from now on. */
  stop(): Promise<void>;
}

const sha1 = (password: string) =>
  createHash("sha1").update(password, "utf8").digest("hex").toUpperCase();

/**
 * `breached` maps passwords to their breach counts; a count of 0 makes the
 * suffix appear only as a padding line, as the real service pads its answers.
 */
export function startHibpServer(breached: Record<string, number>): HibpServer {
  const byPrefix = new Map<string, string[]>();
  for (const [password, count] of Object.entries(breached)) {
    const hex = sha1(password);
    const lines = byPrefix.get(hex.slice(0, 5)) ?? [];
    lines.push(`${hex.slice(5)}:${count}`);
    byPrefix.set(hex.slice(0, 5), lines);
  }
  let mode: HibpMode = "ok";
  let held = 0;
  const release: (() => void)[] = [];
  const requests: HibpServer["requests"] = [];

  const server: Server<undefined> = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const path = new URL(request.url).pathname;
      const padding = request.headers.get("add-padding");
      requests.push({ path, padding });
      if (mode === "slow") {
        held++;
        await new Promise<void>((resolve) => release.push(resolve));
        held--;
      }
      if (mode === "error") return new Response("busy", { status: 503 });
      const m = /^\/range\/([0-9A-F]{5})$/.exec(path);
      if (!m?.[1]) return new Response("bad range", { status: 400 });
      const lines = [...(byPrefix.get(m[1]) ?? [])];
      // Padding: unrelated suffixes with count 0, as the real service adds.
      if (padding === "true") {
        for (let i = 0; i < 5; i++)
          lines.push(`${sha1(`padding-${m[1]}-${i}`).slice(5)}:0`);
      }
      lines.push("0000000000000000000000000000000000A:3");
      return new Response(lines.join("\r\n"), {
        headers: { "content-type": "text/plain" },
      });
    },
  });

  return {
    url: `http://127.0.0.1:${server.port}`,
    requests,
    setMode(next) {
      mode = next;
      if (next !== "slow") for (const r of release.splice(0)) r();
    },
    pending: () => held,
    async stop() {
      for (const r of release.splice(0)) r();
      await server.stop(true);
    },
  };
}

/** A URL on which nothing listens: connections are refused. */
export async function refusingUrl(): Promise<string> {
  const probe = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () => new Response(),
  });
  const url = `http://127.0.0.1:${probe.port}`;
  await probe.stop(true);
  return url;
}
