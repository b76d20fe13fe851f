// Signed requests: Ed25519 over method, path, target node, time, nonce and body hash, with a time window and a replay guard.
import { Blake3Hasher, blake3 } from "../wasm/index.ts";
import { sign, verify } from "./ed25519.ts";
import { hex, unhex } from "./hex.ts";

/** Header names of a signed request. */
export const SIG_HEADERS = {
  node: "x-slowdrip-node",
  target: "x-slowdrip-target",
  time: "x-slowdrip-time",
  nonce: "x-slowdrip-nonce",
  signature: "x-slowdrip-signature",
  /** Streaming requests only: the BLAKE3 of the framed message stream (see StreamBodyHasher), declared up front. */
  body: "x-slowdrip-body",
} as const;

/** Largest clock difference accepted, in milliseconds. */
export const SIGNATURE_WINDOW_MS = 60_000;

/**
 * What a signature covers. `body` is the request body (HTTP) or the binary request message (unary and server-streaming
 * RPCs); `bodyHash` replaces it for client-streaming RPCs, whose receiver checks the stream against it as it arrives.
 */
export interface SignedParts {
  method: string;
  path: string;
  body?: Uint8Array;
  /** 64 lowercase hex: the declared BLAKE3 of a streamed body (StreamBodyHasher). */
  bodyHash?: string;
}

/** Why a signed request was refused. */
export class SignatureError extends Error {
  readonly reason: "missing" | "malformed" | "expired" | "wrong-target" | "replayed" | "bad-signature" | "busy" | "rate-limited" | "body-mismatch";
  constructor(reason: SignatureError["reason"], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SignatureError";
    this.reason = reason;
  }
}

const enc = new TextEncoder();
const HEX64 = /^[0-9a-f]{64}$/;
const EMPTY_HASH = hex(blake3(new Uint8Array(0)));

function bodyHashOf(parts: SignedParts): string {
  if (parts.bodyHash !== undefined) {
    if (!HEX64.test(parts.bodyHash)) throw new SignatureError("malformed", `${SIG_HEADERS.body} must be 64 lowercase hex characters`);
    return parts.bodyHash;
  }
  return parts.body && parts.body.length > 0 ? hex(blake3(parts.body)) : EMPTY_HASH;
}

/**
 * The exact bytes that are signed: a version line, the method, the path, the target node id (so a signature made for
 * node A is refused by node B), the time in Unix ms, the nonce and the body hash, separated by newlines.
 */
export function signedBytes(parts: SignedParts, target: string, time: number, nonce: string): Uint8Array {
  return enc.encode(`slowdrip-req-v2\n${parts.method.toUpperCase()}\n${parts.path}\n${target}\n${time}\n${nonce}\n${bodyHashOf(parts)}`);
}

/** Headers that sign a request for the node `target` (its hex node id) with a node's secret key. */
export function signRequest(parts: SignedParts, secretKey: Uint8Array, publicKeyHex: string, target: string, now = Date.now()): Record<string, string> {
  if (!HEX64.test(target)) throw new RangeError("the target of a signed request must be a node id (64 lowercase hex characters)");
  const nonce = hex(crypto.getRandomValues(new Uint8Array(16)));
  const sig = sign(signedBytes(parts, target, now, nonce), secretKey);
  const headers: Record<string, string> = {
    [SIG_HEADERS.node]: publicKeyHex,
    [SIG_HEADERS.target]: target,
    [SIG_HEADERS.time]: String(now),
    [SIG_HEADERS.nonce]: nonce,
    [SIG_HEADERS.signature]: hex(sig),
  };
  if (parts.bodyHash !== undefined) headers[SIG_HEADERS.body] = parts.bodyHash;
  return headers;
}

/**
 * Running BLAKE3 over a stream of messages, each framed as a 4-byte big-endian length followed by its bytes, so that
 * message boundaries are covered too. Signers declare `digestHex()` in `x-slowdrip-body`; receivers recompute it.
 */
export class StreamBodyHasher {
  readonly #h = new Blake3Hasher();
  #bytes = 0;
  #messages = 0;
  /** Adds one message. */
  update(message: Uint8Array): this {
    return this.updateParts([message]);
  }
  /** Adds one message given as the parts that, concatenated, make it up (hashed as they are, never joined). */
  updateParts(parts: readonly Uint8Array[]): this {
    let n = 0;
    for (const p of parts) n += p.byteLength;
    this.begin(n);
    for (const p of parts) this.more(p);
    return this;
  }
  /** Starts a message of `length` bytes, which follow in `more` calls (a receiver hashing frames as they arrive). */
  begin(length: number): this {
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, length);
    this.#h.update(len);
    this.#messages++;
    return this;
  }
  /** The next bytes of the message begun last. */
  more(part: Uint8Array): this {
    this.#h.update(part);
    this.#bytes += part.byteLength;
    return this;
  }
  get bytes(): number {
    return this.#bytes;
  }
  get messages(): number {
    return this.#messages;
  }
  /** The hash of everything added so far, as 64 lowercase hex. */
  digestHex(): string {
    return hex(this.#h.digest());
  }
}

