// Canonical bytes for everything the stream layer signs: RFC 8785 JSON Canonicalization Scheme (JCS).
//
// Choice: RFC 8785 canonical JSON (not deterministic protobuf) because manifests, delegations and announces are served
// as JSON to browsers, which can re-derive the exact signed bytes from the parsed document without a schema.
// JCS: object keys sorted by UTF-16 code units, no whitespace, strings escaped as ECMAScript JSON.stringify does,
// numbers in ECMAScript Number-to-string form. This module accepts only the subset the stream layer uses - objects,
// arrays, strings, booleans, null and finite numbers (we only sign safe integers) - and rejects anything else
// (undefined, NaN, Infinity, functions, non-plain objects), so two parties can never disagree on the bytes.
// Signed messages are domain-separated: utf8("slowdrip/v1/" + TYPE + "\n") || JCS(body). See signing.ts.
// Browser-safe: no Node-only APIs.

/** A JSON value that can be canonicalized. */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Thrown when a value has no canonical form. */
export class CanonicalError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path || "value"}: ${message}`);
    this.name = "CanonicalError";
    this.path = path;
  }
}

const MAX_DEPTH = 32;

function ser(v: unknown, path: string, depth: number, out: string[]): void {
  if (depth > MAX_DEPTH) throw new CanonicalError(path, `nested deeper than ${MAX_DEPTH}`);
  if (v === null) {
    out.push("null");
  } else if (typeof v === "boolean") {
    out.push(v ? "true" : "false");
  } else if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new CanonicalError(path, "number is not finite");
    // ECMAScript Number.prototype.toString is exactly RFC 8785's number serialization; -0 becomes "0".
    out.push(Object.is(v, -0) ? "0" : String(v));
  } else if (typeof v === "string") {
    out.push(JSON.stringify(v));
  } else if (Array.isArray(v)) {
    out.push("[");
    v.forEach((x, i) => {
      if (i > 0) out.push(",");
      ser(x, `${path}[${i}]`, depth + 1, out);
    });
    out.push("]");
  } else if (typeof v === "object" && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null)) {
    const o = v as Record<string, unknown>;
    // Default sort compares UTF-16 code units, as RFC 8785 requires.
    const keys = Object.keys(o).sort();
    out.push("{");
    let first = true;
    for (const k of keys) {
      if (o[k] === undefined) throw new CanonicalError(`${path}.${k}`, "undefined has no JSON form");
      if (!first) out.push(",");
      first = false;
      out.push(JSON.stringify(k), ":");
      ser(o[k], `${path}.${k}`, depth + 1, out);
    }
    out.push("}");
  } else {
    throw new CanonicalError(path, `${typeof v} has no canonical JSON form`);
  }
}

/** RFC 8785 canonical JSON text of `value`. */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  ser(value, "", 0, out);
  return out.join("");
}

/** RFC 8785 canonical JSON as UTF-8 bytes. */
export function canonicalBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalJson(value));
}
