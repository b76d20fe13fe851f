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

/** Keys and indices from the root to the value being written; joined into a path only when an error is thrown. */
type Trail = (string | number)[];

function fail(trail: Trail, message: string): never {
  const path = trail.map((k) => (typeof k === "number" ? `[${k}]` : `.${k}`)).join("");
  throw new CanonicalError(path, message);
}

function ser(v: unknown, trail: Trail): string {
  if (trail.length > MAX_DEPTH) fail(trail, `nested deeper than ${MAX_DEPTH}`);
  if (v === null) return "null";
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "number") {
    if (!Number.isFinite(v)) fail(trail, "number is not finite");
    // ECMAScript Number.prototype.toString is exactly RFC 8785's number serialization; -0 becomes "0".
    return Object.is(v, -0) ? "0" : String(v);
  }
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) {
    let out = "[";
    for (let i = 0; i < v.length; i++) {
      trail.push(i);
      out += (i > 0 ? "," : "") + ser(v[i], trail);
      trail.pop();
    }
    return out + "]";
  }
  if (typeof v === "object" && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null)) {
    const o = v as Record<string, unknown>;
    // Default sort compares UTF-16 code units, as RFC 8785 requires.
    const keys = Object.keys(o).sort();
    let out = "{";
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      trail.push(k);
      if (o[k] === undefined) fail(trail, "undefined has no JSON form");
      out += (i > 0 ? "," : "") + JSON.stringify(k) + ":" + ser(o[k], trail);
      trail.pop();
    }
    return out + "}";
  }
  return fail(trail, `${typeof v} has no canonical JSON form`);
}

/** RFC 8785 canonical JSON text of `value`. */
export function canonicalJson(value: unknown): string {
  return ser(value, []);
}

const utf8 = new TextEncoder();

/** RFC 8785 canonical JSON as UTF-8 bytes. */
export function canonicalBytes(value: unknown): Uint8Array {
  return utf8.encode(canonicalJson(value));
}