/** Limits of the replay guard. */
export interface NonceCacheOptions {
  /** Most remembered nonces of ordinary signers, in total. */
  maxEntries?: number;
  /** Most remembered nonces of one signer (ordinary or privileged) within the replay window. */
  perKey?: number;
  /** Most remembered nonces from one network address within the replay window. */
  perAddress?: number;
  /** Most remembered nonces of privileged signers (operators, free peers, cluster members), kept apart. */
  privilegedEntries?: number;
  /** Signature checks one address may start per second (token bucket; twice this as burst). */
  attemptsPerSecond?: number;
}

interface Entry {
  expires: number;
  key: string;
  address: string;
}

/** One pool of nonces in expiry order: a Map keeps insertion order and every entry lives the same time. */
class NoncePool {
  readonly entries = new Map<string, Entry>();
  constructor(readonly max: number) {}
}

/**
 * The replay guard. It remembers every accepted nonce for twice the signature window so that a captured request cannot
 * be replayed, and bounds what any one signer or address can make it hold: per-key and per-address quotas, a separate
 * pool for privileged signers (so that a flood of self-made keys cannot lock out the operator or trusted peers), and a
 * per-address rate of signature checks, all checked before the Ed25519 verification. Expiry is O(1) per entry.
 */
export class NonceCache {
  readonly #ordinary: NoncePool;
  readonly #privileged: NoncePool;
  readonly #perKey: number;
  readonly #perAddress: number;
  readonly #keyCount = new Map<string, number>();
  readonly #addressCount = new Map<string, number>();
  readonly #rate: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #privilegedBy: Array<(nodeId: string) => boolean> = [];

  /** `maxEntries` may be given alone (the old signature), or all options. */
  constructor(opts: NonceCacheOptions | number = {}) {
    const o: NonceCacheOptions = typeof opts === "number" ? { maxEntries: opts } : opts;
    this.#ordinary = new NoncePool(o.maxEntries ?? 100_000);
    this.#privileged = new NoncePool(o.privilegedEntries ?? 50_000);
    this.#perKey = o.perKey ?? 10_000;
    this.#perAddress = o.perAddress ?? 20_000;
    this.#rate = o.attemptsPerSecond ?? 500;
  }

  /** Adds a rule saying which node ids are privileged (operator keys, free peers, cluster members). */
  addPrivileged(rule: (nodeId: string) => boolean): void {
    this.#privilegedBy.push(rule);
  }

  /** True when a rule names the node id as privileged. */
  isPrivileged(nodeId: string): boolean {
    return this.#privilegedBy.some((r) => r(nodeId));
  }

