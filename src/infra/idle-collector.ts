/**
 * A full garbage collection when the daemon goes quiet after a burst of work.
 *
 * Under load the JavaScript heap grows with the requests in flight, and the
 * collector that would shrink it comes when JavaScriptCore's timers decide:
 * after a burst the daemon held ~100 MB for anywhere between one and ten
 * seconds before falling back to ~85 MB (docs/performance.md, "Start-up and
 * memory, a third look"). So once a second the daemon looks: if it began
 * fewer than `quietBelow` requests since the last look (a load balancer's
 * health checks do not count as work), and its heap has grown by
 * `minGrowthBytes` since the last collection, it collects now, and the
 * allocators return the pages. A busy daemon is never interrupted, and a
 * quiet one collects once, not every second: the next look measures growth
 * from what that collection left.
 */
export interface IdleCollectorOptions {
  /** Fewer requests than this since the last look is quiet. */
  quietBelow: number;
  /** Bytes the heap must have grown since the last collection. */
  minGrowthBytes: number;
  /** The heap in use, in bytes. */
  heapUsed: () => number;
  /** A full, synchronous collection. */
  collect: () => void;
}

export interface IdleCollector {
  /** One request answered (or begun): the daemon is not idle. */
  noteRequest(): void;
  /** The once-a-second look; returns whether it collected. */
  check(): boolean;
}

/** The daemon's settings: a look a second; quiet below 10 requests in it; 8 MiB of growth. */
export const IDLE_GC = {
  intervalMs: 1000,
  quietBelow: 10,
  minGrowthBytes: 8 * 1024 * 1024,
} as const;

export function createIdleCollector(options: IdleCollectorOptions): IdleCollector {
  let requests = 0;
  let seen = 0;
  let afterLast = options.heapUsed();
  return {
    noteRequest() {
      requests++;
    },
    check() {
      const quiet = requests - seen < options.quietBelow;
      seen = requests;
      if (!quiet || options.heapUsed() - afterLast < options.minGrowthBytes)
        return false;
      options.collect();
      afterLast = options.heapUsed();
      return true;
    },
  };
}
