// ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381, suite 0x03) on @noble/curves: prove, verify, proof-to-hash.
//
// Notation follows RFC 9381 section 5: secret seed SK (32 bytes, the same seed as an Ed25519 key), secret scalar x,
// public key Y = x*B (the Ed25519 public key of SK), input alpha, proof pi = Gamma || c || s (80 bytes), output beta
// (64 bytes). encode_to_curve is try-and-increment with the public key as salt; nonces follow RFC 8032; the challenge
// hashes Y, H, Gamma, U, V. Public keys are validated (small-order keys are refused), point decoding is strict
// RFC 8032 (non-canonical y refused), and s must be below the group order. Failures are VrfError with a reason.
import { ed25519 } from "@noble/curves/ed25519.js";
import { mulAddUnsafe, normalizeZ } from "@noble/curves/abstract/curve.js";
import { sha512 } from "@noble/hashes/sha2.js";

const Point = ed25519.Point;
type EdPoint = InstanceType<typeof Point>;
const B = Point.BASE;
/** Prime order q of the base point's subgroup. */
const Q = Point.Fn.ORDER;

/** suite_string of ECVRF-EDWARDS25519-SHA512-TAI. */
export const SUITE = 0x03;
/** Bytes of a proof (ptLen + cLen + qLen), of an output, of keys. */
export const PROOF_LEN = 80;
export const OUTPUT_LEN = 64;
export const KEY_LEN = 32;
const C_LEN = 16;

/** Why a VRF operation failed; `reason` is stable for callers and the CLI. */
export type VrfFailure =
  | "bad-key-length"
  | "bad-key-encoding"
  | "small-order-key"
  | "bad-proof-length"
  | "bad-gamma-encoding"
  | "s-out-of-range"
  | "challenge-mismatch"
  | "bad-secret"
  | "encode-to-curve-failed";

/** A VRF proof or key was refused; `reason` names the check that failed. */
export class VrfError extends Error {
  readonly reason: VrfFailure;
  constructor(reason: VrfFailure, message: string, options?: { cause?: unknown }) {
    super(`${reason}: ${message}`, options);
    this.name = "VrfError";
    this.reason = reason;
  }
}

function leToBig(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
  return n;
}

