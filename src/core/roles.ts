/**
 * Roles: the one list of what a user may be. Every write of roles — register,
 * the admin API, `authctl users create|set-roles|import`, `admin create` —
 * goes through `validateRoles`, so a typo ("Admin", "admins") is a 422 and
 * never a role that silently grants nothing. To add a role, add it here.
 */
import { fieldError } from "./errors.ts";
import type { User } from "./ports.ts";

/**
 * `user`: an ordinary account. `admin`: may use the admin API (users, audit).
 * `service`: a machine client (other services; e.g. token introspection).
 */
export const KNOWN_ROLES = ["user", "admin", "service"] as const;

export type Role = (typeof KNOWN_ROLES)[number];

export const ADMIN_ROLE: Role = "admin";

/** The roles a new account gets when none are given. */
export const DEFAULT_ROLES: readonly Role[] = ["user"];

const known: ReadonlySet<string> = new Set(KNOWN_ROLES);

export const isKnownRole = (role: string): role is Role => known.has(role);

/**
 * Checks every role against the known set and drops duplicates, keeping the
 * order given. Throws a 422 on `path` naming the first unknown role.
 */
export function validateRoles(roles: readonly string[], path = "/roles"): Role[] {
  const bad = roles.find((r) => !isKnownRole(r));
  if (bad !== undefined) {
    throw fieldError(
      path,
      `"${bad}" is not a known role (known: ${KNOWN_ROLES.join(", ")})`,
    );
  }
  return [...new Set(roles as Role[])];
}

/** An admin who can act: has the admin role and is not disabled. */
export const isActiveAdmin = (u: Pick<User, "roles" | "disabled">): boolean =>
  !u.disabled && u.roles.includes(ADMIN_ROLE);

/**
 * Whether changing `before` into `after` (null: deleting it) takes away an
 * active admin — the changes that must leave another active admin behind.
 */
export const removesActiveAdmin = (
  before: Pick<User, "roles" | "disabled">,
  after: Pick<User, "roles" | "disabled"> | null,
): boolean => isActiveAdmin(before) && (after === null || !isActiveAdmin(after));
