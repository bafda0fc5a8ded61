/**
 * `npm run dev`'s logs: readable lines on a terminal (`--pretty` and a TTY),
 * JSON everywhere else, so the flag can never break a log pipeline.
 */
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatLine } from "../../src/infra/pretty-log.ts";
import { descendants, MAIN, REPO, startDaemon } from "../e2e/daemon-process.ts";
import { TEST_KEK } from "../helpers/harness.ts";

setDefaultTimeout(120_000);

/** A process's arguments ([] once it has ended). */
function argv(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return [];
  }
}

describe("formatLine", () => {
  test("time, level and message first, then the other fields as key=value", () => {
    const line = JSON.stringify({
      level: "info",
      time: "2026-12-01T12:00:01.234Z",
      service: "authd",
      url: "http://127.0.0.1:3000",
      port: 3000,
      migrations: ["0000_initial"],
      note: "two words",
      msg: "listening",
    });
    expect(formatLine(line, false)).toBe(
      '12:00:01.234 INFO  listening url=http://127.0.0.1:3000 port=3000 migrations=["0000_initial"] note="two words"\n',
    );
  });

  test("an error's stack follows on indented lines; colour marks the level", () => {
    const line = JSON.stringify({
      level: "fatal",
      time: "2026-12-01T12:00:01.234Z",
      err: {
        type: "Error",
        message: "boom",
        stack: "Error: boom\n    at f (x.ts:1:1)",
      },
      msg: "start-up failed",
    });
    expect(formatLine(line, false)).toBe(
      "12:00:01.234 FATAL start-up failed\n  Error: boom\n      at f (x.ts:1:1)\n",
    );
    expect(formatLine(line, true)).toContain("\x1b[35mFATAL\x1b[0m");
  });

  test("a line that is not JSON passes through unchanged", () => {
    expect(formatLine("plain text", false)).toBe("plain text\n");
  });
});

describe("authd --pretty", () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const env = (d: string) => ({
    DATABASE_URL: `sqlite:${join(d, "auth.db")}`,
    KEY_ENCRYPTION_KEY: TEST_KEK,
  });

  test("stdout not a terminal: the lines stay JSON", async () => {
    dir = mkdtempSync(join(tmpdir(), "authd-pretty-"));
    const daemon = await startDaemon({
      command: [process.execPath, MAIN, "--pretty"],
      env: env(dir),
    });
    expect(await daemon.stop()).toBe(0);
    expect(daemon.junk).toEqual([]);
    expect(daemon.lines.map((l) => l.msg)).toContain("stopped");
  });

  test("stdout a terminal (script(1) gives it one): readable lines", async () => {
    dir = mkdtempSync(join(tmpdir(), "authd-pretty-"));
    const command = [process.execPath, MAIN, "--pretty"].map((a) => `'${a}'`).join(" ");
    const proc = Bun.spawn(["script", "-qfec", command, "/dev/null"], {
      cwd: REPO,
      env: { ...process.env, PORT: "0", ...env(dir) },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "ignore",
      timeout: 60_000,
    });
    let out = "";
    const decoder = new TextDecoder();
    // Read it all; once the listening line has arrived, stop the daemon.
    let stopped = false;
    for await (const chunk of proc.stdout) {
      out += decoder.decode(chunk, { stream: true });
      if (!stopped && /listening[^\n]*\n/.test(out)) {
        stopped = true;
        // The daemon itself, not the shell script(1) may run it under (dash
        // does not exec a -c command: signalled, it would exit 143 for it).
        for (const pid of descendants(proc.pid)) {
          if (argv(pid).includes(MAIN)) process.kill(pid, "SIGTERM");
        }
      }
    }
    expect(await proc.exited).toBe(0);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes
    const plain = out.replace(/\x1b\[[0-9;]*m/g, "").replace(/\r/g, "");
    expect(plain).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} INFO {2}listening url=http:\/\/127\.0\.0\.1:\d+ /m,
    );
    expect(plain).not.toContain('{"level"');
  });
});
