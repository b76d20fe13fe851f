// Byte helpers of the Bao slice tests: the official vectors' input, a patterned content, one-bit flips, concatenation
// and the 8-byte length header.
import { concatBytes } from "../../src/wasm/hex.ts";

/** Vector input: a 4-byte little-endian counter starting at 1 (how the bao test vectors make their inputs). */
export function vectorInput(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = ((Math.floor(i / 4) + 1) >>> (8 * (i % 4))) & 255;
  return b;
}

/** `n` patterned bytes (differ per `seed`). */
export function content(n: number, seed = 1): Uint8Array {
  const d = new Uint8Array(n);
  for (let i = 0; i < n; i++) d[i] = (i * 13 + (i >> 9) + seed * 101) & 255;
  return d;
}

/** A copy of `b` with the low bit of byte `i` flipped. */
export function flip(b: Uint8Array, i: number): Uint8Array {
  const c = b.slice();
  c[i]! ^= 1;
  return c;
}

/** The parts one after another. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  return concatBytes(parts);
}

/** The 8-byte little-endian Bao length header of `size`. */
export function header(size: number): Uint8Array {
  const h = new Uint8Array(8);
  new DataView(h.buffer).setBigUint64(0, BigInt(size), true);
  return h;
}
