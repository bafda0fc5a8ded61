/**
 * Reading a token as a client would, without verifying it: the one place
 * tests decode JWTs (jose's decoders), for HTTP, CLI and end-to-end suites.
 */
import { decodeJwt, decodeProtectedHeader } from "jose";

export interface AccessClaimsBody {
  iss: string;
  aud: string;
  sub: string;
  sid: string;
  jti: string;
  iat: number;
  exp: number;
  roles: string[];
}

/** The access token's claims. */
export const claimsOf = (token: string) =>
  decodeJwt(token) as unknown as AccessClaimsBody;

/** The token's protected header (alg, kid, typ). */
export const headerOf = (token: string) => decodeProtectedHeader(token);

/** The id of the key that signed the token. */
export const kidOf = (token: string) => decodeProtectedHeader(token).kid;
