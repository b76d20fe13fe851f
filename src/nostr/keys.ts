// The node's Nostr identity: a secp256k1 key in <data_dir>/nostr.key (0600), created at first start.
import { createECDH } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { generateSecretKey } from "nostr-tools/pure";
import { ensureDataDir, writeSecretFile } from "../identity/identity.ts";
import { hex, unhex } from "../identity/hex.ts";
import { NostrError } from "./errors.ts";

/** File name of the Nostr key inside the data directory (also listed in identity/backup.ts). */
export const NOSTR_KEY_FILE = "nostr.key";

/** The node's Nostr key pair. */
export interface NostrKey {
  readonly secretKey: Uint8Array;
  /** x-only public key, 64 lowercase hex (the `pubkey` of every event the node signs). */
  readonly pubkey: string;
}

/**
 * The x-only public key (BIP-340, 64 lowercase hex) of a 32-byte secp256k1 secret, derived by node:crypto: nostr-tools'
 * first derivation builds its base-point tables (100 ms here, seconds on an emulated or Pi-class CPU), and the node
 * derives it at every start to check its key file. Throws when the secret is zero or not below the group order.
 */
export function xOnlyPublicKey(secretKey: Uint8Array): string {
  if (secretKey.length !== 32) throw new RangeError(`a secp256k1 secret is 32 bytes, got ${secretKey.length}`);
  const ecdh = createECDH("secp256k1");
  ecdh.setPrivateKey(secretKey);
  return ecdh.getPublicKey("hex", "compressed").slice(2);
}

/** Serialises a Nostr key file: `{"type":"secp256k1","secret":HEX,"public":HEX}`. */
export function encodeNostrKey(k: NostrKey): string {
  return `${JSON.stringify({ type: "secp256k1", secret: hex(k.secretKey), public: k.pubkey })}\n`;
}

/** Parses and checks a Nostr key file's contents. */
export function decodeNostrKey(text: string, path = NOSTR_KEY_FILE): NostrKey {
  let doc: { type?: unknown; secret?: unknown; public?: unknown };
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new NostrError(`${path}: not a Nostr key file (invalid JSON)`, { cause: err });
  }
  if (doc?.type !== "secp256k1" || typeof doc.secret !== "string" || typeof doc.public !== "string") {
    throw new NostrError(`${path}: not a Nostr key file (expected {"type":"secp256k1","secret":HEX,"public":HEX})`);
  }
  let secretKey: Uint8Array;
  let pubkey: string;
  try {
    secretKey = unhex(doc.secret, 32);
    pubkey = xOnlyPublicKey(secretKey);
  } catch (err) {
    throw new NostrError(`${path}: the secret is not a valid secp256k1 key`, { cause: err });
  }
  if (pubkey !== doc.public) throw new NostrError(`${path}: public key does not match the secret key`);
  return { secretKey, pubkey };
}

/** Loads `<dataDir>/nostr.key`, creating one on first start. Refuses group/world-readable files. */
export function loadOrCreateNostrKey(dataDir: string): { key: NostrKey; created: boolean } {
  ensureDataDir(dataDir);
  const path = join(dataDir, NOSTR_KEY_FILE);
  let text: string | undefined;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  if (text !== undefined) {
    const mode = statSync(path).mode & 0o777;
    if (mode & 0o077) throw new NostrError(`${path}: mode is ${mode.toString(8)}; it must not be readable by group or others (chmod 600)`);
    return { key: decodeNostrKey(text, path), created: false };
  }
  const secretKey = generateSecretKey();
  const key = { secretKey, pubkey: xOnlyPublicKey(secretKey) };
  writeSecretFile(path, encodeNostrKey(key));
  return { key, created: true };
}
