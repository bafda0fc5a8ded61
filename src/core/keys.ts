/**
 * Signing-key lifecycle: next → current → retired → pruned.
 *
 * - The JWKS publishes next, current and retired keys; only current signs.
 * - A rotation makes next current, so every verifier that fetched the JWKS
 *   since the previous rotation already knows the key that now signs. That
 *   holds only if verifiers' JWKS caches are younger than the time between
 *   rotations, so `rotate` refuses to run sooner than JWKS_MAX_AGE (plus the
 *   daemons' KEY_REFRESH_INTERVAL) after the next key appeared (unless forced).
 * - A retired key stays published until every token it signed has expired.
 *   A daemon keeps signing with it until its next key reload, so that is one
 *   reload interval plus the access-token lifetime plus the verification
 *   leeway after it retired (the container adds the three up).
 * - Two rotations at once (two operators, a cron on two hosts) must not chain:
 *   the second would promote a next key published a moment earlier, which no
 *   verifier has seen. The store swaps only if the next key is still the one
 *   checked here, so one of them wins and the other reports a conflict.
 */

import { createAuditor } from "./audit.ts";
import { AuthError } from "./errors.ts";
import type {
  Actor,
  AuditStore,
  Clock,
  KeyFactory,
  KeyStore,
  SigningKeyRecord,
} from "./ports.ts";

export interface KeyManagerDeps {
  keys: KeyStore;
  factory: KeyFactory;
  clock: Clock;
  audit: AuditStore;
  newId: () => string;
  alg: string;
  /**
   * How long after retiring a key may still be needed, in seconds: the longest
   * access-token lifetime, plus leeway, plus one keyring reload interval.
   */
  retentionSeconds: number;
  /** Least time between two rotations, in seconds (the JWKS max-age). */
  minRotationSeconds: number;
}

export type PublicKeyInfo = Omit<SigningKeyRecord, "privateKeySealed"> & {
  /** When a retired key may be pruned; null while it is not retired. */
  prunableAt: Date | null;
};

export function createKeyManager(deps: KeyManagerDeps) {
  const audit = createAuditor(deps.audit, deps.clock, deps.newId);
  const prunableAt = (k: { retiredAt: Date | null }) =>
    k.retiredAt ? new Date(k.retiredAt.getTime() + deps.retentionSeconds * 1000) : null;

  return {
    /** Creates a current and a next key on first start; no-op afterwards. */
    async ensureKeys(actor: Actor = {}): Promise<boolean> {
      const existing = await deps.keys.listKeys();
      if (existing.some((k) => k.state === "current")) return false;
      const now = deps.clock.now();
      const current = await deps.factory.generate(deps.alg, now);
      const next = await deps.factory.generate(deps.alg, now);
      const created = await deps.keys.insertInitialKeys(
        { ...current, state: "current", activatedAt: now },
        next,
      );
      if (created) {
        await audit(actor, "key.create", {
          detail: { current: current.kid, next: next.kid },
        });
      }
      return created;
    },

    /** The keys a verifier may need right now (what the JWKS lists). */
    async publishedKeys(): Promise<SigningKeyRecord[]> {
      const now = deps.clock.now().getTime();
      const keys = await deps.keys.listKeys();
      return keys.filter(
        (k) => k.state !== "retired" || (prunableAt(k)?.getTime() ?? 0) > now,
      );
    },

    async listKeys(): Promise<PublicKeyInfo[]> {
      const keys = await deps.keys.listKeys();
      return keys.map(({ privateKeySealed: _, ...k }) => ({
        ...k,
        prunableAt: prunableAt(k),
      }));
    },

    /**
     * Rotates: next becomes current, current retires, a new next appears.
     * @throws AuthError("conflict") when the next key is younger than the JWKS
     *   max-age and `force` is not set, when there are no keys yet, or when a
     *   concurrent rotation changed the keys first (then nothing changes here).
     */
    async rotate(
      actor: Actor,
      force = false,
    ): Promise<{ current: string; next: string }> {
      const keys = await deps.keys.listKeys();
      const next = keys.find((k) => k.state === "next");
      if (!next)
        throw new AuthError(
          "conflict",
          "there are no signing keys yet; start the daemon first",
        );
      const now = deps.clock.now();
      const age = (now.getTime() - next.createdAt.getTime()) / 1000;
      if (!force && age < deps.minRotationSeconds) {
        throw new AuthError(
          "conflict",
          `the next key was published ${Math.floor(age)} s ago; verifiers may not know it for ${deps.minRotationSeconds} s (JWKS_MAX_AGE + KEY_REFRESH_INTERVAL), so rotate again later or use --force`,
        );
      }
      const newNext = await deps.factory.generate(deps.alg, now);
      if (!(await deps.keys.rotateKeys(next.kid, newNext, now))) {
        throw new AuthError(
          "conflict",
          "another rotation changed the signing keys at the same moment; this one changed nothing",
        );
      }
      await audit(actor, "key.rotate", {
        detail: { current: next.kid, next: newNext.kid },
      });
      return { current: next.kid, next: newNext.kid };
    },

    /** Deletes retired keys whose tokens have all expired; returns their kids. */
    async prune(actor: Actor): Promise<string[]> {
      const now = deps.clock.now().getTime();
      const keys = await deps.keys.listKeys();
      const kids = keys
        .filter((k) => k.state === "retired" && (prunableAt(k)?.getTime() ?? 0) <= now)
        .map((k) => k.kid);
      if (kids.length > 0) {
        await deps.keys.deleteKeys(kids);
        await audit(actor, "key.prune", { detail: { kids } });
      }
      return kids;
    },
  };
}

export type KeyManager = ReturnType<typeof createKeyManager>;
