/** authctl audit list|prune */
import type { Command } from "commander";
import type { AuditEvent } from "../../src/core/ports.ts";
import { parseIsoTime } from "../../src/core/time.ts";
import { CLI_ACTOR, withContainer } from "../context.ts";
import { examples, type GlobalOptions, print, table, usage } from "../output.ts";
import { parseLimit } from "./users.ts";

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `--since`: a duration back from now (90s, 30m, 24h, 7d) or an ISO 8601 time. */
export function parseSince(value: string, now = new Date()): Date {
  const ago = /^(\d{1,6})([smhd])$/.exec(value.trim());
  if (ago) {
    const unit = UNIT_MS[ago[2] as keyof typeof UNIT_MS];
    return new Date(now.getTime() - Number(ago[1]) * unit);
  }
  const at = parseIsoTime(value.trim());
  if (!at)
    throw usage(
      "--since must be a duration (90s, 30m, 24h, 7d) or an ISO 8601 time (2026-11-26T12:00:00Z)",
    );
  return at;
}

const eventRow = (e: AuditEvent) => ({
  at: e.at,
  action: e.action,
  outcome: e.outcome,
  actor: e.actorId,
  user: e.userId,
  ip: e.ip,
  detail: e.detail ? JSON.stringify(e.detail) : null,
});

export function registerAudit(program: Command): void {
  const audit = program
    .command("audit")
    .description("read and prune the audit log")
    .addHelpText(
      "after",
      `
Examples:
  authctl audit list --since 24h
  authctl audit list --user ada@example.com --action user.login --json
  authctl audit prune`,
    );

  audit
    .command("list")
    .description("audit events, newest first")
    .option("--user <user>", "only events about this user (an id, or an email)")
    .option("--action <action>", "only this action, e.g. user.login")
    .option("--since <when>", "only events since: 90s, 30m, 24h, 7d or an ISO time")
    .option("--limit <n>", "at most this many", parseLimit, 50)
    .addHelpText(
      "after",
      `
A deleted user's events stay in the log: find them with --user and their id.
${examples(
  "authctl audit list --since 24h",
  "authctl audit list --user ada@example.com --since 7d",
  "authctl audit list --action user.disable --json",
)}`,
    )
    .action(
      async (
        opts: { user?: string; action?: string; since?: string; limit: number },
        cmd: Command,
      ) => {
        const o = cmd.optsWithGlobals<GlobalOptions>();
        const since = opts.since !== undefined ? parseSince(opts.since) : undefined;
        const { items } = await withContainer(async (c) => {
          const user = opts.user;
          const userId =
            user === undefined
              ? undefined
              : user.includes("@")
                ? (await c.userAdmin.get(user)).id
                : user;
          return c.auditLog.list({
            userId,
            action: opts.action,
            since,
            limit: opts.limit,
          });
        });
        print(o, items, () =>
          items.length
            ? table(items.map(eventRow), [
                "at",
                "action",
                "outcome",
                "actor",
                "user",
                "ip",
                "detail",
              ])
            : "no audit events",
        );
      },
    );

  audit
    .command("prune")
    .description("delete audit events older than AUDIT_RETENTION_DAYS")
    .addHelpText(
      "after",
      `
Run it daily (cron, a systemd timer, a Kubernetes CronJob). The prune itself is
recorded as an audit.prune event.
${examples("authctl audit prune", "AUDIT_RETENTION_DAYS=90 authctl audit prune --json")}`,
    )
    .action(async (_opts, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions>();
      const { result, days } = await withContainer(async (c) => ({
        result: await c.auditLog.prune(CLI_ACTOR),
        days: c.config.AUDIT_RETENTION_DAYS,
      }));
      print(
        o,
        { deleted: result.deleted, before: result.before, retentionDays: days },
        () =>
          `deleted ${result.deleted} audit event(s) older than ${result.before.toISOString()} (AUDIT_RETENTION_DAYS=${days})`,
      );
    });
}
