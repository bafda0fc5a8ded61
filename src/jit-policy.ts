/**
 * Imported first by src/main.ts, so that it runs before any module after it
 * is evaluated. A start runs much of its code once: module bodies, TypeBox
 * building the route schemas, Elysia registering routes, the container. The
 * JIT compiling that code on a 2-core machine is work for code that will not
 * run again, so JavaScriptCore's tier-up thresholds are scaled up until the
 * daemon listens, when src/main.ts calls `endStartupJitPolicy`. Start to
 * /readyz from source: ~40 ms less (docs/performance.md, "Start-up and memory,
 * a third look").
 */
const STARTUP_JIT_SCALE = 20;

Bun.unsafe.setJITPolicy(STARTUP_JIT_SCALE);

/** Start-up's run-once code is behind us: the JIT compiles what is hot as usual. */
export function endStartupJitPolicy(): void {
  Bun.unsafe.setJITPolicy(1);
}
