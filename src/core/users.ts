/**
 * User management on behalf of an operator (`authctl users …`) or an admin
 * (the /users admin API): one path for both, so the rules hold however a
 * change arrives. Roles are validated on every write; disabling, deleting or
 * setting a password ends the user's sessions; no change may take away the
 * last active admin (409 `last_admin`); every change, and every refusal of
 * one, is audited with the changed fields before and after.
 */
import { createAuditor } from "./audit.ts";
import { lookupEmail, normalizeEmail } from "./email.ts";
import { AuthError, fieldError, isAuthError } from "./errors.ts";
import { hashPassword } from "./password-hashing.ts";
import type { PasswordPolicy } from "./password-policy.ts";
import type {
  Actor,
  AuditStore,
  Clock,
  Hasher,
  Session,
  SessionStore,
  User,
  UserAdminStore,
  UserPatch,
  UserRecord,
  UserStore,
} from "./ports.ts";
import { DEFAULT_ROLES, validateRoles } from "./roles.ts";
import { applied, changeEvents } from "./user-changes.ts";
import { createUserImport } from "./user-import.ts";

export type { ImportResult } from "./user-import.ts";

/** A new user record with a normalised email; validates email and roles. */
export function createUserRecord(
  input: {
    email: string;
    name?: string | null;
    roles?: readonly string[];
    emailVerified?: boolean;
  },
  passwordHash: string | null,
  id: string,
  now: Date,
): UserRecord {
  const email = normalizeEmail(input.email);
  return {
    id,
    email,
    emailVerified: input.emailVerified ?? false,
    name: input.name ?? null,
    roles: validateRoles(input.roles ?? DEFAULT_ROLES),
    disabled: false,
    passwordHash,
    createdAt: now,
    updatedAt: now,
  };
}

/** The user as clients see it: never a hash. */
export const toPublicUser = ({ passwordHash: _, ...user }: UserRecord): User => user;

/**
 * A user as the CLI names one (an id, or an email: anything with an `@`) or
 * as the API does (`{ id }`: an id only, so `/users/a@b` is simply not found).
 */
export type UserRef = string | { id: string };

export interface UserAdminDeps {
  users: UserStore & UserAdminStore;
  sessions: SessionStore;
  audit: AuditStore;
  hasher: Hasher;
  clock: Clock;
  newId: () => string;
  policy: PasswordPolicy;
}

export interface NewUserInput {
  email: string;
  password?: string;
  /** An imported bcrypt or argon2 hash, kept as is and upgraded at next login. */
  passwordHash?: string;
  name?: string | null;
  roles?: string[];
  emailVerified?: boolean;
}

/** What an admin may change about a user; an absent field is left alone. */
export interface UserChanges {
  name?: string | null;
  roles?: string[];
  disabled?: boolean;
  emailVerified?: boolean;
}

export interface UserQuery {
  /** Exact match after normalisation (trim, NFC, lower case). */
  email?: string;
  /** Prefix of the email or the name, case-insensitive. */
  q?: string;
  role?: string;
  disabled?: boolean;
  limit: number;
  /** Keyset: users whose id sorts after this one (ids are UUIDv7, time-ordered). */
  after?: string;
}

/** One page, and the id to continue after (null on the last page). */
export interface Page<T> {
  items: T[];
  next: string | null;
}

const IMPORTABLE_HASH =
  /^(\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}|\$argon2(id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$\S+)$/;

/**
 * The one core path for managing users, shared by the admin API and
 * `authctl`: create, list, update (name, roles, disabled, email_verified),
 * set a password, delete, and a user's sessions.
 */
