// Ed25519 signing and verification, plus did:key encoding. Under Node, node:crypto (OpenSSL: ten times faster, which
// matters where every peer call is signed and verified); in a browser, @noble/ed25519 with synchronous SHA-512. Both
// make the same deterministic RFC 8032 signatures.
import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import type { KeyObject } from "node:crypto";

ed.hashes.sha512 = sha512;

type NodeCrypto = typeof import("node:crypto");
/** node:crypto where the runtime has it (Node loads builtins this way from ESM, CommonJS or a single executable). */
const native: NodeCrypto | undefined = (() => {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    return proc?.getBuiltinModule?.("node:crypto") as NodeCrypto | undefined;
  } catch {
    return undefined;
  }
})();

/** DER prefixes of a PKCS#8 Ed25519 private key (the 32-byte seed follows) and of an SPKI public key. */
const PKCS8_PREFIX = new Uint8Array([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);
const SPKI_PREFIX = new Uint8Array([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);
/** DER prefix of an SPKI Ed25519 public key (the 32-byte key follows), for threads that build their own key objects. */
export const ED25519_SPKI_PREFIX: Readonly<Uint8Array> = SPKI_PREFIX;

/** Private key objects by secret (the node's own key is one long-lived array), public ones by hex in a small LRU. */
const privateKeys = new WeakMap<Uint8Array, { seed: Uint8Array; key: KeyObject }>();
const publicKeys = new Map<string, KeyObject>();
const MAX_PUBLIC_KEYS = 1024;

function der(prefix: Uint8Array, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix.length + key.length);
  out.set(prefix, 0);
  out.set(key, prefix.length);
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function privateKey(c: NodeCrypto, secret: Uint8Array): KeyObject {
  // The cached object is used only while the array still holds the same seed (a caller may reuse its buffer).
  const hit = privateKeys.get(secret);
  if (hit && sameBytes(hit.seed, secret)) return hit.key;
  const key = c.createPrivateKey({ key: der(PKCS8_PREFIX, secret), format: "der", type: "pkcs8" });
  privateKeys.set(secret, { seed: secret.slice(), key });
  return key;
}

function publicKeyObject(c: NodeCrypto, pub: Uint8Array): KeyObject {
  let hex = "";
  for (const b of pub) hex += b.toString(16).padStart(2, "0");
  let key = publicKeys.get(hex);
  if (key) {
    publicKeys.delete(hex);
  } else {
    key = c.createPublicKey({ key: der(SPKI_PREFIX, pub), format: "der", type: "spki" });
  }
  publicKeys.set(hex, key);
  if (publicKeys.size > MAX_PUBLIC_KEYS) publicKeys.delete(publicKeys.keys().next().value!);
  return key;
}

/** Derives the 32-byte public key of a 32-byte secret seed. */
export function publicKeyOf(secret: Uint8Array): Uint8Array {
  checkLen(secret, 32, "secret");
  // node:crypto derives it in microseconds; @noble's first call builds its base-point tables (40 ms here, seconds on an
  // emulated or Pi-class CPU at every start, since the node checks its keypair file this way).
  if (native) {
    const spki = native.createPublicKey(privateKey(native, secret)).export({ format: "der", type: "spki" });
    return new Uint8Array(spki.subarray(SPKI_PREFIX.length));
  }
  return ed.getPublicKey(secret);
}

/** Signs a message with a 32-byte secret seed; returns the 64-byte signature. */
export function sign(message: Uint8Array, secret: Uint8Array): Uint8Array {
  checkLen(secret, 32, "secret");
  if (native) return new Uint8Array(native.sign(null, message, privateKey(native, secret)));
  return ed.sign(message, secret);
}

/** Verifies a 64-byte signature; false for any malformed input rather than throwing. */
export function verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  try {
    if (native) return native.verify(null, message, publicKeyObject(native, publicKey), signature);
    return ed.verify(signature, message, publicKey);
  } catch {
    return false;
  }
}

/** Makes a fresh random 32-byte secret seed. */
export function randomSecret(): Uint8Array {
  return ed.utils.randomSecretKey();
}

const B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/** Base58btc (Bitcoin alphabet) encoding. */
export function base58btc(bytes: Uint8Array): string {
  let zeros = 0;
  while (zeros < bytes.length && bytes[zeros] === 0) zeros++;
  const digits: number[] = [];
  for (let i = zeros; i < bytes.length; i++) {
    let carry = bytes[i]!;
    for (let j = 0; j < digits.length; j++) {
      carry += digits[j]! << 8;
      digits[j] = carry % 58;
      carry = (carry / 58) | 0;
    }
    while (carry > 0) {
      digits.push(carry % 58);
      carry = (carry / 58) | 0;
    }
  }
  return "1".repeat(zeros) + digits.reverse().map((d) => B58[d]).join("");
}

/** did:key of an Ed25519 public key: multicodec 0xed 0x01 prefix, base58btc with the "z" multibase prefix. */
export function didKey(publicKey: Uint8Array): string {
  checkLen(publicKey, 32, "publicKey");
  const buf = new Uint8Array(34);
  buf[0] = 0xed;
  buf[1] = 0x01;
  buf.set(publicKey, 2);
  return `did:key:z${base58btc(buf)}`;
}

/** Base58btc decoding; throws RangeError on a character outside the alphabet. */
export function unbase58btc(text: string): Uint8Array {
  let zeros = 0;
  while (zeros < text.length && text[zeros] === "1") zeros++;
  const bytes: number[] = [];
  for (let i = zeros; i < text.length; i++) {
    let carry = B58.indexOf(text[i]!);
    if (carry < 0) throw new RangeError(`not base58btc: ${JSON.stringify(text[i])}`);
    for (let j = 0; j < bytes.length; j++) {
      carry += bytes[j]! * 58;
      bytes[j] = carry & 0xff;
      carry >>= 8;
    }
    while (carry > 0) {
      bytes.push(carry & 0xff);
      carry >>= 8;
    }
  }
  return Uint8Array.from([...new Array<number>(zeros).fill(0), ...bytes.reverse()]);
}

/** The Ed25519 public key of a did:key (multicodec 0xed 0x01); throws RangeError for anything else. */
export function publicKeyFromDidKey(did: string): Uint8Array {
  if (!did.startsWith("did:key:z") || did.length > 80) throw new RangeError("not a did:key (did:key:z...)");
  const b = unbase58btc(did.slice("did:key:z".length));
  if (b.length !== 34 || b[0] !== 0xed || b[1] !== 0x01) throw new RangeError("not an Ed25519 did:key");
  return b.slice(2);
}

function checkLen(b: Uint8Array, n: number, name: string): void {
  if (!(b instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (b.length !== n) throw new RangeError(`${name} must be ${n} bytes, got ${b.length}`);
}
