/**
 * `authctl admin create` and `authctl users set-password` on a real terminal:
 * tmux gives them a pseudo-terminal, types as an operator would (send-keys)
 * and reads the screen (capture-pane). Passwords are masked, a weak one is
 * refused at the prompt and asked again, and Ctrl-C ends the command with
 * exit 130 and no stack trace.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { daemonEnv, REPO } from "../e2e/daemon-process.ts";
import { DIALECTS } from "../helpers/databases.ts";
import { AUTHCTL, expectAuditedByCli, useCliDatabase } from "./authctl-process.ts";

// A CLI process in a terminal per test, on a busy 2-core machine: generous.
setDefaultTimeout(120_000);

/** Only turns a prompt that never comes into a failure showing the screen. */
const SCREEN_BOUND_MS = 60_000;

const TMUX = Bun.which("tmux");
const WEAK = "password1";
const GOOD = "Orbit lantern quarry 42";
const TYPO = "Orbit lantern quarry 43";

const EXITED = "[authctl exited with status";
let sockets = 0;

/**
 * A command running in a tmux pane of its own: a private tmux server whose
 * socket lives in `dir`, so no other tmux on the machine is touched.
 */
async function inTerminal(args: string[], env: Record<string, string>, dir: string) {
  if (!TMUX) throw new Error("tmux is not installed (.ci/run installs it)");
  const socket = join(dir, `tmux-${++sockets}`);
  const tmux = async (...tmuxArgs: string[]) => {
    const proc = Bun.spawn([TMUX, "-f", "/dev/null", "-S", socket, ...tmuxArgs], {
      env: daemonEnv(env),
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      // Only turns a hung tmux into a failure; a busy machine never nears it.
      timeout: 60_000,
    });
    const [out, err, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    if (code !== 0) throw new Error(`tmux ${tmuxArgs[0]} failed (${code}): ${err}`);
    return out;
  };
  const settings = Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
  // A shell prints the exit status: tmux 3.3 sometimes leaves a dead pane's
  // process unreaped, so #{pane_dead_status} cannot be relied on. remain-on-exit
  // keeps the screen readable after the shell is gone.
  await tmux(
    "new-session",
    "-d",
    "-s",
    "cli",
    "-x",
    "160",
    "-y",
    "50",
    "-c",
    REPO,
    ...settings,
    "sh",
    "-c",
    `"$@"; echo "${EXITED} $?]"`,
    "sh",
    process.execPath,
    AUTHCTL,
    ...args,
    ";",
    "set-option",
    "-g",
    "remain-on-exit",
    "on",
  );
  // The server's pid, to end it even once its socket is gone (the database
  // directory that holds the socket may be removed first).
  const serverPid = Number((await tmux("display-message", "-p", "#{pid}")).trim());
  const screen = () => tmux("capture-pane", "-p", "-J", "-t", "cli", "-S", "-");

  /** Polls the screen until `ready` holds; fails after a generous bound, showing the screen. */
  async function waitFor(what: string, ready: (screen: string) => boolean) {
    const deadline = Date.now() + SCREEN_BOUND_MS;
    for (;;) {
      const s = await screen();
      if (ready(s)) return s;
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}; the screen:\n${s}`);
      await Bun.sleep(50);
    }
  }

  return {
    screen,
    waitFor,
    /** Types text literally (no key names), then Enter. */
    async line(text: string) {
      if (text) await tmux("send-keys", "-t", "cli", "-l", text);
      await tmux("send-keys", "-t", "cli", "Enter");
    },
    keys: (...keys: string[]) => tmux("send-keys", "-t", "cli", ...keys),
    /** Waits (bounded) for the command to end; returns its exit status. */
    async exited(): Promise<number> {
      const s = await waitFor("the command to exit", (s) => s.includes(EXITED));
      return Number(s.slice(s.indexOf(EXITED) + EXITED.length).match(/^ (\d+)\]/)?.[1]);
    },
    /** Ends the private tmux server (and the pane's processes with it). */
    async close() {
      await tmux("kill-server").catch(() => "");
      try {
        process.kill(serverPid, "SIGTERM");
      } catch {
        // Already gone: kill-server reached it.
      }
    },
  };
}

const count = (text: string, part: string) => text.split(part).length - 1;
/** The prompt waiting for input ends the screen (a password prompt has a hint line under it). */
const asking = (screen: string, prompt: string) =>
  screen.trimEnd().split("\n").slice(-2).join("\n").includes(`? ${prompt}`);

for (const dialect of DIALECTS) {
  describe(`authctl prompts on a terminal [${dialect}]`, () => {
    const { db, c } = useCliDatabase(dialect);
    const terminals: { close(): Promise<unknown> }[] = [];

    afterAll(async () => {
      for (const t of terminals) await t.close();
    });

    test("asks for email and password (masked, twice), refuses a weak one, creates the admin", async () => {
      const term = await inTerminal(["admin", "create"], db.env, db.dir);
      terminals.push(term);

      await term.waitFor("the email prompt", (s) => asking(s, "Email:"));
      await term.line("not-an-email");
      await term.waitFor("the email to be refused", (s) =>
        s.includes("that is not an email address"),
      );
      await term.keys(...Array<string>("not-an-email".length).fill("BSpace"));
      await term.line("Admin@Example.com");

      // A common password: refused with the policy's reason, and asked again.
      await term.waitFor("the password prompt", (s) => asking(s, "Password:"));
      await term.line(WEAK);
      await term.waitFor("the repeat prompt", (s) => asking(s, "Repeat password:"));
      await term.line(WEAK);
      const refused = await term.waitFor(
        "the refusal and a new password prompt",
        (s) => s.includes("Refused:") && asking(s, "Password:"),
      );
      expect(refused).toContain(
        "Refused: password is one of the most common passwords; choose another. Try another.",
      );
      expect(await c.store.findUserByEmail("admin@example.com")).toBeNull();

      // Two different passwords: asked again too.
      await term.line(GOOD);
      await term.waitFor(
        "the repeat prompt",
        (s) => count(s, "Repeat password:") === 2,
      );
      await term.line(TYPO);
      await term.waitFor(
        "the mismatch and a new password prompt",
        (s) =>
          s.includes("The passwords do not match; try again.") &&
          asking(s, "Password:"),
      );

      await term.line(GOOD);
      await term.waitFor(
        "the repeat prompt",
        (s) => count(s, "Repeat password:") === 3,
      );
      await term.line(GOOD);
      expect(await term.exited()).toBe(0);

      const screen = await term.screen();
      const admin = await c.userAdmin.get("admin@example.com");
      expect(screen).toContain(`created admin admin@example.com (${admin.id})`);
      expect(screen).toContain("✔ Email: Admin@Example.com");
      // Every password was echoed as stars, never as typed.
      expect(screen).toContain(`✔ Password: ${"*".repeat(WEAK.length)}\n`);
      expect(screen).toContain(`✔ Password: ${"*".repeat(GOOD.length)}\n`);
      for (const secret of [WEAK, GOOD, TYPO]) expect(screen).not.toContain(secret);
      expect(screen).not.toMatch(/^\s+at /m);

      expect(admin).toMatchObject({ roles: ["admin", "user"], disabled: false });
      await expectAuditedByCli(c, "user.create", admin.id);
      const login = (password: string) =>
        db.http("POST", "/auth/login", {
          json: { email: "admin@example.com", password },
        });
      const res = await login(GOOD);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { user: { roles: string[] } };
      expect(body.user.roles).toEqual(["admin", "user"]);
      expect((await login(TYPO)).status).toBe(401);
    });

    test("Ctrl-C at the password prompt: exit 130, no stack trace, nothing created", async () => {
      const term = await inTerminal(
        ["admin", "create", "--email", "ctrl-c@example.com"],
        db.env,
        db.dir,
      );
      terminals.push(term);
      await term.waitFor("the password prompt", (s) => asking(s, "Password:"));
      await term.keys("-l", "half typ");
      await term.keys("C-c");
      expect(await term.exited()).toBe(130);
      const screen = await term.screen();
      expect(screen).toContain("authctl: cancelled");
      expect(screen).not.toMatch(/^\s+at /m);
      expect(screen).not.toContain("ExitPromptError");
      expect(await c.store.findUserByEmail("ctrl-c@example.com")).toBeNull();
    });

    test("users set-password asks twice (masked), refuses a weak one, ends the sessions", async () => {
      const email = "reset-me@example.com";
      await c.userAdmin.create({ email, password: TYPO }, { actorId: "cli" });
      const login = (password: string) =>
        db.http("POST", "/auth/login", { json: { email, password } });
      const before = await login(TYPO);
      expect(before.status).toBe(200);
      const { access_token } = (await before.json()) as { access_token: string };

      const term = await inTerminal(["users", "set-password", email], db.env, db.dir);
      terminals.push(term);
      await term.waitFor("the password prompt", (s) => asking(s, "Password:"));
      await term.line(WEAK);
      await term.waitFor("the repeat prompt", (s) => asking(s, "Repeat password:"));
      await term.line(WEAK);
      await term.waitFor(
        "the refusal and a new password prompt",
        (s) => s.includes("Refused:") && asking(s, "Password:"),
      );
      await term.line(GOOD);
      await term.waitFor(
        "the repeat prompt",
        (s) => count(s, "Repeat password:") === 2,
      );
      await term.line(GOOD);
      expect(await term.exited()).toBe(0);

      const screen = await term.screen();
      const user = await c.userAdmin.get(email);
      expect(screen).toContain(`set the password of ${email} (${user.id})`);
      expect(screen).toContain(`✔ Password: ${"*".repeat(GOOD.length)}\n`);
      for (const secret of [WEAK, GOOD]) expect(screen).not.toContain(secret);

      // Only the new password works, and the old session is over.
      expect((await login(GOOD)).status).toBe(200);
      expect((await login(TYPO)).status).toBe(401);
      expect((await login(WEAK)).status).toBe(401);
      expect((await db.http("GET", "/users/me", { token: access_token })).status).toBe(
        401,
      );
      await expectAuditedByCli(c, "user.set_password", user.id);
    });
  });
}
