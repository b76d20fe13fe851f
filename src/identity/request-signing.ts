// Signed requests: an Ed25519 signature over method, path, time, nonce and body hash, with a time window and a replay cache.
import { blake3 } from "../wasm/index.ts";
import { sign, verify } from "./ed25519.ts";
import { hex, unhex } from "./hex.ts";

/** Header names of a signed request. */
export const SIG_HEADERS = {
  node: "x-slowdrip-node",
  time: "x-slowdrip-time",
  nonce: "x-slowdrip-nonce",
  signature: "x-slowdrip-signature",
} as const;

/** Largest clock difference accepted, in milliseconds. */
export const SIGNATURE_WINDOW_MS = 60_000;

/** What a signature covers. `body` is the request body (HTTP) or the binary request message (unary RPC); empty otherwise. */
export interface SignedParts {
  method: string;
  path: string;
  body?: Uint8Array;
}

/** Why a signed request was refused. */
export class SignatureError extends Error {
  readonly reason: "missing" | "malformed" | "expired" | "replayed" | "bad-signature" | "busy";
  constructor(reason: SignatureError["reason"], message: string) {
    super(message);
    this.name = "SignatureError";
    this.reason = reason;
  }
}

const enc = new TextEncoder();
const EMPTY_HASH = hex(blake3(new Uint8Array(0)));

/** The exact bytes that are signed. */
export function signedBytes(parts: SignedParts, time: number, nonce: string): Uint8Array {
  const bodyHash = parts.body && parts.body.length > 0 ? hex(blake3(parts.body)) : EMPTY_HASH;
  return enc.encode(`slowdrip-req-v1\n${parts.method.toUpperCase()}\n${parts.path}\n${time}\n${nonce}\n${bodyHash}`);
}

/** Headers that sign a request with a node's secret key. */
export function signRequest(parts: SignedParts, secretKey: Uint8Array, publicKeyHex: string, now = Date.now()): Record<string, string> {
  const nonce = hex(crypto.getRandomValues(new Uint8Array(16)));
  const sig = sign(signedBytes(parts, now, nonce), secretKey);
  return { [SIG_HEADERS.node]: publicKeyHex, [SIG_HEADERS.time]: String(now), [SIG_HEADERS.nonce]: nonce, [SIG_HEADERS.signature]: hex(sig) };
}

/** Remembers nonces for twice the window so that a captured request cannot be replayed; bounded in size. */
export class NonceCache {
  readonly #seen = new Map<string, number>();
  readonly #max: number;
  constructor(maxEntries = 100_000) {
    this.#max = maxEntries;
  }
  /** Records a nonce; false when it was already seen within the window. */
  add(key: string, now: number): boolean {
    if (this.#seen.size >= this.#max) this.#expire(now);
    if (this.#seen.has(key)) return false;
    if (this.#seen.size >= this.#max) throw new SignatureError("busy", "too many signed requests in the replay window; retry shortly");
    this.#seen.set(key, now + 2 * SIGNATURE_WINDOW_MS);
    return true;
  }
  #expire(now: number): void {
    for (const [k, exp] of this.#seen) if (exp <= now) this.#seen.delete(k);
  }
  get size(): number {
    return this.#seen.size;
  }
}

/** Reads a header from a Headers object or a node header record. */
export type HeaderGetter = (name: string) => string | undefined;

/** True when the request carries any of the signature headers. */
export function hasSignature(get: HeaderGetter): boolean {
  return get(SIG_HEADERS.signature) !== undefined || get(SIG_HEADERS.node) !== undefined;
}

/**
 * Verifies a signed request and returns the signer's node id (hex public key).
 * Throws SignatureError naming what is wrong; a valid request's nonce is consumed.
 */
export function verifyRequest(get: HeaderGetter, parts: SignedParts, nonces: NonceCache, now = Date.now()): string {
  const node = get(SIG_HEADERS.node);
  const time = get(SIG_HEADERS.time);
  const nonce = get(SIG_HEADERS.nonce);
  const signature = get(SIG_HEADERS.signature);
  if (!node || !time || !nonce || !signature) {
    throw new SignatureError("missing", `a signed request needs the headers ${Object.values(SIG_HEADERS).join(", ")}`);
  }
  if (!/^[0-9a-f]{64}$/.test(node)) throw new SignatureError("malformed", `${SIG_HEADERS.node} must be 64 lowercase hex characters`);
  if (!/^\d{1,16}$/.test(time)) throw new SignatureError("malformed", `${SIG_HEADERS.time} must be Unix milliseconds`);
  if (!/^[0-9a-f]{16,64}$/.test(nonce)) throw new SignatureError("malformed", `${SIG_HEADERS.nonce} must be 16 to 64 lowercase hex characters`);
  if (!/^[0-9a-f]{128}$/.test(signature)) throw new SignatureError("malformed", `${SIG_HEADERS.signature} must be 128 lowercase hex characters`);
  const t = Number(time);
  if (Math.abs(now - t) > SIGNATURE_WINDOW_MS) {
    throw new SignatureError("expired", `request time is ${Math.round((t - now) / 1000)} s from this node's clock (allowed ±${SIGNATURE_WINDOW_MS / 1000} s)`);
  }
  if (!verify(unhex(signature), signedBytes(parts, t, nonce), unhex(node))) {
    throw new SignatureError("bad-signature", "the signature does not match the request and key");
  }
  if (!nonces.add(`${node}:${nonce}`, now)) throw new SignatureError("replayed", "this nonce was already used (replayed request)");
  return node;
}
