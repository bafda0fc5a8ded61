/**
 * Opaque page cursors: base64url of a small versioned JSON naming the list
 * and the last id of the page. Clients pass them back untouched; anything
 * else — edited, truncated, from the other list, from a future version — is
 * a 422 on `cursor`, never a silently different page.
 */
import { fieldError } from "../core/errors.ts";

export type CursorList = "users" | "audit";

const VERSION = 1;
const ID = /^[A-Za-z0-9_-]{1,64}$/;

export const encodeCursor = (list: CursorList, id: string): string =>
  Buffer.from(JSON.stringify({ v: VERSION, l: list, id })).toString("base64url");

export function decodeCursor(list: CursorList, cursor: string): string {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    value = null;
  }
  const c = value as { v?: unknown; l?: unknown; id?: unknown } | null;
  if (c?.v !== VERSION || c.l !== list || typeof c.id !== "string" || !ID.test(c.id)) {
    throw fieldError(
      "/query/cursor",
      "is not a cursor of this list; start again without one",
    );
  }
  return c.id;
}

/** The contract's paging: 50 when not given, and never more than 200. */
export const PAGE_DEFAULT = 50;
export const PAGE_MAX = 200;

export function pageLimit(requested: number | undefined): number {
  if (requested !== undefined && requested < 1)
    throw fieldError("/query/limit", "must be at least 1");
  return Math.min(requested ?? PAGE_DEFAULT, PAGE_MAX);
}
