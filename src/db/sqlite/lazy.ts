/**
 * Prepared statements, each prepared when it is first used: the tables exist
 * only after migrations, and a statement prepared early would keep a closed
 * connection answering (bun:sqlite closes lazily while statements live), so
 * each one is made no earlier than it is needed.
 */
export function lazily<T extends Record<string, () => unknown>>(
  factories: T,
): { readonly [K in keyof T]: ReturnType<T[K]> } {
  const made = new Map<keyof T, unknown>();
  const out = {} as { [K in keyof T]: ReturnType<T[K]> };
  for (const key of Object.keys(factories) as (keyof T)[]) {
    Object.defineProperty(out, key, {
      get() {
        if (!made.has(key)) made.set(key, factories[key]?.());
        return made.get(key);
      },
    });
  }
  return out;
}
