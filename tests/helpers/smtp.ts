/**
 * A real SMTP server (the `smtp-server` package) in the test process, on a
 * port the OS picks: it receives what the daemon's nodemailer sends, keeps
 * every message, and can go down (port closed), come back on the same port,
 * or refuse mail with a chosen reply code.
 */
import { SMTPServer } from "smtp-server";

export interface ReceivedMail {
  to: string[];
  raw: string;
  subject: string;
  /** The decoded text/plain part. */
  text: string;
  /** The decoded text/html part. */
  html: string;
}

/** Decodes quoted-printable (what nodemailer uses for long lines). */
const decodeQp = (s: string) =>
  Buffer.from(
    s
      .replace(/=\r?\n/g, "")
      .replace(/=([0-9A-F]{2})/g, (_, h: string) =>
        String.fromCharCode(Number.parseInt(h, 16)),
      ),
    "latin1",
  ).toString("utf8");

/**
 * The body of the MIME part with this content type, decoded. Parts are cut at
 * the message's own boundary, never at any line that starts with "--": a
 * quoted-printable soft break can put "--" from a token at a line's start.
 */
function part(raw: string, type: string): string {
  const boundary = /boundary="?([^";\r\n]+)"?/i.exec(raw)?.[1];
  const parts = boundary ? raw.split(`--${boundary}`) : [raw];
  const wanted = parts.find((p) => p.toLowerCase().includes(`content-type: ${type}`));
  if (wanted === undefined) return "";
  const headerEnd = wanted.search(/\r?\n\r?\n/);
  if (headerEnd < 0) return "";
  const headers = wanted.slice(0, headerEnd).toLowerCase();
  // The line break before the next boundary belongs to the boundary.
  const content = wanted
    .slice(headerEnd)
    .replace(/^\r?\n\r?\n/, "")
    .replace(/\r?\n$/, "");
  if (headers.includes("quoted-printable")) return decodeQp(content);
  if (headers.includes("base64"))
    return Buffer.from(content.replace(/\s+/g, ""), "base64").toString("utf8");
  return content;
}

export interface TestSmtp {
  port: number;
  url: string;
  mails: ReceivedMail[];
  /** Connections accepted so far (a refused or open-breaker send makes none). */
  connections: number;
  /** Waits until `count` mails have arrived (fails after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  /** Closes the port: sends fail with ECONNREFUSED. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  /** Answer DATA with this SMTP error (e.g. 451 transient, 550 permanent); null = accept. */
  refuseWith(code: number | null): void;
  close(): Promise<void>;
}

/** The token of the one link in a mail's text part. */
export function tokenOf(mail: ReceivedMail): string {
  const links = mail.text.match(/https?:\/\/\S+/g) ?? [];
  if (links.length !== 1) throw new Error(`expected one link, got ${links.length}`);
  const token = new URL(links[0] ?? "").searchParams.get("token");
  if (!token) throw new Error("the link has no token");
  return token;
}

export async function startSmtp(): Promise<TestSmtp> {
  const mails: ReceivedMail[] = [];
  let refuse: number | null = null;
  const state = { connections: 0 };
  const make = () =>
    new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS", "AUTH"],
      logger: false,
      onConnect(_session, callback) {
        state.connections++;
        callback();
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => {
          if (refuse !== null) {
            const err = Object.assign(new Error("refused by the test"), {
              responseCode: refuse,
            });
            return callback(err);
          }
          const raw = Buffer.concat(chunks).toString("utf8");
          const subject = /^subject: (.*)$/im.exec(raw)?.[1]?.trim() ?? "";
          mails.push({
            to: session.envelope.rcptTo.map((r) => r.address),
            raw,
            subject,
            text: part(raw, "text/plain"),
            html: part(raw, "text/html"),
          });
          callback();
        });
      },
    });
  let server = make();
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        const address = server.server.address();
        resolve(typeof address === "object" && address ? address.port : port);
      });
    });
  const port = await listen(0);
  let open = true;
  const close = () =>
    new Promise<void>((resolve) => {
      if (!open) return resolve();
      open = false;
      server.close(() => resolve());
    });
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    mails,
    get connections() {
      return state.connections;
    },
    async waitFor(count, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (mails.length < count) {
        if (Date.now() > deadline)
          throw new Error(`only ${mails.length} of ${count} mails arrived`);
        await Bun.sleep(20);
      }
      return mails;
    },
    down: close,
    async up() {
      if (open) return;
      server = make();
      await listen(port);
      open = true;
    },
    refuseWith(code) {
      refuse = code;
    },
    close,
  };
}
