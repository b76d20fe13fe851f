// Compact stored outboard: the Bao tree with its lowest 4 levels dropped (16 KiB chunk groups), ~0.39 % overhead.
// Layout: 8-byte little-endian content length, then in pre-order every parent node whose subtree spans more than one
// 16 KiB group (64 bytes: left CV || right CV). Standard Bao slices are rebuilt from it by re-hashing the needed groups.
import { checkBytes } from "./blake3.ts";
import { BaoVerifyError, extractSliceWith } from "./bao.ts";
import type { Engine } from "./engine.ts";
import {
  CHUNK_LEN, HEADER_LEN, chunkCount, cvLevels, decodeHeader, encodeHeader, groupCVsInto, leftChunks, nodeBytes, pathDepth,
  parentBlock, plainEngine, rootFromParent, sliceChunks,
} from "./tree.ts";
import { blake3 } from "./blake3.ts";
import { toHex } from "./hex.ts";

/** Chunks per group (16 KiB) and its log2. */
export const GROUP_CHUNKS = 16;
const GROUP_LOG2 = 4;
/** Bytes per group. */
export const GROUP_LEN = GROUP_CHUNKS * CHUNK_LEN;

function groupCount(size: number): number {
  return Math.max(1, Math.ceil(size / GROUP_LEN));
}

/** Size in bytes of the compact outboard of `size` content bytes. */
export function compactOutboardSize(size: number): number {
  if (typeof size !== "number") throw new TypeError("compactOutboardSize: size must be a number");
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`compactOutboardSize: size must be a non-negative safe integer, got ${size}`);
  return HEADER_LEN + (groupCount(size) - 1) * 64;
}

/**
 * Streaming builder: feed the content in any pieces, `finish` returns the BLAKE3 hash, the compact outboard and the size.
 * One pass; memory is one 16 KiB buffer plus 32 bytes per 16 KiB group (half the outboard's size). Whole groups are
 * hashed straight from the caller's bytes; only the bytes of a group split across pieces are copied.
 */
export class CompactOutboardBuilder {
  /** The last, still incomplete (or not yet known to be followed) group: at most one group, starting on a group boundary. */
  #pending = new Uint8Array(GROUP_LEN);
  #pendingLen = 0;
  #cvs = new Uint8Array(32 * 64);
  #cvLen = 0;
  #size = 0;
  #finished = false;

