/**
 * Issue 7, point 7: tokens only a key holder could mint, refused anyway —
 * non-canonical base64url in any segment, exp/iat/nbf that are not sane
 * integer times, and high-S ES256 signatures. Every refused token here is
 * signed with the daemon's real current key, and every refusal is paired with
 * a control built the same way that is accepted, so a 401 proves the check.
 */
import { describe, expect, test } from "bun:test";
import { jwtVerify } from "jose";
import { DIALECTS } from "../helpers/databases.ts";
import { registerUser, type TestApp, useTestApp } from "../helpers/harness.ts";
import { claimsOf, expectRejectedToken, headerOf, me } from "../helpers/http.ts";

const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

const b64 = (text: string) => Buffer.from(text).toString("base64url");

const sOf = (sig: Buffer) => BigInt(`0x${sig.subarray(32).toString("hex")}`);
const withS = (sig: Buffer, s: bigint) =>
  Buffer.concat([
    sig.subarray(0, 32),
    Buffer.from(s.toString(16).padStart(64, "0"), "hex"),
  ]);

/** Signs `h.p` exactly as given with the daemon's current private key (low-S for ES256). */
async function signRaw(app: TestApp, h: string, p: string): Promise<string> {
  const signing = app.container.keyring.state().signing;
  if (!signing) throw new Error("no signing key");
  const params =
    signing.alg === "ES256" ? { name: "ECDSA", hash: "SHA-256" } : { name: "Ed25519" };
  const input = new TextEncoder().encode(`${h}.${p}`);
  let sig = Buffer.from(await crypto.subtle.sign(params, signing.privateKey, input));
  if (signing.alg === "ES256" && sOf(sig) > P256_N / 2n)
    sig = withS(sig, P256_N - sOf(sig));
  return `${h}.${p}.${sig.toString("base64url")}`;
}

/** The same bytes, spelled with a stray bit in the last character's unused bits. */
function strayBits(segment: string): string {
  const last = segment.at(-1) ?? "A";
  return `${segment.slice(0, -1)}${ALPHABET[ALPHABET.indexOf(last) + 1]}`;
}

/** A JSON text whose base64url has unused bits, a `-` or `_`, and needs padding. */
function awkwardJson(base: Record<string, unknown>): string {
  for (let i = 0; ; i++) {
    const json = JSON.stringify({ ...base, pad: "~".repeat(i) });
    const seg = b64(json);
    if (Buffer.byteLength(json) % 3 === 1 && /[-_]/.test(seg)) return json;
  }
}

for (const dialect of DIALECTS) {
  for (const alg of ["EdDSA", "ES256"]) {
    describe(`canonical tokens only [${dialect}, ${alg}]`, () => {
      const app = useTestApp(dialect, { SIGNING_ALG: alg });
      const accepted = async (token: string) =>
        expect({ token, status: (await me(app, token)).status }).toEqual({
          token,
          status: 200,
        });
      const rejected = async (token: string) =>
        expectRejectedToken(await me(app, token));

      test("padding, the +/ alphabet or stray bits in any segment are refused", async () => {
        const user = await registerUser(app);
        const header = awkwardJson(headerOf(user.access_token));
        const payload = awkwardJson({ ...claimsOf(user.access_token) });
        const [h, p] = [b64(header), b64(payload)];
        const control = await signRaw(app, h, p);
        await accepted(control);
        const variants = (seg: string) => [
          `${seg}==`,
          seg.replaceAll("-", "+").replaceAll("_", "/"),
          strayBits(seg),
        ];
        // Each variant decodes to the same bytes; only its spelling differs.
        for (const v of variants(p)) {
          expect(Buffer.from(v, "base64").toString()).toBe(payload);
          await rejected(await signRaw(app, h, v));
        }
        for (const v of variants(h)) await rejected(await signRaw(app, v, p));
        const [, , sig = ""] = control.split(".");
        await rejected(`${h}.${p}.${sig}=`);
        await rejected(`${h}.${p}.${strayBits(sig)}`);
        await accepted(`${h}.${p}.${sig}`);
      });

      test("exp, iat and nbf must be integer seconds in a sane range", async () => {
        const user = await registerUser(app);
        const h = b64(JSON.stringify(headerOf(user.access_token)));
        const now = Math.floor(app.clock.now().getTime() / 1000);
        const claims = { ...claimsOf(user.access_token), iat: now, exp: now + 900 };
        /** The claims with one member's JSON text replaced verbatim (1e400 is not JS). */
        const tokenWith = (claim: string, text: string) =>
          signRaw(
            app,
            h,
            b64(JSON.stringify({ ...claims, [claim]: "@" }).replace('"@"', text)),
          );
        await accepted(await tokenWith("nbf", String(now)));
        await accepted(await tokenWith("exp", String(now + 86_400)));
        const refused: [string, string][] = [
          ["exp", "1e400"],
          ["exp", "9007199254740993"],
          ["exp", String(now + 11 * 365 * 86_400)],
          ["exp", `${now + 900}.5`],
          ["exp", `${now - 1}`],
          ["iat", "0"],
          ["iat", "-5"],
          ["iat", `${now}.25`],
          ["nbf", "-1e400"],
          ["nbf", "0"],
          ["nbf", "1.5"],
        ];
        for (const [claim, text] of refused)
          await rejected(await tokenWith(claim, text));
      });
    });
  }

  describe(`ES256 signatures are low-S [${dialect}]`, () => {
    const app = useTestApp(dialect, { SIGNING_ALG: "ES256" });

    test("every token the daemon issues has s ≤ n/2", async () => {
      const user = await registerUser(app);
      expect(headerOf(user.access_token).alg).toBe("ES256");
      for (let i = 0; i < 32; i++) {
        const token = await app.container.signer.sign({
          sub: "u",
          sid: "s",
          roles: [],
        });
        const sig = Buffer.from(token.split(".")[2] ?? "", "base64url");
        expect(sig.length).toBe(64);
        expect(sOf(sig) <= P256_N / 2n).toBe(true);
      }
    });

    test("the high-S twin of a valid token verifies in jose but is refused here", async () => {
      const user = await registerUser(app);
      const [h, p, s = ""] = user.access_token.split(".");
      const sig = Buffer.from(s, "base64url");
      const high = `${h}.${p}.${withS(sig, P256_N - sOf(sig)).toString("base64url")}`;
      const kid = String(headerOf(user.access_token).kid);
      const key = app.container.keyring.state().verifying.get(kid)?.publicKey;
      if (!key) throw new Error("no public key");
      // The malleated signature is mathematically valid…
      await jwtVerify(high, key, { currentDate: app.clock.now() });
      // …and still not ours.
      await expectRejectedToken(await me(app, high));
      expect((await me(app, user.access_token)).status).toBe(200);
    });
  });
}
