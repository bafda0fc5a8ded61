/**
 * The key that seals signing keys at rest. From KEY_ENCRYPTION_KEY when set;
 * on SQLite without it, a random key in a 0600 file beside the database (made
 * on first start), so the laptop default needs no setup and the database file
 * alone does not reveal the private keys.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { StartupError } from "./startup-error.ts";

const keyFile = (sqlitePath: string) => join(dirname(sqlitePath), "key-encryption.key");

/** Where the key comes from, in the words an error message to the operator needs. */
export function keyEncryptionKeySource(setting: string, sqlitePath: string): string {
  if (setting || !sqlitePath || sqlitePath === ":memory:") return "KEY_ENCRYPTION_KEY";
  return `the key file ${keyFile(sqlitePath)} (KEY_ENCRYPTION_KEY is unset)`;
}

/**
 * @param options.create when false (authctl's commands other than `migrate
 *   up`), a missing key file is an error instead of being made: a command that
 *   only reads must not leave files behind.
 */
export function resolveKeyEncryptionKey(
  setting: string,
  sqlitePath: string,
  options: { create?: boolean } = {},
): Uint8Array {
  if (setting) return decode(setting, "KEY_ENCRYPTION_KEY");
  if (!sqlitePath || sqlitePath === ":memory:") return randomBytes(32);
  const file = keyFile(sqlitePath);
  if (!existsSync(file)) {
    if (options.create === false) {
      throw new StartupError(
        `KEY_ENCRYPTION_KEY is unset and the key file ${file} does not exist`,
      );
    }
    mkdirSync(dirname(file), { recursive: true });
    // "wx": never overwrite a key another process wrote a moment ago.
    try {
      writeFileSync(file, `${randomBytes(32).toString("base64")}\n`, {
        mode: 0o600,
        flag: "wx",
      });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
  chmodSync(file, 0o600);
  return decode(readFileSync(file, "utf8").trim(), file);
}

function decode(value: string, source: string): Uint8Array {
  const key = Buffer.from(
    value,
    value.includes("-") || value.includes("_") ? "base64url" : "base64",
  );
  if (key.length !== 32)
    throw new StartupError(`${source} must hold 32 bytes, base64-encoded`);
  return key;
}
