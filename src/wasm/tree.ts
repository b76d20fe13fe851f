// BLAKE3 tree shape and bulk tree hashing shared by Bao, compact outboards and multi-core hashing.
// The tree over N chunks is left-complete: a node over n > 1 chunks has a left child of the largest power of two < n.
import { getEngine, type Engine } from "./engine.ts";

/** BLAKE3/Bao chunk size in bytes. */
export const CHUNK_LEN = 1024;
/** Bao length header size. */
export const HEADER_LEN = 8;

/** Chunks in a tree over `size` bytes (an empty input still has one, empty, chunk). */
export function chunkCount(size: number): number {
  return size === 0 ? 1 : Math.ceil(size / CHUNK_LEN);
}

/** Largest power of two strictly below n (n >= 2): the chunk count of a node's left child. */
export function leftChunks(n: number): number {
  let p = 1;
  while (p * 2 < n) p *= 2;
  return p;
}

/** Parents on the path from the root of an `n`-chunk tree down to chunk `index` (a single-chunk slice's depth). */
export function pathDepth(n: number, index: number): number {
  let depth = 0;
  let s = 0;
  let m = n;
  while (m > 1) {
    const left = leftChunks(m);
    if (index >= s + left) {
      s += left;
      m -= left;
    } else {
      m = left;
    }
    depth++;
  }
  return depth;
}

/** log2 of a power of two. */
export function log2(p: number): number {
  return Math.round(Math.log2(p));
}

/** Content bytes under the node covering chunks [s, s+n) of a `size`-byte input. */
export function nodeBytes(size: number, s: number, n: number): number {
  return Math.min(size, (s + n) * CHUNK_LEN) - s * CHUNK_LEN;
}

/** 8-byte little-endian length header. */
export function encodeHeader(size: number): Uint8Array {
  const h = new Uint8Array(HEADER_LEN);
  new DataView(h.buffer).setBigUint64(0, BigInt(size), true);
  return h;
}

/** Reads the length header; returns null when it is beyond 2^53 - 1. */
export function decodeHeader(b: Uint8Array, off = 0): number | null {
  if (off < 0 || off + HEADER_LEN > b.length) throw new RangeError(`decodeHeader: no ${HEADER_LEN}-byte header at ${off}`);
  const lo = (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
  const hi = (b[off + 4]! | (b[off + 5]! << 8) | (b[off + 6]! << 16) | (b[off + 7]! << 24)) >>> 0;
  // 2^53 - 1 is hi = 0x1fffff with any lo; without BigInt (this runs for every slice checked).
  return hi > 0x1fffff ? null : hi * 2 ** 32 + lo;
}

/** Chunk range [c0, c1) a slice of (start, len) covers; past-the-end starts cover the final chunk, len 0 covers one chunk. */
export function sliceChunks(size: number, start: number, len: number): [number, number] {
  const n = chunkCount(size);
  if (start >= size) return [n - 1, n];
  const end = Math.min(size, start + Math.max(len, 1));
  return [Math.floor(start / CHUNK_LEN), Math.ceil(end / CHUNK_LEN)];
}

/** Prepares one-shot state slot S0 for plain hashing and returns the engine. */
export function plainEngine(): Engine {
  const e = getEngine();
  e.x.hasherInit(e.S0, 0, 0);
  return e;
}

/** Appends the CVs of `data` grouped in aligned 2^log2 chunk groups (starting at chunk `counter`) to `out` at `pos`. */
export function groupCVsInto(e: Engine, data: Uint8Array, counter: number, log2Chunks: number, out: Uint8Array, pos: number): number {
  const step = e.IN_CAP;
  for (let off = 0; off < data.length; off += step) {
    const n = Math.min(step, data.length - off);
    e.mem.set(data.subarray(off, off + n), e.IN);
    const g = e.x.groupCVs(e.S0, n, counter + off / CHUNK_LEN, log2Chunks);
    out.set(e.mem.subarray(e.OUT, e.OUT + g * 32), pos);
    pos += g * 32;
  }
  return pos;
}

/**
 * All levels above `base` (count 32-byte nodes, level 0): `level(S0, m)` hashes m nodes of the input area pairwise into
 * the output area (an odd last node carried up) and returns how many it wrote; ends with one node.
 */
export function pairLevels(e: Engine, base: Uint8Array, count: number, level: (s0: number, m: number) => number): Uint8Array[] {
  const levels = [base.subarray(0, count * 32)];
  let cur = levels[0]!;
  let n = count;
  const batch = Math.floor(e.IN_CAP / 32); // even, so pairs never straddle batches
  while (n > 1) {
    const next = new Uint8Array(Math.ceil(n / 2) * 32);
    let pos = 0;
    for (let i = 0; i < n; i += batch) {
      const m = Math.min(batch, n - i);
      e.mem.set(cur.subarray(i * 32, (i + m) * 32), e.IN);
      const r = level(e.S0, m);
      next.set(e.mem.subarray(e.OUT, e.OUT + r * 32), pos);
      pos += r * 32;
    }
    n = Math.ceil(n / 2);
    levels.push(next);
    cur = next;
  }
  return levels;
}

/** All levels above `cvs` (count CVs, level 0): pairs hashed as BLAKE3 parents; ends with one CV. */
export function cvLevels(e: Engine, cvs: Uint8Array, count: number): Uint8Array[] {
  return pairLevels(e, cvs, count, (s0, m) => e.x.parentLevel(s0, m));
}

/** The 64-byte parent block of the node over chunks [s, s+n) (n > 2^groupLog2) from group-level levels. */
export function parentBlock(levels: Uint8Array[], groupLog2: number, s: number, n: number): Uint8Array {
  const k = log2(leftChunks(n));
  const lv = levels[k - groupLog2]!;
  const j = Math.floor(s / 2 ** (k + 1));
  return lv.subarray(j * 64, j * 64 + 64);
}

/** Root hash from the root parent block (64 bytes). */
export function rootFromParent(e: Engine, block: Uint8Array): Uint8Array {
  e.x.hasherInit(e.S0, 0, 0);
  e.mem.set(block, e.IN);
  e.x.parentCV(e.S0, 1);
  return e.mem.slice(e.OUT, e.OUT + 32);
}

/** Root hash of a single-chunk input (<= 1024 bytes). */
export function rootFromChunk(e: Engine, chunk: Uint8Array): Uint8Array {
  e.x.hasherInit(e.S0, 0, 0);
  e.mem.set(chunk, e.IN);
  e.x.chunkCV(e.S0, chunk.length, 0, 1);
  return e.mem.slice(e.OUT, e.OUT + 32);
}
