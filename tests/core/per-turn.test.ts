/**
 * core/per-turn.ts: the calls of one turn of the event loop reach `run`
 * together, each caller gets its own result, and a failure reaches them all;
 * with settledPerTurn, an outcome that is an error reaches its caller alone.
 */
import { describe, expect, test } from "bun:test";
import {
  batchPerTurn,
  type InFlightLimit,
  settle,
  settledPerTurn,
} from "../../src/core/per-turn.ts";

const nextTurn = () => new Promise((r) => setImmediate(r));

/** A promise that stays pending until `release` is called. */
function gate() {
  let release = () => {};
  const opened = new Promise<void>((r) => {
    release = r;
  });
  return { opened, release };
}

/** Calls `f` with each of `xs`, one a turn; its promises, in order. */
async function oneATurn<R>(f: (x: string) => Promise<R>, ...xs: string[]) {
  const calls: Promise<R>[] = [];
  for (const x of xs) {
    calls.push(f(x));
    await nextTurn();
  }
  return calls;
}

/** An echo whose first batch waits for `held`; `batches` is what each run got. */
function echoHeldBy(held: Promise<unknown>, limit?: InFlightLimit) {
  const batches: string[][] = [];
  const echo = batchPerTurn(
    async (xs: string[]) => {
      batches.push(xs);
      if (batches.length === 1) await held;
      return xs;
    },
    setImmediate,
    limit,
  );
  return { echo, batches };
}

describe("batchPerTurn", () => {
  test("one run per turn, in arrival order; the next turn is a new batch", async () => {
    const batches: number[][] = [];
    const double = batchPerTurn(async (xs: number[]) => {
      batches.push(xs);
      return xs.map((x) => x * 2);
    });
    expect(await Promise.all([double(1), double(2), double(3)])).toEqual([2, 4, 6]);
    expect(await double(4)).toBe(8);
    expect(batches).toEqual([[1, 2, 3], [4]]);
  });

  test("a call made while a batch runs waits for the next one", async () => {
    const { opened, release } = gate();
    const { echo, batches } = echoHeldBy(opened);
    const first = echo("a");
    await nextTurn();
    const second = echo("b");
    release();
    expect(await Promise.all([first, second])).toEqual(["a", "b"]);
    expect(batches).toEqual([["a"], ["b"]]);
  });

  test("one batch at a time: the calls made while a batch runs go together, once it is done", async () => {
    const { opened, release } = gate();
    const { echo, batches } = echoHeldBy(opened, { batches: 1, waitMs: 60_000 });
    const [a, b, c] = await oneATurn(echo, "a", "b", "c");
    expect(batches).toEqual([["a"]]);
    release();
    expect(await a).toBe("a");
    // Sent as the first batch finished, not a turn later.
    expect(batches).toEqual([["a"], ["b", "c"]]);
    expect(await Promise.all([b, c])).toEqual(["b", "c"]);
    // And the cap is free again for a call made later.
    expect(await echo("d")).toBe("d");
    expect(batches).toEqual([["a"], ["b", "c"], ["d"]]);
  });

  test("one batch at a time: a failed batch still hands on the calls that waited for it", async () => {
    let fail = true;
    const { opened, release } = gate();
    const flaky = batchPerTurn(
      async (xs: number[]) => {
        if (fail) {
          fail = false;
          await opened;
          throw new Error("down");
        }
        return xs;
      },
      setImmediate,
      { batches: 1, waitMs: 60_000 },
    );
    const first = flaky(1);
    await nextTurn();
    const second = flaky(2);
    release();
    expect(await Promise.allSettled([first, second])).toEqual([
      { status: "rejected", reason: new Error("down") },
      { status: "fulfilled", value: 2 },
    ]);
    expect(await flaky(3)).toBe(3);
  });

  test("two batches at a time (the session lookups' limit): a second goes out beside the first, later calls wait for one of them", async () => {
    const held = [gate(), gate()];
    const batches: string[][] = [];
    const echo = batchPerTurn(
      async (xs: string[]) => {
        const n = batches.push(xs);
        await held[n - 1]?.opened;
        return xs;
      },
      setImmediate,
      { batches: 2, waitMs: 60_000 },
    );
    const [a, b, c, d] = await oneATurn(echo, "a", "b", "c", "d");
    expect(batches).toEqual([["a"], ["b"]]);
    held[1]?.release();
    expect(await Promise.all([b, c, d])).toEqual(["b", "c", "d"]);
    expect(batches).toEqual([["a"], ["b"], ["c", "d"]]);
    held[0]?.release();
    expect(await a).toBe("a");
  });

  test("a batch out for longer than waitMs no longer holds the waiting calls back", async () => {
    const never = new Promise<never>(() => {});
    const { echo: stuck, batches } = echoHeldBy(never, { batches: 1, waitMs: 20 });
    void stuck("a");
    await nextTurn();
    const b = stuck("b");
    await nextTurn();
    expect(batches).toEqual([["a"]]);
    expect(await b).toBe("b");
    expect(batches).toEqual([["a"], ["b"]]);
  });

  test("a failed run rejects every caller of its turn, and only them", async () => {
    let fail = true;
    const flaky = batchPerTurn(async (xs: number[]) => {
      if (fail) throw new Error("down");
      return xs;
    });
    const outcomes = await Promise.allSettled([flaky(1), flaky(2)]);
    expect(outcomes.map((o) => o.status)).toEqual(["rejected", "rejected"]);
    fail = false;
    expect(await flaky(3)).toBe(3);
  });
});

describe("settledPerTurn", () => {
  test("each caller gets its own outcome: an error rejects its caller only", async () => {
    const batches: number[][] = [];
    const halve = settledPerTurn(async (xs: number[]) => {
      batches.push(xs);
      return Promise.all(
        xs.map((x) =>
          settle(
            x % 2 === 0
              ? Promise.resolve(x / 2)
              : Promise.reject(new Error(`odd ${x}`)),
          ),
        ),
      );
    });
    const outcomes = await Promise.allSettled([halve(2), halve(3), halve(8)]);
    expect(batches).toEqual([[2, 3, 8]]);
    expect(outcomes).toEqual([
      { status: "fulfilled", value: 1 },
      { status: "rejected", reason: new Error("odd 3") },
      { status: "fulfilled", value: 4 },
    ]);
  });
});
