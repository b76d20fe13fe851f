// Ed25519 signatures over domain-separated canonical bytes, and the small hex/hash helpers of the stream layer.
// Browser-safe: keys and signatures come from identity/ed25519.ts (node:crypto under Node, @noble/ed25519 in a
// browser: the same deterministic RFC 8032 signatures); verification stays @noble/ed25519 (ZIP-215 rules) everywhere,
// so a node and a viewer accept the same statements (identity/ed25519.ts gives @noble its SHA-512).
import * as ed from "@noble/ed25519";
import { publicKeyOf, sign } from "../identity/ed25519.ts";
import { canonicalBytes } from "./canonical.ts";

/** The statement types the stream layer signs; each gets its own domain prefix. */
export type SignedType = "STREAM_DELEGATION" | "MANIFEST_ROOT" | "STREAM_ANNOUNCE";

/** The exact bytes signed for a statement: utf8("slowdrip/v1/<TYPE>\n") || RFC 8785 JCS(body). */
export function signingBytes(type: SignedType, body: unknown): Uint8Array {
  const prefix = new TextEncoder().encode(`slowdrip/v1/${type}\n`);
  const b = canonicalBytes(body);
  const out = new Uint8Array(prefix.length + b.length);
  out.set(prefix, 0);
  out.set(b, prefix.length);
  return out;
}

const HEX = /^[0-9a-f]*$/;

/** Lowercase hex of bytes. */
export function hexOf(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

/** Bytes of lowercase hex of an exact length; RangeError otherwise. */
export function bytesOf(hex: string, len: number, what: string): Uint8Array {
  if (typeof hex !== "string" || hex.length !== len * 2 || !HEX.test(hex)) throw new RangeError(`${what} must be ${len * 2} lowercase hex chars`);
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** True for a 64-char lowercase hex string (a BLAKE3/SHA-256 digest or an Ed25519 public key). */
export function isHex32(s: unknown): s is string {
  return typeof s === "string" && s.length === 64 && HEX.test(s);
}

/** Public key (hex) of a 32-byte secret seed. */
export function publicKeyHex(secretKey: Uint8Array): string {
  return hexOf(publicKeyOf(secretKey));
}

/** Signs a statement; returns the signature as 128 hex chars. */
export function signStatement(type: SignedType, body: unknown, secretKey: Uint8Array): string {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) throw new TypeError("secretKey must be a 32-byte seed");
  return hexOf(sign(signingBytes(type, body), secretKey));
}

/** Verifies a statement's signature; false for any malformed key or signature. */
export function verifyStatement(type: SignedType, body: unknown, sigHex: string, publicKeyHex: string): boolean {
  try {
    return ed.verify(bytesOf(sigHex, 64, "signature"), signingBytes(type, body), bytesOf(publicKeyHex, 32, "public key"));
  } catch {
    return false;
  }
}
