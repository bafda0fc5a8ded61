/**
 * Access tokens (RFC 9068 JWTs) with jose. Verification is deliberately
 * narrow: the algorithm is pinned to the algorithm of the key the `kid`
 * names, only keys from our own storage are used, and headers that point at
 * other keys (jku, jwk, x5u, x5c) make the token invalid rather than ignored.
 */
import { randomUUID } from "node:crypto";
import { decodeProtectedHeader, jwtVerify, SignJWT } from "jose";
import { AuthError } from "../core/errors.ts";
import type { AccessClaims, Clock, TokenSigner } from "../core/ports.ts";
import type { Keyring } from "./signing-keys.ts";

export interface SignerOptions {
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

/** Clock skew tolerated between daemons and verifiers. */
export const LEEWAY_SECONDS = 60;

const FOREIGN_KEY_HEADERS = ["jku", "jwk", "x5u", "x5c", "crit"] as const;

const invalid = (why: string, cause?: unknown) =>
  new AuthError("invalid_token", `the access token is invalid: ${why}`, undefined, {
    cause,
  });

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
      return new SignJWT({ sid, roles })
        .setProtectedHeader({ alg: signing.alg, kid: signing.kid, typ: "at+jwt" })
        .setIssuer(options.issuer)
        .setAudience(options.audience)
        .setSubject(sub)
        .setJti(randomUUID())
        .setIssuedAt(iat)
        .setExpirationTime(iat + options.ttlSeconds)
        .sign(signing.privateKey);
    },

    async verify(token): Promise<AccessClaims> {
      let header: ReturnType<typeof decodeProtectedHeader>;
      try {
        header = decodeProtectedHeader(token);
      } catch (e) {
        throw invalid("not a JWS", e);
      }
      if (FOREIGN_KEY_HEADERS.some((h) => h in header))
        throw invalid("unexpected key header");
      if (typeof header.kid !== "string") throw invalid("no kid");
      let key = keyring.state().verifying.get(header.kid);
      if (!key) {
        await keyring.refreshForUnknownKid();
        key = keyring.state().verifying.get(header.kid);
      }
      if (!key) throw invalid("unknown kid");
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
        throw invalid("signature or claims rejected", e);
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
        throw invalid("malformed claims");
      }
      if (iat > now.getTime() / 1000 + LEEWAY_SECONDS)
        throw invalid("issued in the future");
      return { sub, sid, jti, iat, exp, roles };
    },
  };
}
