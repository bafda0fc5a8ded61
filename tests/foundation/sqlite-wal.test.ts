/**
 * src/db/connect.ts `useWal`: two processes converting one fresh SQLite file
 * to WAL at once deadlock on the exclusive lock, and SQLite answers one of
 * them SQLITE_BUSY at once, without the busy handler (a daemon of four
 * started together failed its start-up so). The conversion waits and looks
 * again within the busy timeout. The race itself is rare, so the answers of
 * SQLite are played here by a client that gives them in a fixed order; the
 * real file is opened by every daemon and CLI test.
 */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { useWal } from "../../src/db/connect.ts";

const busy = () =>
  Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" });

/** A client whose journal mode starts as `mode`; its first `fails` conversions are refused. */
function scriptedClient(mode: string, fails: number, failure = busy) {
  const calls: string[] = [];
  let current = mode;
  let refusals = fails;
  const client = {
    query: () => ({ get: () => ({ journal_mode: current }) }),
    exec(sql: string) {
      calls.push(sql);
      if (refusals > 0) {
        refusals--;
        // Meanwhile the other process finished its own conversion.
        if (refusals === 0) current = "wal";
        throw failure();
      }
      current = "wal";
    },
  };
  return { client: client as unknown as Database, calls };
}

describe("SQLite WAL on open", () => {
  test("a file already in WAL is left alone: no conversion, no lock", () => {
    const { client, calls } = scriptedClient("wal", 0);
    useWal(client, 1000);
    expect(calls).toEqual([]);
  });

  test("a conversion refused with SQLITE_BUSY looks again and finds the other process's WAL", () => {
    const { client, calls } = scriptedClient("delete", 2);
    useWal(client, 1000);
    expect(calls).toEqual(["PRAGMA journal_mode = WAL", "PRAGMA journal_mode = WAL"]);
  });

  test("busy past the timeout, or any other error, is thrown", () => {
    expect(() => useWal(scriptedClient("delete", 1_000_000).client, 30)).toThrow(
      "database is locked",
    );
    const other = () =>
      Object.assign(new Error("disk I/O error"), { code: "SQLITE_IOERR" });
    expect(() => useWal(scriptedClient("delete", 1, other).client, 1000)).toThrow(
      "disk I/O error",
    );
  });

  test("on a real file the mode is WAL, and a :memory: database keeps its own", () => {
    const dir = mkdtempSync(join(tmpdir(), "authd-wal-"));
    const file = new Database(join(dir, "auth.db"), { create: true });
    useWal(file, 1000);
    expect(
      file.query<{ journal_mode: string }, []>("PRAGMA journal_mode").get(),
    ).toEqual({
      journal_mode: "wal",
    });
    file.close();
    rmSync(dir, { recursive: true, force: true });
    const memory = new Database(":memory:");
    useWal(memory, 1000);
    expect(
      memory.query<{ journal_mode: string }, []>("PRAGMA journal_mode").get(),
    ).toEqual({
      journal_mode: "memory",
    });
  });
});
