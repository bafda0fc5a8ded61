/**
 * Start-up that fails clearly, and a start that can be stopped: through real
 * processes. A wrong KEY_ENCRYPTION_KEY and a port in use are one JSON log
 * line naming the cause (no stack, nothing on stderr) and exit 1; SIGTERM to
 * `npm start` ends the daemon under it and frees the port.
 */
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPgDatabase, DIALECTS, type TestDatabase } from "../helpers/databases.ts";
import { TEST_KEK } from "../helpers/harness.ts";
import {
  alive,
  type Daemon,
  descendants,
  type FinishedRun,
  REPO,
  runDaemonToExit,
  startDaemon,
} from "./daemon-process.ts";

// Several daemon starts per test on a busy 2-core machine.
setDefaultTimeout(180_000);

const OTHER_KEK = Buffer.alloc(32, 9).toString("base64");

/** Exit 1 and exactly one line about it: fatal, "start-up failed", the reason, no stack. */
function expectOneLineFailure(run: FinishedRun, reason: string | RegExp) {
  expect({ code: run.code, stderr: run.stderr, junk: run.junk }).toEqual({
    code: 1,
    stderr: "",
    junk: [],
  });
  // The database exists already (migrated by an earlier start): this line is
  // all the process writes.
  expect(run.lines).toHaveLength(1);
  const fatal = run.lines.filter((l) => l.level === "fatal");
  expect(fatal).toHaveLength(1);
  expect(fatal[0]).toMatchObject({
    msg: "start-up failed",
    reason:
      typeof reason === "string"
        ? expect.stringContaining(reason)
        : expect.stringMatching(reason),
  });
  // The reason is the whole story: no error object, no stack.
  expect(fatal[0]).not.toHaveProperty("err");
  expect(JSON.stringify(run.lines)).not.toContain("    at ");
}

for (const dialect of DIALECTS) {
  describe(`start-up that fails clearly [${dialect}]`, () => {
    let dir: string;
    let pg: TestDatabase | undefined;
    const daemons: Daemon[] = [];

    const setup = async () => {
      dir = mkdtempSync(join(tmpdir(), "authd-startup-"));
      pg = dialect === "pg" ? await createPgDatabase() : undefined;
      return pg ? pg.url : `sqlite:${join(dir, "auth.db")}`;
    };

    afterEach(async () => {
      for (const d of daemons.splice(0)) await d.stop("SIGKILL");
      await pg?.drop();
      pg = undefined;
      rmSync(dir, { recursive: true, force: true });
    });

    test("a wrong KEY_ENCRYPTION_KEY is named, in one line, exit 1", async () => {
      const url = await setup();
      const first = await startDaemon({
        env: { DATABASE_URL: url, KEY_ENCRYPTION_KEY: TEST_KEK },
      });
      expect(await first.stop()).toBe(0);

      const wrong = await runDaemonToExit({
        env: { DATABASE_URL: url, KEY_ENCRYPTION_KEY: OTHER_KEK },
      });
      expectOneLineFailure(
        wrong,
        /^KEY_ENCRYPTION_KEY does not decrypt the current signing key \S+: it is not the key the signing keys were sealed with$/,
      );
      // Nothing was changed: the right key still starts it.
      const again = await startDaemon({
        env: { DATABASE_URL: url, KEY_ENCRYPTION_KEY: TEST_KEK },
      });
      daemons.push(again);
      expect((await fetch(`${again.url}/readyz`)).status).toBe(200);
    });

    test("a port in use is one line and exit 1; the daemon on it keeps serving", async () => {
      const url = await setup();
      const env = { DATABASE_URL: url, KEY_ENCRYPTION_KEY: TEST_KEK };
      const holder = await startDaemon({ env });
      daemons.push(holder);

      const second = await runDaemonToExit({
        env: { ...env, PORT: String(holder.port) },
      });
      expectOneLineFailure(
        second,
        `cannot listen on 127.0.0.1:${holder.port}: the port is already in use (set PORT to a free port)`,
      );
      expect((await fetch(`${holder.url}/readyz`)).status).toBe(200);
    });
  });
}

describe("start-up that fails clearly [sqlite key file]", () => {
  let dir: string;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("a key file that is not the key of the database is named by its path", async () => {
    dir = mkdtempSync(join(tmpdir(), "authd-startup-"));
    const url = `sqlite:${join(dir, "auth.db")}`;
    // First start without KEY_ENCRYPTION_KEY: the daemon makes the key file.
    const first = await startDaemon({ env: { DATABASE_URL: url } });
    expect(await first.stop()).toBe(0);
    const file = join(dir, "key-encryption.key");
    expect(readFileSync(file, "utf8").trim()).toHaveLength(44);

    writeFileSync(file, `${OTHER_KEK}\n`);
    const wrong = await runDaemonToExit({ env: { DATABASE_URL: url } });
    expectOneLineFailure(
      wrong,
      `the key file ${file} (KEY_ENCRYPTION_KEY is unset) does not decrypt the current signing key`,
    );

    // A key file that is not a key at all: named, one line, exit 1.
    writeFileSync(file, "not a key\n");
    const garbage = await runDaemonToExit({ env: { DATABASE_URL: url } });
    expectOneLineFailure(garbage, `${file} must hold 32 bytes, base64-encoded`);
  });
});

describe("npm start and signals", () => {
  let dir: string;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("the package scripts exec the daemon (no shell left between npm and bun)", () => {
    const { scripts } = JSON.parse(
      readFileSync(join(REPO, "package.json"), "utf8"),
    ) as {
      scripts: Record<string, string>;
    };
    expect(scripts.start).toBe("exec bun src/main.ts");
    expect(scripts.dev).toBe("exec bun --watch src/main.ts --pretty");
  });

  test("SIGTERM to the npm process ends the daemon and frees the port", async () => {
    dir = mkdtempSync(join(tmpdir(), "authd-npm-start-"));
    const daemon = await startDaemon({
      command: ["npm", "start", "--silent"],
      env: {
        DATABASE_URL: `sqlite:${join(dir, "auth.db")}`,
        KEY_ENCRYPTION_KEY: TEST_KEK,
      },
    });
    const below = descendants(daemon.proc.pid);
    // npm runs the daemon itself: exec replaced the shell.
    expect(below.length).toBeGreaterThanOrEqual(1);
    expect(below.every(alive)).toBe(true);

    daemon.proc.kill("SIGTERM");
    await daemon.proc.exited;
    // npm waits for its child, so this is at once; the bound only turns an
    // orphaned daemon (what a shell between npm and bun caused) into a failure.
    const deadline = Date.now() + 30_000;
    while (below.some(alive) && Date.now() < deadline) await Bun.sleep(50);
    const orphans = below.filter(alive);
    for (const pid of orphans) process.kill(pid, "SIGKILL");
    expect(orphans).toEqual([]);
    await daemon.exited();
    expect(daemon.lines.map((l) => l.msg)).toEqual(
      expect.arrayContaining(["shutting down", "stopped"]),
    );
    expect(daemon.lines.find((l) => l.msg === "shutting down")).toMatchObject({
      signal: "SIGTERM",
    });
    // The port can be bound again.
    const again = Bun.listen({
      hostname: "127.0.0.1",
      port: daemon.port,
      socket: { data() {} },
    });
    expect(again.port).toBe(daemon.port);
    again.stop(true);
  });
});
