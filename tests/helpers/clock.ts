import type { Clock } from "../../src/core/ports.ts";

/** The one thing tests fake: time. */
export function createFakeClock(start = new Date("2026-11-26T12:00:00.000Z")) {
  let now = start.getTime();
  return {
    now: () => new Date(now),
    advance(ms: number) {
      now += ms;
    },
    set(date: Date) {
      now = date.getTime();
    },
  } satisfies Clock & Record<string, unknown>;
}

export type FakeClock = ReturnType<typeof createFakeClock>;
