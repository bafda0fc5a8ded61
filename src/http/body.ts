/**
 * Request bodies, read and parsed before Elysia sees them: at most
 * MAX_BODY_BYTES (however the body is sent), strict UTF-8, and JSON nested no
 * deeper than MAX_JSON_DEPTH — each checked in one linear pass, so no body a
 * client can send makes parsing or validation slow.
 */
import { AuthError } from "../core/errors.ts";
import { clipPath } from "./validation.ts";

/**
 * The deepest nesting of arrays and objects a body may have. Our deepest
 * schema is two levels; 32 leaves room for any honest client while keeping
 * validation (and the error report of a failed one) cheap: a 64 KiB body
 * nested 32,000 deep used to overflow the stack of the error formatter.
 */
export const MAX_JSON_DEPTH = 32;

const tooLarge = (limit: number) =>
  new AuthError("payload_too_large", `the request body is larger than ${limit} bytes`);

const malformed = (detail: string) => new AuthError("malformed_body", detail);

/** Reads at most `limit` bytes of a body; more is a 413, however it is sent. */
export async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limit) throw tooLarge(limit);
  if (!request.body) return new Uint8Array(0);
  // A declared length frames the body (the server reads no more than it), so
  // it can be read in one piece; a chunked body is counted as it streams.
  if (
    request.headers.has("content-length") &&
    !request.headers.has("transfer-encoding")
  ) {
    const bytes = new Uint8Array(await request.arrayBuffer());
    if (bytes.byteLength > limit) throw tooLarge(limit);
    return bytes;
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body) {
    size += chunk.byteLength;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Decodes UTF-8, refusing invalid bytes: replacing them with U+FFFD would
 * make two different passwords (or emails) one.
 */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw malformed("the body is not valid UTF-8");
  }
}

/**
 * Throws when arrays and objects nest deeper than `max`. One pass over the
 * text, tracking strings and escapes so that brackets inside strings do not
 * count; whether the JSON is otherwise valid is JSON.parse's job.
 */
export function assertJsonDepth(text: string, max = MAX_JSON_DEPTH): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > max)
        throw malformed(`the JSON is nested deeper than ${max} levels`);
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
      depth--;
    }
  }
}

/**
 * Strict JSON: valid UTF-8, bounded nesting, then JSON.parse. `validated`:
 * the route checks the body against a schema, so a member named `toString`
 * is refused (below); a route that takes no body ignores whatever is sent.
 */
export function parseJsonBody(bytes: Uint8Array, validated: boolean): unknown {
  const text = decodeUtf8(bytes);
  assertJsonDepth(text);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw malformed("the body is not valid JSON");
  }
  // Only a body that spells the name (or escapes a character) can hold it.
  if (validated && (text.includes("toString") || text.includes("\\u")))
    refuseToStringMember(value);
  return value;
}

/**
 * Refuses (422) a body with a member named `toString` in any object. No field
 * of the contract has that name, so such a body fails every body schema;
 * and Elysia's validation report (elysia 1.4, `mapValueError`) interpolates
 * the value it rejects into a string, which an object whose own `toString` is
 * not a function makes throw: `{"email":{"toString":null}}` was a 500, not a
 * 422. tests/http/fuzz.test.ts found it; tests/http/hostile-input.test.ts
 * sends it.
 */
function refuseToStringMember(value: unknown, path = ""): void {
  if (typeof value !== "object" || value === null) return;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) refuseToStringMember(item, `${path}/${i}`);
    return;
  }
  for (const [key, member] of Object.entries(value)) {
    const at = `${path}/${key.replaceAll("~", "~0").replaceAll("/", "~1")}`;
    if (key === "toString") {
      throw new AuthError("validation_failed", "the request is not valid", [
        { path: clipPath(at), message: "is not a field of this request" },
      ]);
    }
    refuseToStringMember(member, at);
  }
}