  #pool(nodeId: string): NoncePool {
    return this.isPrivileged(nodeId) ? this.#privileged : this.#ordinary;
  }

  #expire(pool: NoncePool, now: number): void {
    for (const [id, e] of pool.entries) {
      if (e.expires > now) break;
      pool.entries.delete(id);
      this.#dec(this.#keyCount, e.key);
      this.#dec(this.#addressCount, e.address);
    }
  }

  #dec(m: Map<string, number>, k: string): void {
    const n = (m.get(k) ?? 1) - 1;
    if (n <= 0) m.delete(k);
    else m.set(k, n);
  }

  /**
   * True when either pool remembers the nonce: a signer can become privileged (a new cluster member) between two
   * requests, and a nonce it used before must still count as used.
   */
  #seen(id: string, now: number): boolean {
    this.#expire(this.#ordinary, now);
    this.#expire(this.#privileged, now);
    return this.#ordinary.entries.has(id) || this.#privileged.entries.has(id);
  }

  /** Spends one signature-check token of `address`; throws rate-limited when it has none left. */
  #spendAttempt(address: string, now: number): void {
    let b = this.#buckets.get(address);
    if (!b) {
      // The bucket table is bounded: drop the oldest address when full (Map order is insertion order).
      if (this.#buckets.size >= 65_536) this.#buckets.delete(this.#buckets.keys().next().value!);
      b = { tokens: 2 * this.#rate, at: now };
      this.#buckets.set(address, b);
    }
    b.tokens = Math.min(2 * this.#rate, b.tokens + ((now - b.at) / 1000) * this.#rate);
    b.at = now;
    if (b.tokens < 1) throw new SignatureError("rate-limited", `too many signed requests from ${address}; slow down`);
    b.tokens -= 1;
  }

  /**
   * The cheap checks, before the signature is verified: the address's rate, a replayed nonce, and whether the nonce
   * would fit the signer's, the address's and the pool's quotas. Throws SignatureError.
   */
  precheck(nodeId: string, nonce: string, address: string, now: number): void {
    this.#spendAttempt(address, now);
    const pool = this.#pool(nodeId);
    this.#expire(pool, now);
    if (this.#seen(`${nodeId}:${nonce}`, now)) throw new SignatureError("replayed", "this nonce was already used (replayed request)");
    if ((this.#keyCount.get(nodeId) ?? 0) >= this.#perKey) throw new SignatureError("busy", `too many signed requests from node ${nodeId.slice(0, 16)}… in the replay window; retry shortly`);
    if (pool === this.#ordinary && (this.#addressCount.get(address) ?? 0) >= this.#perAddress) {
      throw new SignatureError("busy", `too many signed requests from ${address} in the replay window; retry shortly`);
    }
    if (pool.entries.size >= pool.max) throw new SignatureError("busy", "too many signed requests in the replay window; retry shortly");
  }

  /** Records a nonce of a verified request; false when it was already seen within the window. */
  add(nodeId: string, nonce: string, address: string, now: number): boolean {
    const pool = this.#pool(nodeId);
    this.#expire(pool, now);
    const id = `${nodeId}:${nonce}`;
    if (this.#seen(id, now)) return false;
    if (pool.entries.size >= pool.max) throw new SignatureError("busy", "too many signed requests in the replay window; retry shortly");
    pool.entries.set(id, { expires: now + 2 * SIGNATURE_WINDOW_MS, key: nodeId, address });
    this.#keyCount.set(nodeId, (this.#keyCount.get(nodeId) ?? 0) + 1);
    this.#addressCount.set(address, (this.#addressCount.get(address) ?? 0) + 1);
    return true;
  }

  /** Remembered nonces, both pools. */
  get size(): number {
    return this.#ordinary.entries.size + this.#privileged.entries.size;
  }
}

/** Reads a header from a Headers object or a node header record. */
export type HeaderGetter = (name: string) => string | undefined;

/** True when the request carries any of the signature headers. */
export function hasSignature(get: HeaderGetter): boolean {
  return get(SIG_HEADERS.signature) !== undefined || get(SIG_HEADERS.node) !== undefined;
}

/** Where a signed request arrived. */
export interface VerifyContext {
  /** This node's id: the signature must name it as the target. */
  self: string;
  /** The caller's network address (per-address limits); "unknown" when not known. */
  address?: string;
  now?: number;
}

/**
 * Verifies a signed request and returns the signer's node id (hex public key).
 * Throws SignatureError naming what is wrong; a valid request's nonce is consumed. The cheap checks (shape, clock,
 * target, rate and quotas, replay) all run before the Ed25519 verification.
 */
export function verifyRequest(get: HeaderGetter, parts: SignedParts, nonces: NonceCache, ctx: VerifyContext): string {
  const now = ctx.now ?? Date.now();
  const address = ctx.address ?? "unknown";
  const node = get(SIG_HEADERS.node);
  const target = get(SIG_HEADERS.target);
  const time = get(SIG_HEADERS.time);
  const nonce = get(SIG_HEADERS.nonce);
  const signature = get(SIG_HEADERS.signature);
  if (!node || !target || !time || !nonce || !signature) {
    const needed = [SIG_HEADERS.node, SIG_HEADERS.target, SIG_HEADERS.time, SIG_HEADERS.nonce, SIG_HEADERS.signature];
    throw new SignatureError("missing", `a signed request needs the headers ${needed.join(", ")}`);
  }
  if (!HEX64.test(node)) throw new SignatureError("malformed", `${SIG_HEADERS.node} must be 64 lowercase hex characters`);
  if (!HEX64.test(target)) throw new SignatureError("malformed", `${SIG_HEADERS.target} must be 64 lowercase hex characters`);
  if (!/^\d{1,16}$/.test(time)) throw new SignatureError("malformed", `${SIG_HEADERS.time} must be Unix milliseconds`);
  if (!/^[0-9a-f]{16,64}$/.test(nonce)) throw new SignatureError("malformed", `${SIG_HEADERS.nonce} must be 16 to 64 lowercase hex characters`);
  if (!/^[0-9a-f]{128}$/.test(signature)) throw new SignatureError("malformed", `${SIG_HEADERS.signature} must be 128 lowercase hex characters`);
  const t = Number(time);
  if (Math.abs(now - t) > SIGNATURE_WINDOW_MS) {
    throw new SignatureError("expired", `request time is ${Math.round((t - now) / 1000)} s from this node's clock (allowed ±${SIGNATURE_WINDOW_MS / 1000} s)`);
  }
  if (target !== ctx.self) throw new SignatureError("wrong-target", `the request was signed for node ${target}; this is node ${ctx.self}`);
  nonces.precheck(node, nonce, address, now);
  if (!verify(unhex(signature), signedBytes(parts, target, t, nonce), unhex(node))) {
    throw new SignatureError("bad-signature", "the signature does not match the request and key");
  }
  if (!nonces.add(node, nonce, address, now)) throw new SignatureError("replayed", "this nonce was already used (replayed request)");
  return node;
}
