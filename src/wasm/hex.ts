// Hex helpers for digests and blob ids (lowercase, strict parsing), and byte concatenation.

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array)) throw new TypeError("toHex: expected a Uint8Array");
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]!];
  return s;
}

function nibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Parses hex (either case) into bytes; RangeError on odd length or a non-hex character. */
export function fromHex(str: string): Uint8Array {
  if (typeof str !== "string") throw new TypeError("fromHex: expected a string");
  if (str.length % 2 !== 0) throw new RangeError(`fromHex: odd length ${str.length}`);
  const out = new Uint8Array(str.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = nibble(str.charCodeAt(2 * i));
    const lo = nibble(str.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) throw new RangeError(`fromHex: invalid hex character at offset ${hi < 0 ? 2 * i : 2 * i + 1}`);
    out[i] = (hi << 4) | lo;
  }
  return out;
}

const BLOB_ID = /^[0-9a-f]{64}$/;

/** True when `str` is a blob id: a BLAKE3-256 digest as 64 lowercase hex characters. */
export function isBlobId(str: unknown): str is string {
  return typeof str === "string" && BLOB_ID.test(str);
}

/** Concatenates byte arrays into one new array (`total`, when known, saves a pass over the parts). */
export function concatBytes(parts: readonly Uint8Array[], total?: number): Uint8Array {
  const out = new Uint8Array(total ?? parts.reduce((a, p) => a + p.byteLength, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.byteLength;
  }
  return out;
}
