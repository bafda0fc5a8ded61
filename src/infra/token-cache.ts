/**
 * A verified-token cache in front of the signer: a bounded LRU from the exact
 * access-token string to the claims its verification produced. A token seen
 * before skips the signature check (an Ed25519 or P-256 verify, the largest
 * cost of GET /users/me after the access log) until its `exp`.
 *
 * Only the signature and claim checks are skipped. The session is still
 * looked up on every request (core/sessions.ts `authenticate`), so logout and
 * revocation stay immediate. An entry also dies with its key: a hit whose
 * signing key is no longer published is verified again (and then rejected).
 */
import type { AccessClaims, Clock, TokenSigner } from "../core/ports.ts";

export interface TokenCacheOptions {
  /** Most tokens remembered; the least recently used goes first. */
  size: number;
  /** Whether the key with this kid is still published (the keyring's view). */
  keyKnown(kid: string): boolean;
}

interface Entry {
  claims: AccessClaims;
  kid: string;
  /** exp in milliseconds: past it the entry is never used. */
  expiresAt: number;
}

/** The kid from a JWS header we have already verified (so it parses). */
function kidOf(token: string): string {
  const header = token.slice(0, token.indexOf("."));
  const parsed = JSON.parse(Buffer.from(header, "base64url").toString("utf8")) as {
    kid?: unknown;
  };
  return typeof parsed.kid === "string" ? parsed.kid : "";
}

export function withTokenCache(
  signer: TokenSigner,
  clock: Clock,
  options: TokenCacheOptions,
): TokenSigner & { readonly cached: number } {
  // A Map iterates in insertion order: re-inserting on a hit makes the first
  // key the least recently used one.
  const entries = new Map<string, Entry>();

  return {
    sign: (claims) => signer.sign(claims),

    async verify(token) {
      const now = clock.now().getTime();
      const hit = entries.get(token);
      if (hit) {
        entries.delete(token);
        if (hit.expiresAt > now && options.keyKnown(hit.kid)) {
          entries.set(token, hit);
          return hit.claims;
        }
      }
      const claims = await signer.verify(token);
      // Cached only until exp, without the verifier's leeway: an entry never
      // outlives what a strict verifier would accept.
      const expiresAt = claims.exp * 1000;
      if (expiresAt > now) {
        if (entries.size >= options.size) {
          const oldest = entries.keys().next();
          if (!oldest.done) entries.delete(oldest.value);
        }
        entries.set(token, { claims, kid: kidOf(token), expiresAt });
      }
      return claims;
    },

    get cached() {
      return entries.size;
    },
  };
}
