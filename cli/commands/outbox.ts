/** authctl outbox list|retry: the mail queue (API.md "Email flows"). */
import type { Command } from "commander";
import type { OutboxStatus } from "../../src/core/ports.ts";
import { withContainer } from "../context.ts";
import { examples, type GlobalOptions, print, table, usage } from "../output.ts";
import { parseLimit } from "./users.ts";

const STATUSES: readonly OutboxStatus[] = ["pending", "sent", "failed"];

const parseStatus = (value: string): OutboxStatus => {
  if (!(STATUSES as readonly string[]).includes(value))
    throw usage(`--status must be one of ${STATUSES.join(", ")}`);
  return value as OutboxStatus;
};

export function registerOutbox(program: Command): void {
  const outbox = program
    .command("outbox")
    .description("inspect and retry queued mail (reset and verification links)")
    .addHelpText(
      "after",
      `
Every daemon delivers queued mail by itself, retrying with backoff; a mail the
SMTP server refused for good (5xx), or whose link expired first, is "failed".
The message itself is sealed and never shown.

Examples:
  authctl outbox list --status failed
  authctl outbox retry            # every failed mail
  authctl outbox retry --id 0192…`,
    );

  outbox
    .command("list")
    .description("queued and recent mail, newest first (never the message or its link)")
    .option("--status <status>", "pending, sent or failed", parseStatus)
    .option("--limit <n>", "at most this many", parseLimit, 50)
    .addHelpText(
      "after",
      examples("authctl outbox list", "authctl outbox list --status pending --json"),
    )
    .action(async (opts: { status?: OutboxStatus; limit: number }, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions>();
      const rows = await withContainer((c) =>
        c.outbox.list({
          limit: opts.limit,
          ...(opts.status ? { status: opts.status } : {}),
        }),
      );
      print(o, rows, () =>
        rows.length
          ? table(
              rows.map((r) => ({
                id: r.id,
                kind: r.kind,
                recipient: r.recipient,
                status: r.status,
                attempts: r.attempts,
                next_attempt: r.status === "pending" ? r.nextAttemptAt : null,
                created: r.createdAt,
                sent: r.sentAt,
                last_error: r.lastError,
              })),
              [
                "id",
                "kind",
                "recipient",
                "status",
                "attempts",
                "next_attempt",
                "created",
                "sent",
                "last_error",
              ],
            )
          : "no mail",
      );
    });

  outbox
    .command("retry")
    .description("queue failed mail again (all of it, or --id), due at once")
    .option("--id <id...>", "only these mails (also pending ones waiting for a retry)")
    .addHelpText(
      "after",
      examples("authctl outbox retry", "authctl outbox retry --id 0192… --json"),
    )
    .action(async (opts: { id?: string[] }, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions>();
      const retried = await withContainer((c) => c.outbox.retry(opts.id));
      print(o, { retried }, () => `queued ${retried} mail(s) again`);
    });
}
