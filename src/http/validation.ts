/**
 * Turns a failed schema validation into the `errors` of a 422: one entry per
 * field, worded for a client, and bounded — at most MAX_REPORTED_ERRORS
 * entries with paths of at most MAX_PATH_LENGTH characters — so a hostile
 * body cannot make the report itself expensive.
 */
import { type ValueError, ValueErrorType } from "@sinclair/typebox/errors";
import type { ValidationError } from "elysia";
import type { FieldError } from "../core/errors.ts";
import { SAFE_TEXT_PATTERN, UNSAFE_TEXT_MESSAGE } from "./models.ts";

/** More than this many failed fields are not worth reporting one by one. */
export const MAX_REPORTED_ERRORS = 20;
/** A JSON pointer longer than this is cut (a key can be most of a 64 KiB body). */
export const MAX_PATH_LENGTH = 200;

const jsonType = (v: unknown) =>
  v === null ? "null" : Array.isArray(v) ? "array" : typeof v;

/** The message for one TypeBox error, in the words a client needs. */
function describe(e: ValueError): string {
  switch (e.type) {
    case ValueErrorType.ObjectAdditionalProperties:
      return "is not a field of this request";
    case ValueErrorType.StringPattern:
      return e.schema.pattern === SAFE_TEXT_PATTERN ? UNSAFE_TEXT_MESSAGE : e.message;
    case ValueErrorType.Union: {
      // `name: string | null` sent as a bad string: say what is wrong with the
      // string, not "Expected union value".
      const variants = e.schema.anyOf as { type?: string }[];
      const index = variants.findIndex((v) => v.type === jsonType(e.value));
      const inner = index >= 0 ? e.errors[index]?.First() : undefined;
      if (inner) return describe(inner);
      return `must be ${variants.map((v) => v.type ?? "a value").join(" or ")}`;
    }
    default:
      return e.message;
  }
}

/** A JSON pointer as reported: at most MAX_PATH_LENGTH characters. */
export const clipPath = (path: string) =>
  path.length > MAX_PATH_LENGTH ? `${path.slice(0, MAX_PATH_LENGTH)}…` : path;

export function validationErrors(error: ValidationError): FieldError[] {
  const errors: FieldError[] = [];
  const seen = new Set<string>();
  // `all` is capped by Elysia (64) and computed lazily per error by TypeBox.
  for (const e of error.all as ValueError[]) {
    if (errors.length >= MAX_REPORTED_ERRORS) break;
    const raw = typeof e.path === "string" ? e.path : "";
    const path = clipPath(error.type === "body" ? raw || "/" : `/${error.type}${raw}`);
    // One message per field: TypeBox reports a missing property twice
    // ("Expected required property", then "Expected string"); the first says it.
    if (seen.has(path)) continue;
    seen.add(path);
    errors.push({ path, message: describe(e) });
  }
  return errors;
}
