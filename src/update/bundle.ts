// Update bundle format: a bounded, signed header (magic, manifest JSON, Ed25519 signature) followed by a root slot image.
//
// Layout: "SLOWDRIP-UPDATE1" (16 bytes) | u32 BE manifest length (<= 16 KiB) | manifest (UTF-8 JSON) | payload.
// The manifest names format, version, arch, payload size and sha256, the signer's key and its signature over
// signedMessage(manifest). Everything is checked before a single byte of the payload is written anywhere.
import { hex, unhex } from "../identity/hex.ts";
import { sign, verify } from "../identity/ed25519.ts";

export const MAGIC = "SLOWDRIP-UPDATE1";
export const HEADER_PREFIX = MAGIC.length + 4;
export const MAX_MANIFEST = 16 * 1024;
/** Largest payload any slot can take (the image's slots are 1280 MiB). */
export const MAX_PAYLOAD = 8 * 1024 ** 3;
const VERSION_RE = /^[0-9A-Za-z.+~-]{1,64}$/;
const HEX64 = /^[0-9a-f]{64}$/;

/** A bundle that is malformed, unsigned, signed by an unknown key, or not for this system. */
export class UpdateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UpdateError";
  }
}

/** The fields of a bundle's manifest. */
export interface Manifest {
  format: 1;
  version: string;
  arch: "x64" | "arm64";
  payload_size: number;
  payload_sha256: string;
  key: string;
  signature: string;
}

/** The exact bytes the signature covers: a domain tag and every manifest field but the signature, in a fixed order. */
export function signedMessage(m: Omit<Manifest, "signature">): Uint8Array {
  return new TextEncoder().encode(`slowdrip-update-v1\n${m.format}\n${m.version}\n${m.arch}\n${m.payload_size}\n${m.payload_sha256}\n${m.key}\n`);
}

/** Parses and checks a manifest's shape (not its signature). */
export function parseManifest(text: string): Manifest {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new UpdateError("bundle manifest is not JSON");
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new UpdateError("bundle manifest is not an object");
  const allowed = new Set(["format", "version", "arch", "payload_size", "payload_sha256", "key", "signature"]);
  for (const k of Object.keys(doc)) if (!allowed.has(k)) throw new UpdateError(`bundle manifest has an unknown field "${k.slice(0, 40)}"`);
  if (doc.format !== 1) throw new UpdateError("bundle format is not 1");
  if (typeof doc.version !== "string" || !VERSION_RE.test(doc.version)) throw new UpdateError("bundle version is not 1-64 of [0-9A-Za-z.+~-]");
  if (doc.arch !== "x64" && doc.arch !== "arm64") throw new UpdateError("bundle arch is not x64 or arm64");
  if (typeof doc.payload_size !== "number" || !Number.isSafeInteger(doc.payload_size) || doc.payload_size < 1 || doc.payload_size > MAX_PAYLOAD) {
    throw new UpdateError(`bundle payload_size is not an integer from 1 to ${MAX_PAYLOAD}`);
  }
  if (typeof doc.payload_sha256 !== "string" || !HEX64.test(doc.payload_sha256)) throw new UpdateError("bundle payload_sha256 is not 64 lowercase hex");
  if (typeof doc.key !== "string" || !HEX64.test(doc.key)) throw new UpdateError("bundle key is not 64 lowercase hex");
  if (typeof doc.signature !== "string" || !/^[0-9a-f]{128}$/.test(doc.signature)) throw new UpdateError("bundle signature is not 128 lowercase hex");
  return doc as unknown as Manifest;
}

/**
 * Reads the header from the first bytes of a bundle. Returns null while more bytes are needed, else the manifest
 * and the offset where the payload starts. Throws on anything malformed.
 */
export function readHeader(buf: Uint8Array): { manifest: Manifest; payloadOffset: number } | null {
  if (buf.length < HEADER_PREFIX) return null;
  const magic = new TextDecoder().decode(buf.subarray(0, MAGIC.length));
  if (magic !== MAGIC) throw new UpdateError("not a SlowDrip update bundle (bad magic)");
  const len = new DataView(buf.buffer, buf.byteOffset + MAGIC.length, 4).getUint32(0);
  if (len < 2 || len > MAX_MANIFEST) throw new UpdateError(`bundle manifest length ${len} is not 2..${MAX_MANIFEST}`);
  if (buf.length < HEADER_PREFIX + len) return null;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(buf.subarray(HEADER_PREFIX, HEADER_PREFIX + len));
  } catch {
    throw new UpdateError("bundle manifest is not UTF-8");
  }
  return { manifest: parseManifest(text), payloadOffset: HEADER_PREFIX + len };
}

/** Checks that the manifest is signed by one of `trustedKeys` and fits this system (arch, slot size). */
export function verifyManifest(m: Manifest, opts: { trustedKeys: readonly string[]; arch: string; slotSize?: number }): void {
  if (opts.trustedKeys.length === 0) throw new UpdateError("update.trusted_keys is empty: no update can be trusted");
  if (!opts.trustedKeys.includes(m.key)) throw new UpdateError(`bundle is signed by ${m.key}, which is not in update.trusted_keys`);
  const { signature, ...rest } = m;
  if (!verify(unhex(signature, 64), signedMessage(rest), unhex(m.key, 32))) throw new UpdateError("bundle signature is not valid");
  if (m.arch !== opts.arch) throw new UpdateError(`bundle is for ${m.arch}, this system is ${opts.arch}`);
  if (opts.slotSize !== undefined && m.payload_size > opts.slotSize) throw new UpdateError(`bundle payload (${m.payload_size} bytes) is larger than the slot (${opts.slotSize} bytes)`);
}

/** Builds a signed bundle header for a payload of `size` bytes with sha256 `sha256` (hex). */
export function makeHeader(opts: { version: string; arch: "x64" | "arm64"; size: number; sha256: string; secretKey: Uint8Array; publicKey: Uint8Array }): Uint8Array {
  const body = { format: 1 as const, version: opts.version, arch: opts.arch, payload_size: opts.size, payload_sha256: opts.sha256, key: hex(opts.publicKey) };
  const manifest: Manifest = { ...body, signature: hex(sign(signedMessage(body), opts.secretKey)) };
  parseManifest(JSON.stringify(manifest));
  const json = new TextEncoder().encode(JSON.stringify(manifest));
  const out = new Uint8Array(HEADER_PREFIX + json.length);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(MAGIC.length, json.length);
  out.set(json, HEADER_PREFIX);
  return out;
}
