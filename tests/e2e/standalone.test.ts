/**
 * The container image, reproduced without a Docker engine: `npm run build`
 * (once for the file), then the two executables copied into an empty
 * directory and run the way the Dockerfile's final stage runs them — as an
 * unprivileged user, with exactly the image's environment (ENV), the
 * ENTRYPOINT as the daemon, the HEALTHCHECK command as the health check, and
 * the VOLUME as the only writable place. Nothing from the repository is
 * reachable: no sources, no node_modules, no drizzle/ folder.
 */
import {
  afterAll,
  beforeAll,
  describe,
  expect,
  setDefaultTimeout,
  test,
} from "bun:test";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { GOOD_PASSWORD } from "../helpers/harness.ts";
import { type Daemon, REPO, startDaemon } from "./daemon-process.ts";

// A full build of two executables, then processes on a busy 2-core machine.
setDefaultTimeout(300_000);

/** The final stage of the Dockerfile, as this test needs it. */
interface Image {
  env: Record<string, string>;
  user: string;
  volume: string;
  entrypoint: string[];
  healthcheck: string[];
  /** Sources of the final stage's COPY instructions. */
  copies: string[];
}

function readDockerfile(): Image {
  const text = readFileSync(join(REPO, "Dockerfile"), "utf8").replace(/\\\n\s*/g, " ");
  const stages = text.split(/^FROM /m);
  const final = (stages.at(-1) ?? "").split("\n").filter((l) => !l.startsWith("#"));
  const instr = (name: string) =>
    final.filter((l) => l.startsWith(`${name} `)).map((l) => l.slice(name.length + 1));
  const env: Record<string, string> = {};
  for (const line of instr("ENV"))
    for (const [, k, v] of line.matchAll(/(\w+)=(\S+)/g))
      env[k as string] = v as string;
  const json = (line: string | undefined) => JSON.parse(line ?? "null") as string[];
  return {
    env,
    user: instr("USER")[0] ?? "",
    volume: instr("VOLUME")[0] ?? "",
    entrypoint: json(instr("ENTRYPOINT")[0]),
    healthcheck: json(instr("HEALTHCHECK")[0]?.replace(/^.*?CMD /, "")),
    copies: instr("COPY").flatMap((l) =>
      l
        .split(/\s+/)
        .filter((w) => w && !w.startsWith("--"))
        .slice(0, -1),
    ),
  };
}

const image = readDockerfile();
const root = process.getuid?.() === 0;
/** The image's user; as root we switch to it, as anyone else we already are unprivileged. */
const [uid, gid] = image.user.split(":").map(Number) as [number, number];

let dir: string;
let bin: string;
let data: string;
let work: string;
let port: number;

/** A command of the image, with its /usr/local/bin paths pointing at our copy. */
const inImage = (argv: string[]) => {
  const mapped = argv.map((a) =>
    a.startsWith("/usr/local/bin/") ? join(bin, basename(a)) : a,
  );
  return root
    ? [
        "/usr/bin/setpriv",
        `--reuid=${uid}`,
        `--regid=${gid}`,
        "--clear-groups",
        ...mapped,
      ]
    : mapped;
};

/** The image's environment, the volume moved into our directory, a free port. */
const imageEnv = (): Record<string, string> => {
  const env: Record<string, string> = {
    // Docker's default PATH (distroless sets the same); nothing on it is used.
    PATH: "/usr/local/bin:/usr/bin:/bin",
  };
  for (const [k, v] of Object.entries(image.env))
    env[k] = v.replaceAll(image.volume, data);
  env.PORT = String(port);
  return env;
};

