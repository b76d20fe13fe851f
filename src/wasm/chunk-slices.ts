// Many single-chunk Bao slices of one tree checked in one wasm call (a storage-proof answer): the slices are copied into
// wasm memory once, each behind its 4-byte big-endian length; the module checks every path four slices at a time and,
// when all pass, hashes those same framed bytes where they lie (the digest a POS_ANSWER signature binds).
import { checkBytes } from "./blake3.ts";
import { chunkCount, plainEngine } from "./tree.ts";

/** Verdict of baoVerifyChunkSlices. */
export interface ChunkSlicesVerdict {
  /** Index of the first slice that does not verify, or -1 when every slice does. */
  bad: number;
  /**
   * When every slice verifies and a digest was asked for: BLAKE3 over the slices in order, each preceded by its length
   * as 4 bytes big-endian (null otherwise).
   */
  digest: Uint8Array | null;
}

let tableView: Uint32Array | null = null;

/**
 * Checks standard single-chunk Bao slices of one `size`-byte tree against its root `hash`: slice i must be exactly the
 * slice of chunk `chunks[i]` (length header stating `size`, the parents on the path root first, the chunk's bytes), and
 * every path must hash to `hash`. Returns the index of the first slice that does not verify (-1 when all do); the
 * caller names its failure with baoVerifySlice. With `digest`, a passing call also returns the framed-slices digest.
 * Throws TypeError/RangeError on arguments out of bounds: more slices than the module takes (128), more framed bytes
 * than its input buffer, sizes or indices that are not safe non-negative integers.
 */
export function baoVerifyChunkSlices(
  hash: Uint8Array, size: number, slices: readonly Uint8Array[], chunks: readonly number[], opts?: { digest?: boolean },
): ChunkSlicesVerdict {
  checkBytes(hash, "baoVerifyChunkSlices");
  if (hash.length !== 32) throw new RangeError(`baoVerifyChunkSlices: hash must be 32 bytes, got ${hash.length}`);
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`baoVerifyChunkSlices: size must be a non-negative safe integer, got ${size}`);
  if (!Array.isArray(slices) || !Array.isArray(chunks) || slices.length !== chunks.length) {
    throw new TypeError("baoVerifyChunkSlices: slices and chunks must be arrays of the same length");
  }
  const e = plainEngine();
  const count = slices.length;
  const max = e.x.maxChunkSlices();
  if (count === 0 || count > max) throw new RangeError(`baoVerifyChunkSlices: 1..${max} slices per call, got ${count}`);
  let total = 0;
  for (const s of slices) {
    checkBytes(s, "baoVerifyChunkSlices");
    total += 4 + s.length;
  }
  if (total > e.IN_CAP) throw new RangeError(`baoVerifyChunkSlices: ${total} framed bytes exceed the ${e.IN_CAP}-byte input buffer`);
  const n = chunkCount(size);
  if (tableView === null || tableView.buffer !== e.mem.buffer) tableView = new Uint32Array(e.mem.buffer);
  const table = tableView;
  const mem = e.mem;
  let at = e.IN;
  for (let i = 0; i < count; i++) {
    const s = slices[i]!;
    const c = chunks[i]!;
    if (!Number.isSafeInteger(c) || c < 0) throw new RangeError(`baoVerifyChunkSlices: chunk index ${c} is not a non-negative safe integer`);
    const len = s.length;
    mem[at] = len >>> 24;
    mem[at + 1] = (len >>> 16) & 255;
    mem[at + 2] = (len >>> 8) & 255;
    mem[at + 3] = len & 255;
    mem.set(s, at + 4);
    const d = (e.DATA >>> 2) + i * 4;
    table[d] = at + 4 - e.IN;
    table[d + 1] = len;
    // An index past the tree is refused by the module; clamp it so it survives the u64 encoding.
    const idx = Math.min(c, n);
    table[d + 2] = idx % 2 ** 32;
    table[d + 3] = Math.floor(idx / 2 ** 32);
    at += 4 + len;
  }
  mem.set(hash, e.CV_EXPECT);
  const first = e.x.chunkSlices(e.S0, count, size, opts?.digest ? total : 0);
  if (first < count) return { bad: first, digest: null };
  return { bad: -1, digest: opts?.digest ? mem.slice(e.OUT, e.OUT + 32) : null };
}
