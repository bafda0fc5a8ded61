/**
 * User management on behalf of an operator or an admin: what `authctl users`
 * and (later) the admin API call. Every change is audited; disabling,
 * deleting or setting a password ends the user's sessions.
 */
import { createAuditor } from "./audit.ts";
import { isValidEmail, normalizeEmail } from "./email.ts";
import { AuthError, fieldError } from "./errors.ts";
import type { PasswordPolicy } from "./password-policy.ts";
import type {
  Actor,
  AuditStore,
  Clock,
  Hasher,
  Session,
  SessionStore,
  User,
  UserFilter,
  UserRecord,
  UserStore,
} from "./ports.ts";

export const ROLE_PATTERN = /^[a-z][a-z0-9_:-]{0,63}$/;
const IMPORTABLE_HASH =
  /^(\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}|\$argon2(id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$\S+)$/;

/** A new user record with a normalised email; validates email and roles. */
export function createUserRecord(
  input: {
    email: string;
    name?: string | null;
    roles?: string[];
    emailVerified?: boolean;
  },
  passwordHash: string | null,
  id: string,
  now: Date,
): UserRecord {
  const email = normalizeEmail(input.email);
  if (!isValidEmail(email)) throw fieldError("/email", "must be an email address");
  const roles = [...new Set(input.roles ?? ["user"])];
  const badRole = roles.find((r) => !ROLE_PATTERN.test(r));
  if (badRole !== undefined)
    throw fieldError("/roles", `"${badRole}" is not a valid role name`);
  return {
    id,
    email,
    emailVerified: input.emailVerified ?? false,
    name: input.name ?? null,
    roles,
    disabled: false,
    passwordHash,
    createdAt: now,
    updatedAt: now,
  };
}

/** The user as clients see it: never a hash. */
export const toPublicUser = ({ passwordHash: _, ...user }: UserRecord): User => user;

export interface UserAdminDeps {
  users: UserStore;
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

export interface ImportResult {
  created: string[];
  skipped: string[];
  rejected: { line: number; reason: string }[];
}

export function createUserAdmin(deps: UserAdminDeps) {
  const { users, sessions, clock } = deps;
  const audit = createAuditor(deps.audit, clock, deps.newId);

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
    if (input.password !== undefined) deps.policy.check(input.password, input.email);
    const hash =
      input.password !== undefined
        ? await deps.hasher.hash(input.password)
        : (input.passwordHash ?? null);
    return createUserRecord(input, hash, deps.newId(), clock.now());
  }

  async function mustFind(idOrEmail: string): Promise<UserRecord> {
    const user = idOrEmail.includes("@")
      ? await users.findUserByEmail(normalizeEmail(idOrEmail))
      : await users.findUserById(idOrEmail);
    if (!user) throw new AuthError("not_found", `no user ${idOrEmail}`);
    return user;
  }

  async function change(
    idOrEmail: string,
    patch: Parameters<UserStore["updateUser"]>[1],
    action: string,
    actor: Actor,
    detail?: Record<string, unknown>,
  ): Promise<User> {
    const user = await mustFind(idOrEmail);
    const now = clock.now();
    const updated = await users.updateUser(user.id, patch, now);
    if (!updated) throw new AuthError("not_found", `no user ${idOrEmail}`);
    let ended = 0;
    if (patch.disabled === true || patch.passwordHash !== undefined) {
      ended = await sessions.revokeUserSessions(user.id, action, now);
    }
    await audit(actor, action, {
      userId: user.id,
      detail: { ...detail, sessions_ended: ended },
    });
    return toPublicUser(updated);
  }