export function createUserAdmin(deps: UserAdminDeps) {
  const { users, sessions, clock } = deps;
  const audit = createAuditor(deps.audit, clock, deps.newId);

  const label = (ref: UserRef) => (typeof ref === "string" ? ref : ref.id);
  const notFound = (ref: UserRef) =>
    new AuthError("not_found", `no user ${label(ref)}`);
  const lastAdmin = () =>
    new AuthError(
      "last_admin",
      "this would leave no active admin; give another user the admin role first",
    );

  async function record(input: NewUserInput): Promise<UserRecord> {
    if (input.password !== undefined && input.passwordHash !== undefined) {
      throw fieldError(
        "/password_hash",
        "give a password or a password hash, not both",
      );
    }
    if (input.passwordHash !== undefined && !IMPORTABLE_HASH.test(input.passwordHash)) {
      throw fieldError(
        "/password_hash",
        "must be a bcrypt ($2a$/$2b$/$2y$) or argon2 hash",
      );
    }
    if (input.roles !== undefined) validateRoles(input.roles);
    if (input.password !== undefined)
      await deps.policy.screen(input.password, input.email);
    const hash =
      input.password !== undefined
        ? await hashPassword(deps.hasher, input.password)
        : (input.passwordHash ?? null);
    return createUserRecord(input, hash, deps.newId(), clock.now());
  }

  async function mustFind(ref: UserRef): Promise<UserRecord> {
    const user =
      typeof ref === "string" && ref.includes("@")
        ? await users.findUserByEmail(lookupEmail(ref))
        : await users.findUserById(typeof ref === "string" ? ref : ref.id);
    if (!user) throw notFound(ref);
    return user;
  }

  /** The id a ref names; an API ref needs no lookup (the change reports not_found). */
  const idOf = async (ref: UserRef): Promise<string> =>
    typeof ref === "string" ? (await mustFind(ref)).id : ref.id;

  async function update(ref: UserRef, changes: UserChanges, actor: Actor) {
    const patch: UserPatch = {};
    if (changes.name !== undefined) patch.name = changes.name;
    if (changes.roles !== undefined) patch.roles = validateRoles(changes.roles);
    if (changes.disabled !== undefined) patch.disabled = changes.disabled;
    if (changes.emailVerified !== undefined)
      patch.emailVerified = changes.emailVerified;
    // Nothing to change: no write, no updated_at bump, no audit event.
    if (Object.keys(patch).length === 0) return toPublicUser(await mustFind(ref));
    const id = await idOf(ref);
    const now = clock.now();
    const result = await users.updateUserKeepingAdmin(id, patch, now);
    if (result.kind === "not_found") throw notFound(ref);
    if (result.kind === "last_admin") {
      for (const e of changeEvents(result.before, applied(result.before, patch))) {
        await audit(actor, e.action, {
          userId: id,
          outcome: "failure",
          detail: { ...e.detail, reason: "last_admin" },
        });
      }
      throw lastAdmin();
    }
    const after = result.after ?? result.before;
    // Disabling ends every session; the daemon already refuses a disabled
    // user's tokens, this also stops their refresh tokens for good.
    const ended =
      patch.disabled === true
        ? await sessions.revokeUserSessions(id, "user_disabled", now)
        : 0;
    for (const e of changeEvents(result.before, after)) {
      const detail =
        e.action === "user.disable" ? { ...e.detail, sessions_ended: ended } : e.detail;
      await audit(actor, e.action, { userId: id, detail });
    }
    return toPublicUser(after);
  }

  return {
    /** Looks a user up by id or (CLI) by email. */
    get: async (ref: UserRef): Promise<User> => toPublicUser(await mustFind(ref)),

    /** Creates a user; the password passes the same policy as at register. */
    async create(input: NewUserInput, actor: Actor): Promise<User> {
      const user = await record(input);
      try {
        await users.insertUser(user);
      } catch (e) {
        if (isAuthError(e) && e.code === "email_taken") {
          await audit(actor, "user.create", {
            outcome: "failure",
            detail: { email: user.email, reason: "email_taken" },
          });
        }
        throw e;
      }
      await audit(actor, "user.create", {
        userId: user.id,
        detail: { email: user.email, name: user.name, roles: user.roles },
      });
      return toPublicUser(user);
    },

    /** One page of users, oldest first, with the id to continue after. */
    async list(query: UserQuery): Promise<Page<User>> {
      const rows = await users.listUsers({
        limit: query.limit + 1,
        email: query.email !== undefined ? lookupEmail(query.email) : undefined,
        q:
          query.q !== undefined && query.q.trim() !== ""
            ? query.q.trim().normalize("NFC").toLowerCase()
            : undefined,
        role:
          query.role !== undefined
            ? validateRoles([query.role], "/role")[0]
            : undefined,
        disabled: query.disabled,
        afterId: query.after,
      });
      const items = rows.slice(0, query.limit).map(toPublicUser);
      const more = rows.length > query.limit;
      return { items, next: more ? (items.at(-1)?.id ?? null) : null };
    },

    /** Changes name, roles, disabled and email_verified at once, atomically. */
    update,

    setDisabled: (ref: UserRef, disabled: boolean, actor: Actor) =>
      update(ref, { disabled }, actor),

    setRoles: (ref: UserRef, roles: string[], actor: Actor) =>
      update(ref, { roles }, actor),

    /** Sets a password (through the policy) and ends every session of the user. */
    async setPassword(ref: UserRef, password: string, actor: Actor): Promise<User> {
      const user = await mustFind(ref);
      await deps.policy.screen(password, user.email);
      const passwordHash = await hashPassword(deps.hasher, password);
      const now = clock.now();
      const updated = await users.updateUser(user.id, { passwordHash }, now);
      if (!updated) throw notFound(ref);
      const ended = await sessions.revokeUserSessions(user.id, "password_set", now);
      await audit(actor, "user.set_password", {
        userId: user.id,
        detail: { sessions_ended: ended },
      });
      return toPublicUser(updated);
    },

    /** Deletes the user; sessions and refresh tokens go with it (cascade). */
    async delete(ref: UserRef, actor: Actor): Promise<User> {
      const id = await idOf(ref);
      const result = await users.deleteUserKeepingAdmin(id);
      if (result.kind === "not_found") throw notFound(ref);
      const { email, roles } = result.before;
      if (result.kind === "last_admin") {
        await audit(actor, "user.delete", {
          userId: id,
          outcome: "failure",
          detail: { email, roles, reason: "last_admin" },
        });
        throw lastAdmin();
      }
      await audit(actor, "user.delete", { userId: id, detail: { email, roles } });
      return toPublicUser(result.before);
    },

    /** The user's live sessions, most recently used first. */
    async listSessions(ref: UserRef): Promise<Session[]> {
      const user = await mustFind(ref);
      return sessions.listLiveSessions(user.id, clock.now());
    },

    /** Ends one session of the user, or all of them; returns how many ended. */
    async revokeSessions(
      ref: UserRef,
      actor: Actor,
      sessionId?: string,
    ): Promise<number> {
      const user = await mustFind(ref);
      const now = clock.now();
      const count = sessionId
        ? Number(
            await sessions.revokeSession(
              sessionId,
              user.id,
              "revoked_by_operator",
              now,
            ),
          )
        : await sessions.revokeUserSessions(user.id, "revoked_by_operator", now);
      if (sessionId && count === 0)
        throw new AuthError("not_found", `no live session ${sessionId}`);
      await audit(actor, "session.revoke", {
        userId: user.id,
        detail: { session_id: sessionId ?? "all", count },
      });
      return count;
    },

    /** JSON Lines import, all or nothing: see ./user-import.ts. */
    import: createUserImport({ users, audit, record }),
  };
}

export type UserAdmin = ReturnType<typeof createUserAdmin>;
