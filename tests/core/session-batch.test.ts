/**
 * core/sessions.ts `authenticate`: the session lookups of one turn of the
 * event loop are one store call (one query on PostgreSQL, one read
 * transaction on SQLite), each request keeps its own answer, and a logout is
 * seen by the very next lookup. Against the real container of each dialect.
 */
import { describe, expect, test } from "bun:test";
import type {
  AccessClaims,
  LiveSessionLookup,
  SessionStore,
  TokenSigner,
} from "../../src/core/ports.ts";
import { createSessions } from "../../src/core/sessions.ts";
import { DIALECTS } from "../helpers/databases.ts";
import { registerUser, useTestApp } from "../helpers/harness.ts";

for (const dialect of DIALECTS) {
  describe(`session lookups, one store call per turn [${dialect}]`, () => {
    const app = useTestApp(dialect);

    /**
     * The container's own core, with the store's batch calls written down.
     * The signature check is the real one, made ahead: its WebCrypto work
     * resolves on turns of its own, which would split one turn's requests
     * by chance; the batching under test starts after it.
     */
    async function countingSessions(tokens: string[]) {
      const { store, signer: realSigner, config } = app.container;
      const verified = new Map<string, AccessClaims>();
      for (const token of tokens) verified.set(token, await realSigner.verify(token));
      const signer: TokenSigner = {
        sign: (claims) => realSigner.sign(claims),
        verify: (token) => {
          const claims = verified.get(token);
          return claims ? Promise.resolve(claims) : realSigner.verify(token);
        },
      };
      const batches: LiveSessionLookup[][] = [];
      const sessions: SessionStore = Object.assign(Object.create(store), {
        findLiveSessions: (lookups: LiveSessionLookup[]) => {
          batches.push(lookups);
          return store.findLiveSessions(lookups);
        },
      });
      const core = createSessions({
        sessions,
        audit: store,
        signer,
        clock: app.clock,
        newId: () => crypto.randomUUID(),
        settings: {
          accessTokenTtl: config.ACCESS_TOKEN_TTL,
          refreshIdleTtl: config.REFRESH_TOKEN_IDLE_TTL,
          refreshAbsoluteTtl: config.REFRESH_TOKEN_ABSOLUTE_TTL,
          refreshReuseInterval: config.REFRESH_REUSE_INTERVAL,
        },
      });
      return { core, batches };
    }

    test("lookups made at once are one batch; each request gets its own principal", async () => {
      const a = await registerUser(app);
      const b = await registerUser(app);
      const { core, batches } = await countingSessions([
        a.access_token,
        b.access_token,
      ]);
      const principals = await Promise.all([
        core.authenticate(a.access_token),
        core.authenticate(b.access_token),
        core.authenticate(a.access_token),
      ]);
      expect(principals.map((p) => p.user.email)).toEqual([a.email, b.email, a.email]);
      expect(batches.map((batch) => batch.length)).toEqual([3]);
      // The next turn is a batch of its own.
      await core.authenticate(b.access_token);
      expect(batches.map((batch) => batch.length)).toEqual([3, 1]);
    });

    test("a logout is seen by the next lookup, and only its session fails in the batch", async () => {
      const a = await registerUser(app);
      const b = await registerUser(app);
      const { core } = await countingSessions([a.access_token, b.access_token]);
      const res = await app.request("POST", "/auth/logout", {
        json: { refresh_token: a.refresh_token },
      });
      expect(res.status).toBe(204);
      const outcomes = await Promise.allSettled([
        core.authenticate(a.access_token),
        core.authenticate(b.access_token),
      ]);
      expect(outcomes[0]).toMatchObject({
        status: "rejected",
        reason: { code: "invalid_token" },
      });
      expect(outcomes[1]).toMatchObject({ status: "fulfilled" });
    });
  });
}