  return {
    /** Looks a user up by id or by email. */
    get: async (idOrEmail: string): Promise<User> =>
      toPublicUser(await mustFind(idOrEmail)),

    async create(input: NewUserInput, actor: Actor): Promise<User> {
      const user = await record(input);
      await users.insertUser(user);
      await audit(actor, "user.create", {
        userId: user.id,
        detail: { roles: user.roles },
      });
      return toPublicUser(user);
    },

    async list(
      filter: UserFilter,
    ): Promise<{ items: User[]; nextCursor: string | null }> {
      const rows = await users.listUsers({ ...filter, limit: filter.limit + 1 });
      const items = rows.slice(0, filter.limit).map(toPublicUser);
      const more = rows.length > filter.limit;
      return { items, nextCursor: more ? (items.at(-1)?.id ?? null) : null };
    },

    setDisabled: (idOrEmail: string, disabled: boolean, actor: Actor) =>
      change(idOrEmail, { disabled }, disabled ? "user.disable" : "user.enable", actor),

    async setPassword(
      idOrEmail: string,
      password: string,
      actor: Actor,
    ): Promise<User> {
      const user = await mustFind(idOrEmail);
      deps.policy.check(password, user.email);
      return change(
        user.id,
        { passwordHash: await deps.hasher.hash(password) },
        "user.set_password",
        actor,
      );
    },

    setRoles(idOrEmail: string, roles: string[], actor: Actor): Promise<User> {
      const unique = [...new Set(roles)];
      const bad = unique.find((r) => !ROLE_PATTERN.test(r));
      if (bad !== undefined)
        throw fieldError("/roles", `"${bad}" is not a valid role name`);
      return change(idOrEmail, { roles: unique }, "user.set_roles", actor, {
        roles: unique,
      });
    },

    /** Deletes the user; sessions and refresh tokens go with it (cascade). */
    async delete(idOrEmail: string, actor: Actor): Promise<void> {
      const user = await mustFind(idOrEmail);
      await users.deleteUser(user.id);
      await audit(actor, "user.delete", {
        userId: user.id,
        detail: { email: user.email },
      });
    },

    async listSessions(idOrEmail: string): Promise<Session[]> {
      const user = await mustFind(idOrEmail);
      return sessions.listLiveSessions(user.id, clock.now());
    },

    /** Ends one session of the user, or all of them; returns how many ended. */
    async revokeSessions(
      idOrEmail: string,
      actor: Actor,
      sessionId?: string,
    ): Promise<number> {
      const user = await mustFind(idOrEmail);
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

    /**
     * Imports users all or nothing: every line is checked first, and if any
     * is rejected nothing is written. Existing emails are skipped, so a
     * re-run of the same file is a no-op.
     */
    async import(
      lines: { line: number; input: NewUserInput }[],
      actor: Actor,
      options: {
        /** Lines the caller could not even parse; they block the import too. */
        unparsable?: ImportResult["rejected"];
        onProgress?: (done: number, total: number) => void;
      } = {},
    ): Promise<ImportResult> {
      const rejected: ImportResult["rejected"] = [...(options.unparsable ?? [])];
      const records: UserRecord[] = [];
      const seen = new Set<string>();
      for (const [index, { line, input }] of lines.entries()) {
        options.onProgress?.(index, lines.length);
        try {
          const r = await record(input);
          if (seen.has(r.email))
            throw new Error(`duplicate of an earlier line (${r.email})`);
          seen.add(r.email);
          records.push(r);
        } catch (e) {
          const reason =
            e instanceof AuthError && e.errors?.[0]
              ? `${e.errors[0].path.slice(1)} ${e.errors[0].message}`
              : (e as Error).message;
          rejected.push({ line, reason });
        }
      }
      options.onProgress?.(lines.length, lines.length);
      rejected.sort((a, b) => a.line - b.line);
      if (rejected.length > 0) return { created: [], skipped: [], rejected };
      const created = await users.insertUsersIfAbsent(records);
      const createdSet = new Set(created);
      const skipped = records
        .filter((r) => !createdSet.has(r.email))
        .map((r) => r.email);
      await audit(actor, "user.import", {
        detail: { created: created.length, skipped: skipped.length },
      });
      return { created, skipped, rejected };
    },
  };
}

export type UserAdmin = ReturnType<typeof createUserAdmin>;
