/**
 * Signing keys with jose: generation (private half sealed with the key
 * encryption key before it is stored) and the in-memory keyring every daemon
 * reloads from storage, so a rotation reaches all of them without a restart.
 */
import {
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
} from "jose";
import { seal, unseal } from "../core/crypto.ts";
import type { KeyFactory, SigningKeyRecord } from "../core/ports.ts";
import { StartupError } from "./startup-error.ts";

/** The key encryption key, or how to get it when it is first needed. */
export type KekSource = Uint8Array | (() => Uint8Array);

const keyOf = (kek: KekSource): Uint8Array => (typeof kek === "function" ? kek() : kek);

export function createKeyFactory(kek: KekSource): KeyFactory {
  return {
    async generate(alg, now) {
      const { publicKey, privateKey } = await generateKeyPair(alg, {
        extractable: true,
        crv: alg === "EdDSA" ? "Ed25519" : undefined,
      });
      const publicJwk = await exportJWK(publicKey);
      // RFC 7638 thumbprint: a stable kid that names the key material itself.
      const kid = await calculateJwkThumbprint(publicJwk);
      const privateJwk = await exportJWK(privateKey);
      return {
        kid,
        alg,
        state: "next",
        publicJwk: { ...publicJwk, kid, alg, use: "sig" },
        privateKeySealed: seal(keyOf(kek), JSON.stringify(privateJwk)),
        createdAt: now,
        activatedAt: null,
        retiredAt: null,
      };
    },
  };
}

interface LoadedKey {
  kid: string;
  alg: string;
  publicKey: CryptoKey;
}

export interface KeyringState {
  signing: { kid: string; alg: string; privateKey: CryptoKey } | null;
  verifying: ReadonlyMap<string, LoadedKey>;
  jwks: JWK[];
  loadedAt: number;
}

export interface Keyring {
  state(): KeyringState;
  /** Reloads the published keys from storage; keeps the old set on failure. */
  refresh(): Promise<void>;
  /** Refreshes for an unknown kid, at most once a second (an injected kid cannot hammer storage). */
  refreshForUnknownKid(): Promise<void>;
  start(intervalMs: number, onError: (err: unknown) => void): void;
  stop(): void;
}

/**
 * @param load returns the keys to publish (next, current, and retired keys still
 *   inside their retention window), as the core's key manager decides.
 * @param kekName names where the key encryption key came from, for the error
 *   that says it does not open the current key.
 */
export function createKeyring(
  load: () => Promise<SigningKeyRecord[]>,
  kek: KekSource,
  kekName = "KEY_ENCRYPTION_KEY",
): Keyring {
  let current: KeyringState = {
    signing: null,
    verifying: new Map(),
    jwks: [],
    loadedAt: 0,
  };
  let timer: ReturnType<typeof setInterval> | undefined;
  let lastUnknownRefresh = 0;
  let inFlight: Promise<void> | null = null;

  // AES-GCM only says "unable to authenticate data"; the operator needs to
  // know which setting is wrong (the usual cause: a new KEY_ENCRYPTION_KEY
  // against a database whose keys were sealed with another).
  function openPrivateKey(kid: string, sealed: string): string {
    const key = keyOf(kek);
    try {
      return unseal(key, sealed);
    } catch (cause) {
      throw new StartupError(
        `${kekName} does not decrypt the current signing key ${kid}: it is not the key the signing keys were sealed with`,
        { cause },
      );
    }
  }

  async function reload(): Promise<void> {
    const records = await load();
    const verifying = new Map<string, LoadedKey>();
    let signing: KeyringState["signing"] = null;
    for (const r of records) {
      const known = current.verifying.get(r.kid);
      const publicKey =
        known?.publicKey ?? ((await importJWK(r.publicJwk as JWK, r.alg)) as CryptoKey);
      verifying.set(r.kid, { kid: r.kid, alg: r.alg, publicKey });
      if (r.state === "current") {
        const privateKey =
          current.signing?.kid === r.kid
            ? current.signing.privateKey
            : ((await importJWK(
                JSON.parse(openPrivateKey(r.kid, r.privateKeySealed)),
                r.alg,
              )) as CryptoKey);
        signing = { kid: r.kid, alg: r.alg, privateKey };
      }
    }
    current = {
      signing,
      verifying,
      jwks: records.map((r) => r.publicJwk as JWK),
      loadedAt: Date.now(),
    };
  }

  const refresh = () => {
    inFlight ??= reload().finally(() => {
      inFlight = null;
    });
    return inFlight;
  };

  return {
    state: () => current,
    refresh,
    async refreshForUnknownKid() {
      if (Date.now() - lastUnknownRefresh < 1000) return;
      lastUnknownRefresh = Date.now();
      await refresh();
    },
    start(intervalMs, onError) {
      timer = setInterval(() => refresh().catch(onError), intervalMs);
      timer.unref?.();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
