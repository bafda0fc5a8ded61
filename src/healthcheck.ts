/**
 * `authd --healthcheck`: asks the daemon on this machine for GET /readyz and
 * exits 0 when it answers 200, 1 otherwise. The container image's
 * HEALTHCHECK runs it: the image has no shell, no curl and no runtime besides
 * the binary itself.
 */
import type { Config } from "./config.ts";

/** Docker's own timeout for the check is longer; this keeps a hung daemon from holding it. */
const HEALTHCHECK_TIMEOUT_MS = 4000;

/** Where the daemon listens, as a client on the same machine reaches it. */
export function readyzUrl(config: Pick<Config, "HOST" | "PORT">): string {
  // A wildcard address is not one a client can connect to: use loopback.
  const host =
    config.HOST === "0.0.0.0"
      ? "127.0.0.1"
      : config.HOST === "::"
        ? "::1"
        : config.HOST;
  return `http://${host.includes(":") ? `[${host}]` : host}:${config.PORT}/readyz`;
}

/** Prints one line saying what it found; returns the exit code. */
export async function healthcheck(config: Config): Promise<number> {
  if (config.PORT === 0) {
    process.stderr.write("authd: --healthcheck needs a fixed PORT, not 0\n");
    return 1;
  }
  const url = readyzUrl(config);
  try {
    const response = await fetch(url, {
      signal: AbortSignal.timeout(HEALTHCHECK_TIMEOUT_MS),
    });
    const body = await response.text();
    if (response.status === 200) {
      process.stdout.write(`ready: ${url}\n`);
      return 0;
    }
    process.stdout.write(`not ready: ${url} answered ${response.status} ${body}\n`);
    return 1;
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    process.stdout.write(`not ready: ${url}: ${reason}\n`);
    return 1;
  }
}
