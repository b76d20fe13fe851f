// Signed proof statements: Ed25519 through identity/ed25519.ts (node:crypto's OpenSSL under Node, for the hot paths: storage
// answers, receipts, presence) over domain-separated RFC 8785 canonical JSON: utf8("slowdrip/v1/<TYPE>\n") || JCS(body).
import { sign as ed25519SignRaw, verify as ed25519VerifyRaw } from "../identity/ed25519.ts";
import { canonicalJson } from "../stream/canonical.ts";

/** The statement types of the proofs layer; each has its own domain prefix. */
export type ProofStatement = "POS_ANSWER" | "PRESENCE" | "SERVICE_RECEIPT" | "RECEIPT_BATCH";

const utf8 = new TextEncoder();

/** The exact bytes signed for a statement of `type` (the ASCII prefix and the canonical JSON, encoded in one pass). */
export function statementBytes(type: ProofStatement, body: unknown): Uint8Array {
  return utf8.encode(`slowdrip/v1/${type}\n${canonicalJson(body)}`);
}

/** Ed25519 signature (64 bytes) of `message` with a 32-byte secret seed (the node's signer, node:crypto under Node). */
export function ed25519Sign(message: Uint8Array, secret: Uint8Array): Uint8Array {
  if (!(secret instanceof Uint8Array) || secret.length !== 32) throw new TypeError("secret must be a 32-byte Ed25519 seed");
  return ed25519SignRaw(message, secret);
}

/** True when `signature` is a valid Ed25519 signature of `message` by `publicKey`; false for any malformed input. */
export function ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (!(signature instanceof Uint8Array) || !(publicKey instanceof Uint8Array) || !(message instanceof Uint8Array)) return false;
  return ed25519VerifyRaw(signature, message, publicKey);
}

/** Signs a statement; returns the 64-byte signature. */
export function signStatement(type: ProofStatement, body: unknown, secret: Uint8Array): Uint8Array {
  return ed25519Sign(statementBytes(type, body), secret);
}

/** Verifies a statement's signature by `publicKey` (32 bytes). */
export function verifyStatement(type: ProofStatement, body: unknown, signature: Uint8Array, publicKey: Uint8Array): boolean {
  return ed25519Verify(signature, statementBytes(type, body), publicKey);
}
