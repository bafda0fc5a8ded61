/**
 * What an admin change to a user writes to the audit log: one event per kind
 * of change (so `action=user.disable` finds every disabling, whether it came
 * from PATCH /users/{id} or `authctl users disable`), each with the changed
 * fields only, before and after. The fields here are the only ones an admin
 * can change; a password hash never appears.
 */
import type { UserPatch, UserRecord } from "./ports.ts";

export interface ChangeEvent {
  action: string;
  detail: Record<string, unknown>;
}

type Audited = Pick<UserRecord, "name" | "emailVerified" | "roles" | "disabled">;

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function diff<K extends keyof Audited>(
  before: Audited,
  after: Audited,
  fields: [K, string][],
): Record<string, unknown> | null {
  const from: Record<string, unknown> = {};
  const to: Record<string, unknown> = {};
  for (const [field, name] of fields) {
    if (same(before[field], after[field])) continue;
    from[name] = before[field];
    to[name] = after[field];
  }
  return Object.keys(from).length ? { before: from, after: to } : null;
}

/** The audit events for changing `before` into `after`; none when nothing changed. */
export function changeEvents(before: Audited, after: Audited): ChangeEvent[] {
  const events: ChangeEvent[] = [];
  const profile = diff(before, after, [
    ["name", "name"],
    ["emailVerified", "email_verified"],
  ]);
  if (profile) events.push({ action: "user.update", detail: profile });
  const roles = diff(before, after, [["roles", "roles"]]);
  if (roles) events.push({ action: "user.set_roles", detail: roles });
  const disabled = diff(before, after, [["disabled", "disabled"]]);
  if (disabled) {
    events.push({
      action: after.disabled ? "user.disable" : "user.enable",
      detail: disabled,
    });
  }
  return events;
}

/** The patch as it would leave the user: for the events of a refused change. */
export const applied = (before: UserRecord, patch: UserPatch): UserRecord => ({
  ...before,
  ...patch,
});