  /** Appends the group CVs of `buf` (whole groups, first chunk `counter`, none of them the root). */
  #flush(e: Engine, buf: Uint8Array, counter: number): void {
    const need = this.#cvLen + Math.ceil(buf.length / GROUP_LEN) * 32;
    if (need > this.#cvs.length) {
      const grown = new Uint8Array(Math.max(this.#cvs.length * 2, need));
      grown.set(this.#cvs.subarray(0, this.#cvLen));
      this.#cvs = grown;
    }
    this.#cvLen = groupCVsInto(e, buf, counter, GROUP_LOG2, this.#cvs, this.#cvLen);
  }

  /** Absorbs content bytes. */
  update(data: Uint8Array): this {
    checkBytes(data, "CompactOutboardBuilder.update");
    if (this.#finished) throw new Error("CompactOutboardBuilder.update: already finished");
    let off = 0;
    while (off < data.length) {
      if (this.#pendingLen === GROUP_LEN) {
        // A full group with more content behind it: it is not the root, hash it.
        this.#flush(plainEngine(), this.#pending, (this.#size - GROUP_LEN) / CHUNK_LEN);
        this.#pendingLen = 0;
      }
      if (this.#pendingLen === 0) {
        // Whole groups straight from the caller's bytes (no copy), keeping at least one byte back for the buffer: the
        // last group is hashed only once it is known whether more follows.
        const whole = Math.floor((data.length - off - 1) / GROUP_LEN) * GROUP_LEN;
        if (whole > 0) {
          this.#flush(plainEngine(), data.subarray(off, off + whole), this.#size / CHUNK_LEN);
          this.#size += whole;
          off += whole;
        }
      }
      const take = Math.min(GROUP_LEN - this.#pendingLen, data.length - off);
      this.#pending.set(data.subarray(off, off + take), this.#pendingLen);
      this.#pendingLen += take;
      this.#size += take;
      off += take;
    }
    return this;
  }

  /** Finishes: the content's BLAKE3 hash, the compact outboard and the content size. */
  finish(): { hash: Uint8Array; outboard: Uint8Array; size: number } {
    if (this.#finished) throw new Error("CompactOutboardBuilder.finish: already finished");
    this.#finished = true;
    const size = this.#size;
    const outboard = new Uint8Array(compactOutboardSize(size));
    outboard.set(encodeHeader(size), 0);
    if (size <= GROUP_LEN) {
      return { hash: blake3(this.#pending.subarray(0, this.#pendingLen)), outboard, size };
    }
    const e = plainEngine();
    if (this.#pendingLen > 0) this.#flush(e, this.#pending.subarray(0, this.#pendingLen), (size - this.#pendingLen) / CHUNK_LEN);
    const groups = this.#cvLen / 32;
    const levels = cvLevels(e, this.#cvs, groups);
    let pos = HEADER_LEN;
    const rec = (s: number, n: number): void => {
      if (n <= GROUP_CHUNKS) return;
      outboard.set(parentBlock(levels, GROUP_LOG2, s, n), pos);
      pos += 64;
      const left = leftChunks(n);
      rec(s, left);
      rec(s + left, n - left);
    };
    rec(0, chunkCount(size));
    const hash = rootFromParent(e, outboard.subarray(HEADER_LEN, HEADER_LEN + 64));
    this.#pending = new Uint8Array(0);
    this.#cvs = new Uint8Array(0);
    return { hash, outboard, size };
  }
}

/**
 * The standard Bao slice of [start, start+len) for content of `size` bytes with compact outboard `outboard`, reading
 * content through `read(offset, length)` - only the 16 KiB groups the slice covers. Each group read is checked against
 * the CV the outboard holds for it; a mismatch throws BaoVerifyError (local corruption).
 */
export async function baoSliceFromCompact(
  size: number, outboard: Uint8Array,
  read: (offset: number, length: number) => Promise<Uint8Array>,
  start: number, len: number,
): Promise<Uint8Array> {
  compactOutboardSize(size);
  checkBytes(outboard, "baoSliceFromCompact");
  if (typeof read !== "function") throw new TypeError("baoSliceFromCompact: read must be a function");
  for (const [name, v] of [["start", start], ["len", len]] as const) {
    if (typeof v !== "number") throw new TypeError(`baoSliceFromCompact: ${name} must be a number`);
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`baoSliceFromCompact: ${name} must be a non-negative safe integer`);
  }
  if (outboard.length !== compactOutboardSize(size) || decodeHeader(outboard) !== size) {
    throw new RangeError(`baoSliceFromCompact: outboard (${outboard.length} bytes) does not belong to ${size} content bytes`);
  }
  const [c0, c1] = sliceChunks(size, start, len);
  // Collect the groups the slice touches with their expected CVs (walking the compact tree).
  const groups = new Map<number, { n: number; cv: Uint8Array | null }>();
  const walk = (s: number, n: number, pos: number, cv: Uint8Array | null): void => {
    if (s >= c1 || s + n <= c0) return;
    if (n <= GROUP_CHUNKS) {
      groups.set(s, { n, cv });
      return;
    }
    const block = outboard.subarray(pos, pos + 64);
    const left = leftChunks(n);
    walk(s, left, pos + 64, block.subarray(0, 32));
    walk(s + left, n - left, pos + 64 + (left / GROUP_CHUNKS - 1) * 64, block.subarray(32, 64));
  };
  walk(0, chunkCount(size), HEADER_LEN, null);
  // Read each group, rebuild its local tree and check it.
  const local = new Map<number, { data: Uint8Array; parents: Uint8Array }>();
  for (const [s, g] of groups) {
    const bytes = nodeBytes(size, s, g.n);
    const data = await read(s * CHUNK_LEN, bytes);
    if (!(data instanceof Uint8Array) || data.length !== bytes) {
      throw new RangeError(`baoSliceFromCompact: read(${s * CHUNK_LEN}, ${bytes}) returned ${data?.length ?? "no"} bytes`);
    }
    const e = plainEngine();
    e.mem.set(data, e.IN);
    const pb = e.x.baoSubtree(e.S0, bytes, s);
    const parents = e.mem.slice(e.OUT, e.OUT + pb);
    if (g.cv && !g.cv.every((b, i) => b === e.mem[e.CV_OUT + i])) {
      throw new BaoVerifyError("hash-mismatch", s * CHUNK_LEN, `stored content group at byte ${s * CHUNK_LEN} does not match its outboard CV ${toHex(g.cv)}`);
    }
    local.set(s, { data, parents });
  }
  // Emit the standard slice: parents above groups come from the outboard, those inside a group from its local tree.
  const groupOf = (s: number) => s - (s % GROUP_CHUNKS);
  const parentAt = new Map<number, Uint8Array>();
  // Map standard pre-order positions to parent blocks by walking both trees together.
  const map = (s: number, n: number, stdPos: number, cpos: number): void => {
    if (s >= c1 || s + n <= c0 || n === 1) return;
    const left = leftChunks(n);
    if (n > GROUP_CHUNKS) {
      parentAt.set(stdPos, outboard.subarray(cpos, cpos + 64));
      map(s, left, stdPos + 64, cpos + 64);
      map(s + left, n - left, stdPos + 64 + (left - 1) * 64, cpos + 64 + (left / GROUP_CHUNKS - 1) * 64);
      return;
    }
    const g = local.get(groupOf(s))!;
    const lpos = localPos(s - groupOf(s), g.data.length, n);
    parentAt.set(stdPos, g.parents.subarray(lpos, lpos + 64));
    map(s, left, stdPos + 64, 0);
    map(s + left, n - left, stdPos + 64 + (left - 1) * 64, 0);
  };
  map(0, chunkCount(size), HEADER_LEN, HEADER_LEN);
  return extractSliceWith(size, start, len, (pos) => parentAt.get(pos)!, (s) => {
    const g = local.get(groupOf(s))!;
    const off = (s - groupOf(s)) * CHUNK_LEN;
    return g.data.subarray(off, off + nodeBytes(size, s, 1));
  });
}

function equalAt(mem: Uint8Array, at: number, cv: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) if (mem[at + i] !== cv[i]) return false;
  return true;
}

/** Pre-order byte position, inside its group's local parent list, of the node starting at group chunk `rel` with `n` chunks. */
function localPos(rel: number, groupBytes: number, n: number): number {
  // Walk down from the group root to the node, counting the parents before it in pre-order.
  let s = 0;
  let m = chunkCount(groupBytes);
  let pos = 0;
  while (!(s === rel && m === n)) {
    const left = leftChunks(m);
    if (rel < s + left) {
      pos += 64;
      m = left;
    } else {
      pos += 64 + (left - 1) * 64;
      s += left;
      m -= left;
    }
  }
  return pos;
}

/**
 * The standard single-chunk Bao slices of `chunks` (chunk indices, any order, repeats allowed) for content of `size`
 * bytes with compact outboard `outboard`, in one pass (views into one shared buffer): the parents above the 16 KiB groups come from the outboard, each
 * group touched is read once, in ascending offset order, through `readInto(offset, length, into)` - which must fill `into` (a view of the hashing
 * engine's memory, valid only during the call; do no hashing inside it) - then hashed in wasm, checked against its
 * outboard CV (a mismatch throws BaoVerifyError: local corruption) and its local path copied out for each chunk in it.
 */
export function baoChunkSlicesFromCompact(
  size: number, outboard: Uint8Array,
  readInto: (offset: number, length: number, into: Uint8Array) => void,
  chunks: readonly number[],
): Uint8Array[] {
  compactOutboardSize(size);
  checkBytes(outboard, "baoChunkSlicesFromCompact");
  if (typeof readInto !== "function") throw new TypeError("baoChunkSlicesFromCompact: readInto must be a function");
  if (!Array.isArray(chunks)) throw new TypeError("baoChunkSlicesFromCompact: chunks must be an array");
  if (outboard.length !== compactOutboardSize(size) || decodeHeader(outboard) !== size) {
    throw new RangeError(`baoChunkSlicesFromCompact: outboard (${outboard.length} bytes) does not belong to ${size} content bytes`);
  }
  const n = chunkCount(size);
  // Per chunk: the outboard parents on its path down to its group, its slice's place in one shared buffer, and its
  // group; groups are then read in ascending offset order (so a reader can keep the last stored piece it fetched).
  const k = chunks.length;
  const tops: Uint8Array[][] = new Array(k);
  const at = new Array<number>(k);
  const groups = new Map<number, { n: number; cv: Uint8Array | null; members: number[] }>();
  let total = 0;
  for (let j = 0; j < k; j++) {
    const c = chunks[j]!;
    if (!Number.isSafeInteger(c) || c < 0 || c >= n) throw new RangeError(`baoChunkSlicesFromCompact: chunk ${c} is not one of the ${n} chunks`);
    const blocks: Uint8Array[] = [];
    let s = 0;
    let m = n;
    let pos = HEADER_LEN;
    let cv: Uint8Array | null = null;
    while (m > GROUP_CHUNKS) {
      const block = outboard.subarray(pos, pos + 64);
      blocks.push(block);
      const left = leftChunks(m);
      if (c < s + left) {
        cv = block.subarray(0, 32);
        pos += 64;
        m = left;
      } else {
        cv = block.subarray(32, 64);
        pos += 64 + (left / GROUP_CHUNKS - 1) * 64;
        s += left;
        m -= left;
      }
    }
    tops[j] = blocks;
    at[j] = total;
    total += HEADER_LEN + (blocks.length + pathDepth(m, c - s)) * 64 + nodeBytes(size, c, 1);
    const g = groups.get(s);
    if (g) g.members.push(j);
    else groups.set(s, { n: m, cv, members: [j] });
  }
  const buf = new Uint8Array(total);
  const out: Uint8Array[] = new Array(k);
  const header = encodeHeader(size);
  for (const [s, g] of [...groups].sort((x, y) => x[0] - y[0])) {
    const bytes = nodeBytes(size, s, g.n);
    const e = plainEngine();
    readInto(s * CHUNK_LEN, bytes, e.mem.subarray(e.IN, e.IN + bytes));
    e.x.groupTree(e.S0, bytes, s);
    if (g.cv && !equalAt(e.mem, e.CV_OUT, g.cv)) {
      throw new BaoVerifyError("hash-mismatch", s * CHUNK_LEN, `stored content group at byte ${s * CHUNK_LEN} does not match its outboard CV ${toHex(g.cv)}`);
    }
    for (const j of g.members) {
      const rel = chunks[j]! - s;
      const local = e.x.groupPath(rel);
      const chunkLen = nodeBytes(size, chunks[j]!, 1);
      let p = at[j]!;
      const start = p;
      buf.set(header, p);
      p += HEADER_LEN;
      for (const b of tops[j]!) {
        buf.set(b, p);
        p += 64;
      }
      buf.set(e.mem.subarray(e.OUT, e.OUT + local), p);
      p += local;
      buf.set(e.mem.subarray(e.IN + rel * CHUNK_LEN, e.IN + rel * CHUNK_LEN + chunkLen), p);
      out[j] = buf.subarray(start, p + chunkLen);
    }
  }
  return out;
}
