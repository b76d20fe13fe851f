// Passphrase encryption of backup archives: scrypt derives the key, XChaCha20-Poly1305 seals the bytes (@noble/*).
import { randomBytes } from "node:crypto";
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { scryptAsync } from "@noble/hashes/scrypt.js";

/** First bytes of a sealed file. */
export const SEAL_MAGIC = Buffer.from("SDBKENC1", "ascii");
const HEADER = SEAL_MAGIC.length + 3 + 16 + 24;
/** scrypt cost used for new archives: N = 2^17, r = 8, p = 1 (128 MiB, about a second). */
export const SEAL_COST = { logN: 17, r: 8, p: 1 } as const;
/** Bounds accepted when opening, so that a crafted header cannot ask for unbounded memory or time. */
const LIMITS = { logN: [14, 18], r: [1, 16], p: [1, 4] } as const;
const MAX_PASSPHRASE = 1024;

/** A sealed file that cannot be opened: wrong passphrase, damage, or not sealed by us. */
export class SealError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SealError";
  }
}

/** True when `bytes` start like a sealed file. */
export function isSealed(bytes: Uint8Array): boolean {
  return bytes.length >= SEAL_MAGIC.length && Buffer.from(bytes.subarray(0, SEAL_MAGIC.length)).equals(SEAL_MAGIC);
}

/**
 * The passphrase in a passphrase file: its text without one trailing newline, NFKC-normalised.
 * @throws SealError when it is empty or longer than 1024 bytes.
 */
export function passphraseFromFile(text: string): string {
  const p = text.replace(/\r?\n$/, "").normalize("NFKC");
  if (p.length === 0) throw new SealError("the passphrase file is empty");
  if (Buffer.byteLength(p) > MAX_PASSPHRASE) throw new SealError(`the passphrase is longer than ${MAX_PASSPHRASE} bytes`);
  return p;
}

async function deriveKey(passphrase: string, salt: Uint8Array, cost: { logN: number; r: number; p: number }): Promise<Uint8Array> {
  if (typeof passphrase !== "string" || passphrase.length === 0) throw new SealError("a passphrase is required");
  return scryptAsync(Buffer.from(passphrase.normalize("NFKC"), "utf8"), salt, { N: 2 ** cost.logN, r: cost.r, p: cost.p, dkLen: 32, maxmem: 2 ** 30 });
}

/**
 * Seals `plain`: magic | logN r p | salt(16) | nonce(24) | XChaCha20-Poly1305(plain) with the header as associated
 * data, under a key scrypt derives from `passphrase`.
 */
export async function seal(plain: Uint8Array, passphrase: string, cost: { logN: number; r: number; p: number } = SEAL_COST): Promise<Uint8Array> {
  const salt = randomBytes(16);
  const nonce = randomBytes(24);
  const header = Buffer.concat([SEAL_MAGIC, Buffer.from([cost.logN, cost.r, cost.p]), salt, nonce]);
  const key = await deriveKey(passphrase, salt, cost);
  const sealed = xchacha20poly1305(key, nonce, header).encrypt(plain);
  key.fill(0);
  return Buffer.concat([header, sealed]);
}

/**
 * Opens a sealed file. Authentication covers the header and every byte: a wrong passphrase or any change gives a
 * SealError and no plaintext.
 */
export async function unseal(bytes: Uint8Array, passphrase: string): Promise<Uint8Array> {
  if (!isSealed(bytes)) throw new SealError("not an encrypted slowdrip archive");
  if (bytes.length < HEADER + 16) throw new SealError("encrypted archive is truncated");
  const [logN, r, p] = [bytes[8]!, bytes[9]!, bytes[10]!];
  for (const [name, v] of [["logN", logN], ["r", r], ["p", p]] as const) {
    const [lo, hi] = LIMITS[name];
    if (v < lo || v > hi) throw new SealError(`encrypted archive header is damaged (scrypt ${name} ${v} outside ${lo}..${hi})`);
  }
  const header = bytes.subarray(0, HEADER);
  const salt = bytes.subarray(SEAL_MAGIC.length + 3, SEAL_MAGIC.length + 19);
  const nonce = bytes.subarray(SEAL_MAGIC.length + 19, HEADER);
  const key = await deriveKey(passphrase, salt, { logN, r, p });
  try {
    return xchacha20poly1305(key, nonce, header).decrypt(bytes.subarray(HEADER));
  } catch (err) {
    throw new SealError("wrong passphrase, or the encrypted archive is damaged", { cause: err });
  } finally {
    key.fill(0);
  }
}
