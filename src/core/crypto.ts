/**
 * Small primitives the core needs: random opaque tokens, hashes for storing
 * them, and AES-256-GCM sealing (signing keys at rest, refresh successors).
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  randomBytes,
} from "node:crypto";

/** 256 bits from the CSPRNG, base64url: opaque tokens (refresh tokens). */
export const randomToken = (bytes = 32): string =>
  randomBytes(bytes).toString("base64url");

/**
 * Tokens are high-entropy, so a plain SHA-256 is a safe at-rest form: there is
 * nothing to brute-force, and lookups stay a single indexed equality.
 */
export const sha256 = (value: string, domain = ""): Buffer =>
  createHash("sha256").update(domain).update(value).digest();

export const tokenHash = (token: string): string => sha256(token).toString("base64url");

/** AES-256-GCM; the output is base64url(iv ‖ ciphertext ‖ tag). */
export function seal(key: Uint8Array, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64url");
}

/** Opens what `seal` made; throws if the key is wrong or the data was altered. */
export function unseal(key: Uint8Array, sealed: string): string {
  const raw = Buffer.from(sealed, "base64url");
  if (raw.length < 28) throw new Error("sealed value too short");
  const decipher = createDecipheriv("aes-256-gcm", key, raw.subarray(0, 12));
  decipher.setAuthTag(raw.subarray(raw.length - 16));
  return Buffer.concat([
    decipher.update(raw.subarray(12, raw.length - 16)),
    decipher.final(),
  ]).toString("utf8");
}

/**
 * A key for one purpose derived from a master key (HMAC-SHA256 as a PRF):
 * what the key-encryption key seals for the outbox cannot be opened as, or
 * confused with, what it seals for the signing keys.
 */
export const deriveKey = (key: Uint8Array, purpose: string): Uint8Array =>
  createHmac("sha256", key).update(purpose).digest();
