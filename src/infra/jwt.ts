/**
 * Access tokens (RFC 9068 JWTs) with jose. Verification is deliberately
 * narrow: the algorithm is pinned to the algorithm of the key the `kid`
 * names, only keys from our own storage are used, and headers that point at
 * other keys (jku, jwk, x5u, x5c) make the token invalid rather than ignored.
 * Beyond what jose checks, a token must be byte-for-byte the one we would
 * have written: canonical base64url, integer times in a sane range, and for
 * ES256 the low-S form of the signature. Only a key holder could mint the
 * others, but refusing them means no token has two spellings.
 */
import { randomUUID } from "node:crypto";
import { decodeProtectedHeader, errors, jwtVerify, SignJWT } from "jose";
import { AuthError, invalidToken } from "../core/errors.ts";
import type { AccessClaims, Clock, TokenSigner } from "../core/ports.ts";
import type { Keyring } from "./signing-keys.ts";

export interface SignerOptions {
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

/** Clock skew tolerated between daemons and verifiers. */
export const LEEWAY_SECONDS = 60;

/**
 * The latest `exp` accepted, relative to now. Our tokens live at most a day
 * (ACCESS_TOKEN_TTL); ten years is far beyond any honest token and far
 * below the float range where `exp = 1e400` (Infinity) never expires.
 */
export const MAX_EXP_AHEAD_SECONDS = 10 * 365 * 24 * 3600;

const FOREIGN_KEY_HEADERS = ["jku", "jwk", "x5u", "x5c", "crit"] as const;

/** The order n of the P-256 group; an ES256 signature is r ‖ s with s ≤ n/2. */
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const P256_HALF_N = P256_N >> 1n;

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Unpadded base64url in the alphabet of RFC 7515 §2, with no stray bits. */
const isCanonicalBase64url = (segment: string): boolean =>
  BASE64URL.test(segment) &&
  Buffer.from(segment, "base64url").toString("base64url") === segment;

const toBigInt = (bytes: Uint8Array): bigint =>
  bytes.reduce((n, b) => (n << 8n) | BigInt(b), 0n);

const fromBigInt = (n: bigint, length: number): Uint8Array => {
  const out = new Uint8Array(length);
  for (let i = length - 1, v = n; i >= 0; i--, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
};

/**
 * ECDSA signatures are malleable: (r, s) and (r, n − s) both verify, and
 * WebCrypto returns either. We only ever issue the low-S one, so a token can
 * be checked for it (as Bitcoin's BIP 62 does).
 */
function toLowS(jws: string): string {
  const dot = jws.lastIndexOf(".");
  const sig = Buffer.from(jws.slice(dot + 1), "base64url");
  const s = toBigInt(sig.subarray(32));
  if (s <= P256_HALF_N) return jws;
  const low = Buffer.concat([sig.subarray(0, 32), fromBigInt(P256_N - s, 32)]);
  return `${jws.slice(0, dot + 1)}${low.toString("base64url")}`;
}

const isHighS = (signature: string): boolean => {
  const sig = Buffer.from(signature, "base64url");
  return sig.length !== 64 || toBigInt(sig.subarray(32)) > P256_HALF_N;
};

/** A machine-readable reason for a failure jose reports. */
function joseReason(e: unknown): string {
  if (e instanceof errors.JWTExpired) return "expired";
  if (e instanceof errors.JWSSignatureVerificationFailed) return "bad_signature";
  if (e instanceof errors.JWTClaimValidationFailed)
    return `bad_claim_${e.claim.replace(/[^a-z]/g, "") || "unknown"}`;
  return "rejected";
}

/** exp, iat and nbf: whole seconds after 1970, and exp not absurdly far away. */
function timesInRange(payload: Record<string, unknown>, nowSeconds: number): boolean {
  const ok = (v: unknown) => Number.isSafeInteger(v) && (v as number) > 0;
  const { exp, iat, nbf } = payload;
  return (
    ok(exp) &&
    ok(iat) &&
    (nbf === undefined || ok(nbf)) &&
    (exp as number) > (iat as number) &&
    (exp as number) <= nowSeconds + MAX_EXP_AHEAD_SECONDS
  );
}

export function createTokenSigner(
  keyring: Keyring,
  clock: Clock,
  options: SignerOptions,
): TokenSigner {
  return {
    async sign({ sub, sid, roles }) {
      const signing = keyring.state().signing;
      if (!signing) throw new AuthError("unavailable", "no signing key is loaded");
      const iat = Math.floor(clock.now().getTime() / 1000);
      const jws = await new SignJWT({ sid, roles })
        .setProtectedHeader({ alg: signing.alg, kid: signing.kid, typ: "at+jwt" })
        .setIssuer(options.issuer)
        .setAudience(options.audience)
        .setSubject(sub)
        .setJti(randomUUID())
        .setIssuedAt(iat)
        .setExpirationTime(iat + options.ttlSeconds)
        .sign(signing.privateKey);
      return signing.alg === "ES256" ? toLowS(jws) : jws;
    },

    async verify(token): Promise<AccessClaims> {
      const segments = token.split(".");
      if (segments.length !== 3 || !segments.every(isCanonicalBase64url))
        throw invalidToken("not_canonical");
      let header: ReturnType<typeof decodeProtectedHeader>;
      try {
        header = decodeProtectedHeader(token);
      } catch (e) {
        throw invalidToken("malformed", e);
      }
      if (FOREIGN_KEY_HEADERS.some((h) => h in header))
        throw invalidToken("foreign_key_header");
      if (typeof header.kid !== "string") throw invalidToken("no_kid");
      let key = keyring.state().verifying.get(header.kid);
      if (!key) {
        await keyring.refreshForUnknownKid();
        key = keyring.state().verifying.get(header.kid);
      }
      if (!key) throw invalidToken("unknown_kid");
      if (key.alg === "ES256" && isHighS(segments[2] ?? ""))
        throw invalidToken("high_s");
      const now = clock.now();
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(token, key.publicKey, {
          algorithms: [key.alg],
          issuer: options.issuer,
          audience: options.audience,
          typ: "at+jwt",
          clockTolerance: LEEWAY_SECONDS,
          currentDate: now,
          requiredClaims: ["sub", "sid", "jti", "iat", "exp"],
        }));
      } catch (e) {
        throw invalidToken(joseReason(e), e);
      }
      const { sub, sid, jti, iat, exp, roles } = payload;
      if (
        typeof sub !== "string" ||
        typeof sid !== "string" ||
        typeof jti !== "string" ||
        typeof iat !== "number" ||
        typeof exp !== "number" ||
        !Array.isArray(roles) ||
        !roles.every((r) => typeof r === "string")
      ) {
        throw invalidToken("malformed_claims");
      }
      const nowSeconds = now.getTime() / 1000;
      if (!timesInRange(payload, nowSeconds)) throw invalidToken("time_out_of_range");
      if (iat > nowSeconds + LEEWAY_SECONDS) throw invalidToken("issued_in_future");
      return { sub, sid, jti, iat, exp, roles };
    },
  };
}
