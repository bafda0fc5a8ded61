/**
 * What the standard-client endpoints (RFC 7009 revocation, RFC 7662
 * introspection, OIDC userinfo, forward auth) add to the session core: a
 * token's state as one answer, and revocation of either kind of token. The
 * refresh grant itself is `Sessions.refresh`, the same rotation as
 * /auth/refresh.
 */
import { isAuthError } from "./errors.ts";
import type { Actor } from "./ports.ts";
import type { Principal, Sessions } from "./sessions.ts";

export interface OAuthDeps {
  sessions: Sessions;
  /** `iss` and `aud` of our access tokens (the verifier has checked both). */
  issuer: string;
  audience: string;
}

/** RFC 7662 §2.2: an active token and what a resource server may know of it. */
export interface Introspection {
  active: true;
  sub: string;
  sid: string;
  jti: string;
  exp: number;
  iat: number;
  iss: string;
  aud: string;
  /** The user's roles now (from the database, as every endpoint reads them). */
  roles: string[];
  token_type: "Bearer";
}

/**
 * Our access tokens are three dot-separated segments; refresh tokens are one
 * base64url string with no dot. So a token's kind is read from its shape,
 * and `token_type_hint` (RFC 7009 §2.1, RFC 7662 §2.1) is not needed.
 */
export const looksLikeAccessToken = (token: string): boolean =>
  token.split(".").length === 3;

export function createOAuth(deps: OAuthDeps) {
  const { sessions } = deps;

  /**
   * The principal of a live access token, or null when the token is invalid,
   * expired or its session has ended. Storage failures are not "inactive":
   * they propagate (503), so an outage never reads as a revoked token.
   */
  async function liveAccessToken(token: string): Promise<Principal | null> {
    if (!looksLikeAccessToken(token)) return null;
    try {
      return await sessions.authenticate(token);
    } catch (e) {
      if (isAuthError(e) && e.code === "invalid_token") return null;
      throw e;
    }
  }

  return {
    liveAccessToken,

    /**
     * RFC 7662: the state of an access token. Refresh tokens, and anything
     * that is not a live access token of a live session, are inactive: a
     * refresh token is the client's own secret, and no resource server
     * accepts one (docs/decisions.md).
     */
    async introspect(token: string): Promise<Introspection | { active: false }> {
      const p = await liveAccessToken(token);
      if (!p) return { active: false };
      return {
        active: true,
        sub: p.claims.sub,
        sid: p.claims.sid,
        jti: p.claims.jti,
        exp: p.claims.exp,
        iat: p.claims.iat,
        iss: deps.issuer,
        aud: deps.audience,
        roles: p.user.roles,
        token_type: "Bearer",
      };
    },

    /**
     * RFC 7009: ends the session of a refresh token, or of a live access
     * token (§2.1 lets a server revoke the grant behind an access token; our
     * access tokens cannot be revoked one by one, so the session ends and the
     * daemon's own endpoints refuse the token at once). An unknown, invalid or
     * already revoked token is not an error (§2.2).
     */
    async revoke(token: string, actor: Actor): Promise<void> {
      if (!looksLikeAccessToken(token)) {
        await sessions.logout(token, actor);
        return;
      }
      const p = await liveAccessToken(token);
      if (!p) return;
      try {
        await sessions.revoke(p, p.session.id, { ...actor, actorId: p.user.id });
      } catch (e) {
        // Ended by someone else between the check and the revocation: done.
        if (!(isAuthError(e) && e.code === "not_found")) throw e;
      }
    },
  };
}

export type OAuth = ReturnType<typeof createOAuth>;
