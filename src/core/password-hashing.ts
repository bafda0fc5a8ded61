/**
 * Passwords are hashed and verified in NFKC form (NIST SP 800-63B §3.1.1.2):
 * the same passphrase typed on two keyboards — a precomposed `é` or `e` plus
 * a combining accent, a full-width digit — is the same password.
 *
 * Hashes made before this rule hold the raw form. Verification tries the
 * normalised form first and, only when that fails and the raw form differs,
 * the raw form; a match there asks for a rehash, so the account moves to the
 * NFKC hash at its next login. The extra verification depends only on the
 * password typed, never on whether the account exists, so an unknown email
 * still costs exactly what a known one does.
 */
import type { Hasher } from "./ports.ts";

/** The form every password is hashed, verified and checked by policy in. */
export const normalizePassword = (password: string): string =>
  password.normalize("NFKC");

/** `signal`: the request's; see Hasher. */
export const hashPassword = (
  hasher: Hasher,
  password: string,
  signal?: AbortSignal,
): Promise<string> => hasher.hash(normalizePassword(password), signal);

export interface Verification {
  ok: boolean;
  /** Store a fresh hash of the password: other parameters, or a pre-NFKC hash. */
  rehash: boolean;
}

/** Verifies a password against a stored hash, normalised form first. */
export async function verifyPassword(
  hasher: Hasher,
  password: string,
  hash: string,
  signal?: AbortSignal,
): Promise<Verification> {
  const normalized = normalizePassword(password);
  if (await hasher.verify(normalized, hash, signal))
    return { ok: true, rehash: hasher.needsRehash(hash) };
  if (normalized !== password && (await hasher.verify(password, hash, signal)))
    return { ok: true, rehash: true };
  return { ok: false, rehash: false };
}
