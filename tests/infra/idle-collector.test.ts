/**
 * The idle collector's decision, look by look: it collects once when the
 * daemon turns quiet with a grown heap, never while it is busy, and not
 * again until the heap grows anew from what the collection left.
 */
import { describe, expect, test } from "bun:test";
import { createIdleCollector } from "../../src/infra/idle-collector.ts";

const MiB = 1024 * 1024;

function setUp() {
  let heap = 10 * MiB;
  const collections: number[] = [];
  const idle = createIdleCollector({
    quietBelow: 10,
    minGrowthBytes: 8 * MiB,
    heapUsed: () => heap,
    // A collection frees all but 12 MiB (what stays alive).
    collect: () => {
      collections.push(heap);
      heap = 12 * MiB;
    },
  });
  const requests = (n: number) => {
    for (let i = 0; i < n; i++) idle.noteRequest();
  };
  return {
    idle,
    requests,
    collections,
    grow: (bytes: number) => {
      heap += bytes;
    },
  };
}

describe("idle collector", () => {
  test("a burst then quiet: one collection, at the first quiet look", () => {
    const s = setUp();
    s.requests(5_000);
    s.grow(30 * MiB);
    expect(s.idle.check()).toBe(false); // busy: 5,000 requests since the last look
    s.requests(3); // a health check or two is quiet
    expect(s.idle.check()).toBe(true);
    expect(s.collections).toEqual([40 * MiB]);
    expect(s.idle.check()).toBe(false); // quiet, but nothing grew since
    expect(s.idle.check()).toBe(false);
    expect(s.collections).toHaveLength(1);
  });

  test("growth below the bound is left to the engine", () => {
    const s = setUp();
    s.grow(7 * MiB);
    expect(s.idle.check()).toBe(false);
    expect(s.collections).toEqual([]);
  });

  test("never while busy, however much the heap grew", () => {
    const s = setUp();
    for (let look = 0; look < 5; look++) {
      s.requests(10);
      s.grow(50 * MiB);
      expect(s.idle.check()).toBe(false);
    }
    expect(s.collections).toEqual([]);
  });

  test("growth is measured from what the last collection left", () => {
    const s = setUp();
    s.grow(20 * MiB);
    expect(s.idle.check()).toBe(true); // 30 MiB → 12 MiB alive
    s.grow(7 * MiB); // 19 MiB: 7 above what was left, 9 above the first heap
    expect(s.idle.check()).toBe(false);
    s.grow(2 * MiB);
    expect(s.idle.check()).toBe(true);
    expect(s.collections).toEqual([30 * MiB, 21 * MiB]);
  });
});