async function run(argv: string[]) {
  const proc = Bun.spawn(inImage(argv), {
    cwd: work,
    env: imageEnv(),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: 120_000,
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

/** A port nothing listens on right now. */
function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = probe.port;
  probe.stop(true);
  return p;
}

beforeAll(async () => {
  const build = Bun.spawn([process.execPath, "run", "build"], {
    cwd: REPO,
    stdout: "pipe",
    stderr: "pipe",
    timeout: 280_000,
  });
  const [out, err, code] = await Promise.all([
    new Response(build.stdout).text(),
    new Response(build.stderr).text(),
    build.exited,
  ]);
  if (code !== 0) throw new Error(`npm run build failed (${code}):\n${out}\n${err}`);

  // root-owned and read-only for the service user, like /usr/local/bin in the
  // image; only the volume is the user's.
  dir = mkdtempSync(join(tmpdir(), "authd-image-"));
  chmodSync(dir, 0o755);
  bin = join(dir, "bin");
  work = join(dir, "work");
  data = join(dir, "data");
  mkdirSync(bin, { mode: 0o755 });
  mkdirSync(work, { mode: 0o755 });
  mkdirSync(data, { mode: 0o700 });
  if (root) chownSync(data, uid, gid);
  for (const name of ["authd", "authctl"])
    copyFileSync(join(REPO, "dist", name), join(bin, name));
  port = freePort();
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the Dockerfile", () => {
  test("ships only the two executables (and the data directory) on a runtime-free base", () => {
    expect(image.copies.sort()).toEqual([
      "/build/data",
      "/build/dist/authctl",
      "/build/dist/authd",
    ]);
    expect(readFileSync(join(REPO, "Dockerfile"), "utf8")).toMatch(
      /^FROM gcr\.io\/distroless\/cc-debian12:nonroot$/m,
    );
    expect(image.user).toBe("65532:65532");
    expect(image.entrypoint).toEqual(["/usr/local/bin/authd"]);
    // Exec form: no shell runs it (there is none in the image).
    expect(image.healthcheck).toEqual(["/usr/local/bin/authd", "--healthcheck"]);
    expect(image.env.DATABASE_URL).toBe(`sqlite:${image.volume}/auth.db`);
  });
});

describe("the image, reproduced: two binaries in an empty directory", () => {
  let daemon: Daemon | undefined;
  afterAll(async () => {
    await daemon?.stop();
  });

  test("the health check fails while nothing listens", async () => {
    const r = await run(image.healthcheck);
    expect(r.code).toBe(1);
    expect(r.stdout).toStartWith(`not ready: http://127.0.0.1:${port}/readyz`);
  });

  test("authctl read-only commands find no database and create none", async () => {
    const r = await run(["/usr/local/bin/authctl", "users", "list"]);
    expect(r).toEqual({
      code: 1,
      stdout: "",
      stderr: `authctl: the database sqlite:${data}/auth.db does not exist: run \`authctl migrate up\` or start the daemon to create it\n`,
    });
    expect(readdirSync(data)).toEqual([]);
  });

  test("authd starts as the image's user, migrates, and is ready", async () => {
    daemon = await startDaemon({
      command: inImage(image.entrypoint),
      env: imageEnv(),
      exactEnv: true,
      cwd: work,
    });
    expect(daemon.port).toBe(port);
    expect(daemon.junk).toEqual([]);
    expect(daemon.lines.find((l) => l.msg === "applied migrations")).toMatchObject({
      migrations: expect.arrayContaining(["0000_initial"]),
    });
    const ready = await fetch(`${daemon.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      checks: { storage: "ok", migrations: "ok", signing_key: "ok" },
    });
    // The database and the key file it made are in the volume, owned by the user.
    expect(readdirSync(data).sort()).toEqual(
      expect.arrayContaining(["auth.db", "key-encryption.key"]),
    );
    if (root) {
      const owner = Bun.spawnSync(["stat", "-c", "%u", join(data, "auth.db")]);
      expect(owner.stdout.toString().trim()).toBe(String(uid));
    }
  });

  test("register and login work (argon2id, the embedded common-password list)", async () => {
    const email = "ada@example.com";
    const post = (path: string, body: unknown) =>
      fetch(`${daemon?.url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    // A password from the list: refused by the policy, so the list is there.
    const common = await post("/auth/register", { email, password: "password1" });
    expect(common.status).toBe(422);
    expect(common.headers.get("content-type")).toStartWith("application/problem+json");
    expect(await common.text()).toContain("is one of the most common passwords");

    const registered = await post("/auth/register", { email, password: GOOD_PASSWORD });
    expect(registered.status).toBe(201);
    const login = await post("/auth/login", { email, password: GOOD_PASSWORD });
    expect(login.status).toBe(200);
    const { access_token } = (await login.json()) as { access_token: string };
    const me = await fetch(`${daemon?.url}/users/me`, {
      headers: { authorization: `Bearer ${access_token}` },
    });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ email });
  });

  test("/swagger from the binary: the page and every asset, embedded", async () => {
    const page = await fetch(`${daemon?.url}/swagger`);
    expect(page.status).toBe(200);
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/swagger\/[^"]+)"/g)].map(
      (m) => m[1] ?? "",
    );
    expect(assets).toEqual(
      expect.arrayContaining([
        "/swagger/swagger-ui-bundle.js",
        "/swagger/swagger-ui.css",
      ]),
    );
    for (const path of assets) {
      const res = await fetch(`${daemon?.url}${path}`);
      expect({
        path,
        status: res.status,
        empty: (await res.arrayBuffer()).byteLength === 0,
      }).toEqual({
        path,
        status: 200,
        empty: false,
      });
    }
    const doc = await fetch(`${daemon?.url}/swagger/json`);
    expect(doc.status).toBe(200);
    expect(((await doc.json()) as { openapi: string }).openapi).toStartWith("3.1");
  });

  test("the HEALTHCHECK command passes against the running daemon", async () => {
    const r = await run(image.healthcheck);
    expect(r).toEqual({
      code: 0,
      stdout: `ready: http://127.0.0.1:${port}/readyz\n`,
      stderr: "",
    });
  });

  test("authctl from the same directory: doctor is all ok, users list shows the user", async () => {
    const doctor = await run(["/usr/local/bin/authctl", "doctor", "--json"]);
    expect({ code: doctor.code, stderr: doctor.stderr }).toEqual({
      code: 0,
      stderr: "",
    });
    const report = JSON.parse(doctor.stdout) as { ok: boolean; checks: unknown[] };
    expect(report.ok).toBe(true);
    expect(report.checks).toContainEqual(
      expect.objectContaining({ check: "key encryption", ok: true }),
    );

    const users = await run(["/usr/local/bin/authctl", "users", "list", "--json"]);
    expect({ code: users.code, stderr: users.stderr }).toEqual({ code: 0, stderr: "" });
    expect(JSON.parse(users.stdout)).toEqual([
      expect.objectContaining({ email: "ada@example.com", roles: ["user"] }),
    ]);
  });

  test("SIGTERM stops it cleanly, and nothing was written outside the volume", async () => {
    const code = await daemon?.stop("SIGTERM");
    expect(code).toBe(0);
    expect(daemon?.lines.at(-1)?.msg).toBe("stopped");
    expect(readdirSync(work)).toEqual([]);
    expect(readdirSync(bin).sort()).toEqual(["authctl", "authd"]);
  });
});