function bigToLe(n: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

function bytes(v: unknown, what: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
  return v;
}

/** string_to_point: strict RFC 8032 section 5.1.3 decoding; undefined for "INVALID". */
function decodePoint(b: Uint8Array): EdPoint | undefined {
  try {
    return Point.fromBytes(b, false);
  } catch {
    return undefined;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** ECVRF_encode_to_curve_try_and_increment (RFC 9381 section 5.4.1.1) with salt = PK_string. */
export function encodeToCurve(pkBytes: Uint8Array, alpha: Uint8Array): EdPoint {
  const head = concat([Uint8Array.of(SUITE, 0x01), pkBytes, alpha]);
  const input = new Uint8Array(head.length + 2);
  input.set(head, 0);
  input[head.length + 1] = 0x00;
  for (let ctr = 0; ctr < 256; ctr++) {
    input[head.length] = ctr;
    const h = decodePoint(sha512(input).subarray(0, 32));
    if (h === undefined) continue;
    const H = h.clearCofactor();
    if (!H.is0()) return H;
  }
  // Probability about 2^-256: int_to_string(ctr, 1) cannot go on.
  throw new VrfError("encode-to-curve-failed", "try-and-increment found no point within 256 tries");
}

/** ECVRF_challenge_generation (RFC 9381 section 5.4.3): the first cLen bytes of the hash, as an integer. */
function challenge(points: Uint8Array[]): bigint {
  const c = sha512(concat([Uint8Array.of(SUITE, 0x02), ...points, Uint8Array.of(0x00)]));
  return leToBig(c.subarray(0, C_LEN));
}

/** ECVRF_proof_to_hash from cofactor * Gamma (RFC 9381 section 5.2). */
function hashOfCleared(gamma8: EdPoint): Uint8Array {
  return sha512(concat([Uint8Array.of(SUITE, 0x03), gamma8.toBytes(), Uint8Array.of(0x00)]));
}

/** ECVRF_proof_to_hash given a decoded Gamma. */
function gammaToHash(gamma: EdPoint): Uint8Array {
  return hashOfCleared(gamma.clearCofactor());
}

/** Bits of a scalar below the group order, and the window of the joint constant-time multiplication. */
const SCALAR_BITS = 253;
const CT_WINDOW = 5;

/**
 * a*P and b*P for secret scalars a, b (0 < a, b < q) in constant time: one flat table of P's multiples shared by both
 * scalars, then per window CT_WINDOW doublings, a scan over every table entry and one addition for each accumulator,
 * whatever the digits (the operation sequence depends on neither scalar).
 */
function mulTwoCT(P: EdPoint, a: bigint, b: bigint): [EdPoint, EdPoint] {
  const size = 1 << CT_WINDOW;
  const mask = BigInt(size - 1);
  const table: EdPoint[] = [Point.ZERO];
  for (let i = 1; i < size; i++) table.push(table[i - 1]!.add(P));
  const windows = Math.ceil(SCALAR_BITS / CT_WINDOW);
  let accA = Point.ZERO;
  let accB = Point.ZERO;
  for (let w = windows - 1; w >= 0; w--) {
    if (w !== windows - 1) {
      for (let d = 0; d < CT_WINDOW; d++) {
        accA = accA.double();
        accB = accB.double();
      }
    }
    const shift = BigInt(w * CT_WINDOW);
    const da = Number((a >> shift) & mask);
    const db = Number((b >> shift) & mask);
    let sa = table[0]!;
    let sb = table[0]!;
    for (let i = 1; i < size; i++) {
      sa = i === da ? table[i]! : sa;
      sb = i === db ? table[i]! : sb;
    }
    accA = accA.add(sa);
    accB = accB.add(sb);
  }
  return [accA, accB];
}

/** The expanded secret key (RFC 8032 section 5.1.5): scalar x (reduced mod q), nonce key (upper hash half), Y. */
export function expandSecret(secret: Uint8Array): { x: bigint; nonceKey: Uint8Array; publicKey: Uint8Array } {
  bytes(secret, "secret");
  if (secret.length !== KEY_LEN) throw new VrfError("bad-secret", `the secret seed must be ${KEY_LEN} bytes, got ${secret.length}`);
  const h = sha512(secret);
  const a = h.slice(0, 32);
  a[0]! &= 248;
  a[31]! &= 127;
  a[31]! |= 64;
  const x = leToBig(a) % Q;
  return { x, nonceKey: h.slice(32, 64), publicKey: B.multiply(x).toBytes() };
}

/** A prover for one secret seed: the expanded key is computed once. */
export class VrfProver {
  readonly publicKey: Uint8Array;
  readonly #x: bigint;
  readonly #nonceKey: Uint8Array;

  /** @param secret the 32-byte secret seed (SK), e.g. the node's Ed25519 seed */
  constructor(secret: Uint8Array) {
    const e = expandSecret(secret);
    this.#x = e.x;
    this.#nonceKey = e.nonceKey;
    this.publicKey = e.publicKey;
  }

  /** ECVRF_prove: the 80-byte proof pi and its 64-byte output beta for `alpha`. */
  prove(alpha: Uint8Array): { pi: Uint8Array; beta: Uint8Array } {
    bytes(alpha, "alpha");
    const H = encodeToCurve(this.publicKey, alpha);
    const hBytes = H.toBytes();
    // ECVRF_nonce_generation_RFC8032 (RFC 9381 section 5.4.2.2).
    let k = leToBig(sha512(concat([this.#nonceKey, hBytes]))) % Q;
    if (k === 0n) k = 1n; // probability 2^-252; multiply() refuses 0
    // Gamma = x*H and V = k*H share one table; U = k*B uses the base point's precomputed tables. One inversion
    // normalizes Gamma, U, V and cofactor*Gamma for encoding.
    const [gammaP, vP] = mulTwoCT(H, this.#x, k);
    const [gamma, U, V, gamma8] = normalizeZ(Point, [gammaP, B.multiply(k), vP, gammaP.clearCofactor()]);
    const gammaBytes = gamma!.toBytes();
    const c = challenge([this.publicKey, hBytes, gammaBytes, U!.toBytes(), V!.toBytes()]);
    const s = (k + c * this.#x) % Q;
    const pi = concat([gammaBytes, bigToLe(c, C_LEN), bigToLe(s, 32)]);
    return { pi, beta: hashOfCleared(gamma8!) };
  }
}

/** ECVRF_prove with a one-off prover (use VrfProver to prove many inputs with one key). */
export function vrfProve(secret: Uint8Array, alpha: Uint8Array): { pi: Uint8Array; beta: Uint8Array } {
  return new VrfProver(secret).prove(alpha);
}

/** ECVRF_decode_proof (RFC 9381 section 5.4.4): Gamma, c, s; throws VrfError. */
function decodeProof(pi: Uint8Array): { gamma: EdPoint; c: bigint; s: bigint } {
  if (pi.length !== PROOF_LEN) throw new VrfError("bad-proof-length", `a proof is ${PROOF_LEN} bytes, got ${pi.length}`);
  const gamma = decodePoint(pi.subarray(0, 32));
  if (gamma === undefined) throw new VrfError("bad-gamma-encoding", "Gamma (proof bytes 0-31) is not a valid point encoding");
  const c = leToBig(pi.subarray(32, 48));
  const s = leToBig(pi.subarray(48, 80));
  if (s >= Q) throw new VrfError("s-out-of-range", "s (proof bytes 48-79) is not below the group order");
  return { gamma, c, s };
}

/** ECVRF_proof_to_hash: beta of a proof, without verifying it (e.g. to look up a nullifier first). */
export function proofToHash(pi: Uint8Array): Uint8Array {
  bytes(pi, "pi");
  return gammaToHash(decodeProof(pi).gamma);
}

/** Decoded and validated public keys, by hex: verifiers see the same keys again and again. */
const keyCache = new Map<string, EdPoint>();
const KEY_CACHE_MAX = 4096;

/** ECVRF_validate_key (RFC 9381 section 5.4.5) after strict decoding; throws VrfError. */
function publicPoint(pk: Uint8Array): EdPoint {
  if (pk.length !== KEY_LEN) throw new VrfError("bad-key-length", `a public key is ${KEY_LEN} bytes, got ${pk.length}`);
  let hex = "";
  for (const b of pk) hex += b.toString(16).padStart(2, "0");
  const cached = keyCache.get(hex);
  if (cached) return cached;
  const Y = decodePoint(pk);
  if (Y === undefined) throw new VrfError("bad-key-encoding", "the public key is not a valid point encoding");
  if (Y.isSmallOrder()) throw new VrfError("small-order-key", "the public key has small order (cofactor*Y is the identity)");
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.delete(keyCache.keys().next().value!);
  keyCache.set(hex, Y);
  return Y;
}

/**
 * ECVRF_verify with key validation: returns beta when `pi` proves `alpha` under `publicKey`, else throws VrfError
 * naming the failed check.
 */
export function vrfVerify(publicKey: Uint8Array, alpha: Uint8Array, pi: Uint8Array): Uint8Array {
  bytes(publicKey, "publicKey");
  bytes(alpha, "alpha");
  bytes(pi, "pi");
  const Y = publicPoint(publicKey);
  const { gamma, c, s } = decodeProof(pi);
  const H = encodeToCurve(publicKey, alpha);
  // U = s*B - c*Y, V = s*H - c*Gamma (public scalars: the fast variable-time paths are safe here).
  const [Hn, U, V, gamma8] = normalizeZ(Point, [H, B.multiplyUnsafe(s).subtract(Y.multiplyUnsafe(c)), mulAddUnsafe(Point, [H, gamma.negate()], [s, c]), gamma.clearCofactor()]);
  const c2 = challenge([publicKey, Hn!.toBytes(), pi.subarray(0, 32), U!.toBytes(), V!.toBytes()]);
  if (c2 !== c) throw new VrfError("challenge-mismatch", "the proof does not verify for this key and message");
  return hashOfCleared(gamma8!);
}

/** True when `pi` is a valid proof of `alpha` under `publicKey` (vrfVerify without the reason). */
export function vrfIsValid(publicKey: Uint8Array, alpha: Uint8Array, pi: Uint8Array): boolean {
  try {
    vrfVerify(publicKey, alpha, pi);
    return true;
  } catch (err) {
    if (err instanceof VrfError) return false;
    throw err;
  }
}
