/**
 * The outbox worker: every daemon runs one. It claims due rows (a lease,
 * see OutboxStore), opens each sealed message, sends it through the Mailer
 * and marks it sent; a failure makes the row due again after an
 * exponential backoff capped at OUTBOX_MAX_BACKOFF. Claims make each
 * message go out once across daemons; a crash between the send and the
 * mark may send it again once the lease ends (at-least-once delivery).
 */
import { unseal } from "./crypto.ts";
import type { SealedMail } from "./email-flows.ts";
import type { Clock, EventLog, Mailer, OutboxRecord, OutboxStore } from "./ports.ts";

export interface OutboxSettings {
  /** Longest wait between two attempts of one mail, seconds (OUTBOX_MAX_BACKOFF). */
  maxBackoff: number;
  /**
   * How long a claim lasts, seconds. Longer than one send may take (the
   * mailer's timeout), or a slow send would be claimed and sent again.
   */
  leaseSeconds: number;
  /** Rows claimed at once. */
  batch: number;
  /** How often an idle worker looks for due rows, milliseconds. */
  pollMs: number;
}

export interface OutboxDeps {
  outbox: OutboxStore;
  mailer: Mailer;
  clock: Clock;
  /** The outbox payload key (derived from the KEK on first use). */
  mailKey: () => Uint8Array;
  log: EventLog;
  settings: OutboxSettings;
  /** Jitter source, [0, 1). */
  random?: () => number;
}

/** Sent rows are kept this long (for `authctl outbox list`), then pruned. */
export const SENT_RETENTION_DAYS = 7;
const PRUNE_BATCH = 1000;

/**
 * Seconds before attempt `attempts + 1`: 1, 2, 4, 8 … capped at `max`, then
 * scaled by a random factor in [0.5, 1] so daemons that failed together do
 * not retry in lockstep.
 */
export function backoffSeconds(attempts: number, max: number, random: number): number {
  const base = Math.min(max, 2 ** Math.min(Math.max(attempts - 1, 0), 30));
  return base * (0.5 + random / 2);
}

/** What of a send error may be logged and stored: never the message or its link. */
function describeSendError(e: unknown): string {
  const err = e as { code?: unknown; responseCode?: unknown; message?: unknown };
  const parts = [
    typeof err?.code === "string" ? err.code : null,
    typeof err?.responseCode === "number" ? String(err.responseCode) : null,
    String(err?.message ?? e).slice(0, 300),
  ].filter(Boolean);
  return parts.join(" ");
}

export function createOutboxWorker(deps: OutboxDeps) {
  const { outbox, mailer, clock, log, settings } = deps;
  const random = deps.random ?? Math.random;
  let running: Promise<void> | null = null;
  let stopping = false;
  let wake: (() => void) | null = null;
  let kicked = false;

  async function fail(row: OutboxRecord, error: string, final: boolean) {
    const now = clock.now();
    const wait = backoffSeconds(row.attempts, settings.maxBackoff, random());
    await outbox.markOutboxFailed(row.id, row.attempts, {
      error,
      final,
      nextAttemptAt: new Date(now.getTime() + Math.round(wait * 1000)),
    });
    const fields = { outbox_id: row.id, kind: row.kind, attempts: row.attempts, error };
    if (final) log.error(fields, "mail not delivered; given up (authctl outbox retry)");
    else
      log.warn(
        { ...fields, retry_in_s: Math.round(wait) },
        "mail not delivered yet; will retry",
      );
  }

  /** Sends one claimed row and settles it. */
  async function deliver(row: OutboxRecord): Promise<"sent" | "failed"> {
    let mail: SealedMail;
    try {
      mail = JSON.parse(unseal(deps.mailKey(), row.payloadSealed)) as SealedMail;
    } catch {
      await fail(
        row,
        "the message cannot be opened: was KEY_ENCRYPTION_KEY changed?",
        true,
      );
      return "failed";
    }
    if (Date.parse(mail.expires_at) <= clock.now().getTime()) {
      await fail(row, "its link expired before it could be delivered", true);
      return "failed";
    }
    try {
      await mailer.send({
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
      });
    } catch (e) {
      await fail(
        row,
        describeSendError(e),
        (e as { permanent?: unknown }).permanent === true,
      );
      return "failed";
    }
    await outbox.markOutboxSent(row.id, row.attempts, clock.now());
    log.info(
      { outbox_id: row.id, kind: row.kind, attempts: row.attempts },
      "mail sent",
    );
    return "sent";
  }

  /** Claims one batch of due rows and delivers them; returns how many were claimed. */
  async function runOnce(): Promise<number> {
    const now = clock.now();
    const rows = await outbox.claimOutbox(
      now,
      new Date(now.getTime() + settings.leaseSeconds * 1000),
      settings.batch,
    );
    for (const row of rows) await deliver(row);
    return rows.length;
  }

  function sleep(ms: number): Promise<void> {
    if (kicked) {
      kicked = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = null;
        resolve();
      }
      wake = done;
    });
  }

  async function loop() {
    while (!stopping) {
      let claimed = 0;
      try {
        claimed = await runOnce();
      } catch (e) {
        // Storage is down or slow: the rows stay queued; try again later.
        log.warn({ error: describeSendError(e) }, "outbox: could not claim mail");
      }
      if (claimed < settings.batch && !stopping) await sleep(settings.pollMs);
    }
  }

  return {
    runOnce,

    /** Delivers until nothing is due (tests, and `authctl outbox retry --now`). */
    async drain(): Promise<number> {
      let total = 0;
      for (;;) {
        const n = await runOnce();
        total += n;
        if (n === 0) return total;
      }
    },

    /** Starts the loop (idempotent). */
    start(): void {
      if (running) return;
      stopping = false;
      running = loop();
    },

    /** Wakes an idle loop at once: a mail was just queued by this daemon. */
    kick(): void {
      if (wake) wake();
      else kicked = true;
    },

    /** Stops the loop after the batch in hand; resolves when it has. */
    async stop(): Promise<void> {
      stopping = true;
      wake?.();
      await running;
      running = null;
    },

    /** Deletes sent rows older than SENT_RETENTION_DAYS; returns how many. */
    async prune(): Promise<number> {
      const before = new Date(clock.now().getTime() - SENT_RETENTION_DAYS * 86_400_000);
      return outbox.pruneOutbox(before, PRUNE_BATCH);
    },

    /** Pending and failed rows. */
    depth: () => outbox.countOutbox(),

    /** The queue for operators: never the sealed message. */
    async list(filter: { status?: OutboxRecord["status"]; limit: number }) {
      const rows = await outbox.listOutbox(filter);
      return rows.map(({ payloadSealed: _, ...row }) => row);
    },

    /** Makes failed rows (or the given ids) due now; returns how many. */
    retry: (ids?: string[]) => outbox.retryOutbox(clock.now(), ids),
  };
}

export type OutboxWorker = ReturnType<typeof createOutboxWorker>;
