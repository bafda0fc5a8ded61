/**
 * A password engine behind a gate a test holds shut: the real Bun.password,
 * but every hash and verify waits while the gate is closed, so a test can
 * fill the hasher's slots and queue and wait for its counts, never for time.
 */
import type { PasswordEngine } from "../../src/infra/hasher.ts";

export function gatedEngine() {
  let open = true;
  const held: (() => void)[] = [];
  const gate = () =>
    open ? Promise.resolve() : new Promise<void>((resolve) => held.push(resolve));
  const engine: PasswordEngine = {
    hash: async (password, options) => {
      await gate();
      return Bun.password.hash(password, options);
    },
    verify: async (password, hash) => {
      await gate();
      return Bun.password.verify(password, hash);
    },
  };
  return {
    engine,
    close() {
      open = false;
    },
    release() {
      open = true;
      for (const resolve of held.splice(0)) resolve();
    },
    held: () => held.length,
  };
}
