// Bao verified streaming (standard, 1 KiB chunks): combined and outboard encodings, slices, verifying decoders.
// Layout: 8-byte little-endian length, then the BLAKE3 tree in pre-order; a parent is its children's two 32-byte CVs.
import { checkBytes } from "./blake3.ts";
import type { Engine } from "./engine.ts";
import { concatBytes, toHex } from "./hex.ts";
import {
  CHUNK_LEN, HEADER_LEN, chunkCount, cvLevels, decodeHeader, encodeHeader, leftChunks, nodeBytes, pathDepth, parentBlock,
  plainEngine, rootFromChunk, rootFromParent, sliceChunks,
} from "./tree.ts";

/** Why a Bao verification failed. */
export type BaoFailure = "hash-mismatch" | "truncated" | "length-mismatch" | "trailing-data" | "bad-outboard";

/** A Bao encoding, slice or outboard failed verification at `offset` (bytes into the checked stream). */
export class BaoVerifyError extends Error {
  readonly reason: BaoFailure;
  readonly offset: number;
  constructor(reason: BaoFailure, offset: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BaoVerifyError";
    this.reason = reason;
    this.offset = offset;
  }
}

const MiB = 1 << 20;
const GROUP_LOG2 = 10; // 1 MiB subtrees hashed per wasm call

function checkRange(start: unknown, len: unknown, what: string): void {
  for (const [name, v] of [["start", start], ["len", len]] as const) {
    if (typeof v !== "number") throw new TypeError(`${what}: ${name} must be a number`);
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${what}: ${name} must be a non-negative safe integer, got ${v}`);
  }
}

/** Standard Bao outboard size for `size` content bytes. */
export function baoOutboardSize(size: number): number {
  return HEADER_LEN + (chunkCount(size) - 1) * 64;
}

/** Standard Bao combined encoding size for `size` content bytes. */
export function baoEncodedSize(size: number): number {
  return baoOutboardSize(size) + size;
}

/** Builds the outboard of `data` (header included) and its root hash. */
function buildOutboard(e: Engine, data: Uint8Array): { hash: Uint8Array; outboard: Uint8Array } {
  const size = data.length;
  const n = chunkCount(size);
  const outboard = new Uint8Array(baoOutboardSize(size));
  outboard.set(encodeHeader(size), 0);
  if (n === 1) return { hash: rootFromChunk(e, data), outboard };
  if (size <= e.IN_CAP) {
    e.x.hasherInit(e.S0, 0, 0);
    e.mem.set(data, e.IN);
    const bytes = e.x.baoSubtree(e.S0, size, 0);
    outboard.set(e.mem.subarray(e.OUT, e.OUT + bytes), HEADER_LEN);
  } else {
    // 1 MiB subtrees in wasm (parents in pre-order + CV), then the levels above them here.
    const groups = Math.ceil(size / MiB);
    const cvs = new Uint8Array(groups * 32);
    const pieces: Uint8Array[] = [];
    e.x.hasherInit(e.S0, 0, 0);
    for (let g = 0; g < groups; g++) {
      const off = g * MiB;
      const len = Math.min(MiB, size - off);
      e.mem.set(data.subarray(off, off + len), e.IN);
      const bytes = e.x.baoSubtree(e.S0, len, off / CHUNK_LEN);
      pieces.push(e.mem.slice(e.OUT, e.OUT + bytes));
      cvs.set(e.mem.subarray(e.CV_OUT, e.CV_OUT + 32), g * 32);
    }
    const levels = cvLevels(e, cvs, groups);
    const G = 1 << GROUP_LOG2;
    let pos = HEADER_LEN;
    const rec = (s: number, cn: number): void => {
      if (cn <= G) {
        const piece = pieces[s / G]!;
        outboard.set(piece, pos);
        pos += piece.length;
        return;
      }
      outboard.set(parentBlock(levels, GROUP_LOG2, s, cn), pos);
      pos += 64;
      const left = leftChunks(cn);
      rec(s, left);
      rec(s + left, cn - left);
    };
    rec(0, n);
  }
  return { hash: rootFromParent(e, outboard.subarray(HEADER_LEN, HEADER_LEN + 64)), outboard };
}

/** Bao outboard encoding of `data`: the root hash (= BLAKE3 hash) and the tree without the content. */
export function baoOutboard(data: Uint8Array): { hash: Uint8Array; outboard: Uint8Array } {
  checkBytes(data, "baoOutboard");
  return buildOutboard(plainEngine(), data);
}

/** Interleaves `data` with its outboard into the combined pre-order encoding. */
function combine(data: Uint8Array, outboard: Uint8Array): Uint8Array {
  const size = data.length;
  const out = new Uint8Array(baoEncodedSize(size));
  out.set(outboard.subarray(0, HEADER_LEN), 0);
  let pos = HEADER_LEN;
  let ob = HEADER_LEN;
  const rec = (s: number, n: number): void => {
    if (n === 1) {
      const b = nodeBytes(size, s, 1);
      out.set(data.subarray(s * CHUNK_LEN, s * CHUNK_LEN + b), pos);
      pos += b;
      return;
    }
    out.set(outboard.subarray(ob, ob + 64), pos);
    ob += 64;
    pos += 64;
    const left = leftChunks(n);
    rec(s, left);
    rec(s + left, n - left);
  };
  rec(0, chunkCount(size));
  return out;
}

/** Bao combined encoding of `data` (content interleaved with the tree) and its root hash. */
export function baoEncode(data: Uint8Array): { hash: Uint8Array; encoded: Uint8Array } {
  checkBytes(data, "baoEncode");
  const { hash, outboard } = buildOutboard(plainEngine(), data);
  return { hash, encoded: combine(data, outboard) };
}

/** The standard slice from any tree source: `parent(pos)` gives the parent block at a standard outboard position, `chunk(s)` chunk s. */
export function extractSliceWith(
  size: number, start: number, len: number,
  parent: (pos: number) => Uint8Array, chunk: (s: number) => Uint8Array,
): Uint8Array {
  const [c0, c1] = sliceChunks(size, start, len);
  const parts: Uint8Array[] = [encodeHeader(size)];
  const rec = (s: number, n: number, pos: number): void => {
    if (s >= c1 || s + n <= c0) return;
    if (n === 1) {
      parts.push(chunk(s));
      return;
    }
    parts.push(parent(pos));
    const left = leftChunks(n);
    rec(s, left, pos + 64);
    rec(s + left, n - left, pos + 64 + (left - 1) * 64);
  };
  rec(0, chunkCount(size), HEADER_LEN);
  return concatBytes(parts);
}

function checkOutboard(size: number, outboard: Uint8Array, what: string): void {
  if (outboard.length !== baoOutboardSize(size)) {
    throw new RangeError(`${what}: outboard is ${outboard.length} bytes, expected ${baoOutboardSize(size)} for ${size} content bytes`);
  }
  if (decodeHeader(outboard) !== size) throw new RangeError(`${what}: outboard length header does not match the ${size}-byte content`);
}

/** Standard Bao slice for content range [start, start+len), from the content and its outboard. */
export function baoSliceFromOutboard(data: Uint8Array, outboard: Uint8Array, start: number, len: number): Uint8Array {
  checkBytes(data, "baoSliceFromOutboard");
  checkBytes(outboard, "baoSliceFromOutboard");
  checkRange(start, len, "baoSliceFromOutboard");
  const size = data.length;
  checkOutboard(size, outboard, "baoSliceFromOutboard");
  return extractSliceWith(size, start, len, (pos) => outboard.subarray(pos, pos + 64), (s) =>
    data.subarray(s * CHUNK_LEN, s * CHUNK_LEN + nodeBytes(size, s, 1)));
}

/** Standard Bao slice for content range [start, start+len), from a combined encoding. */
export function baoSliceFromCombined(encoded: Uint8Array, start: number, len: number): Uint8Array {
  checkBytes(encoded, "baoSliceFromCombined");
  checkRange(start, len, "baoSliceFromCombined");
  if (encoded.length < HEADER_LEN) throw new RangeError("baoSliceFromCombined: encoding shorter than its 8-byte header");
  const size = decodeHeader(encoded);
  if (size === null || encoded.length !== baoEncodedSize(size)) {
    throw new RangeError(`baoSliceFromCombined: encoding is ${encoded.length} bytes, which does not fit its length header`);
  }
  const [c0, c1] = sliceChunks(size, start, len);
  const parts: Uint8Array[] = [encoded.subarray(0, HEADER_LEN)];
  const encLen = (s: number, n: number) => (n - 1) * 64 + nodeBytes(size, s, n);
  const rec = (s: number, n: number, pos: number): void => {
    if (s >= c1 || s + n <= c0) return;
    if (n === 1) {
      parts.push(encoded.subarray(pos, pos + nodeBytes(size, s, 1)));
      return;
    }
    parts.push(encoded.subarray(pos, pos + 64));
    const left = leftChunks(n);
    rec(s, left, pos + 64);
    rec(s + left, n - left, pos + 64 + encLen(s, left));
  };
  rec(0, chunkCount(size), HEADER_LEN);
  return concatBytes(parts);
}

interface PendingNode {
  s: number;
  n: number;
  cv: Uint8Array;
  root: boolean;
  bulk: boolean;
}

function equal32(mem: Uint8Array, at: number, cv: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) if (mem[at + i] !== cv[i]) return false;
  return true;
}

/**
 * Incremental verifier of a Bao slice (or, with start 0 and len >= size, a whole combined encoding). Feed bytes with
 * `push`; it returns the content bytes of [start, start+len) verified so far and throws BaoVerifyError at the first bad
 * node, never returning an unverified byte. `finish` checks that the stream was complete.
 */
export class BaoSliceDecoder {
  readonly #hash: Uint8Array;
  readonly #start: number;
  readonly #len: number;
  readonly #maxBulk: number;
  #buf: Uint8Array = new Uint8Array(0);
  #off = 0;
  /** Stream offset of #buf[0]. */
  #base = 0;
  #size: number | null = null;
  #c0 = 0;
  #c1 = 0;
  #stack: PendingNode[] = [];
  #failed: BaoVerifyError | null = null;
  /** When set, verified content goes here (a view valid only during the call, at its content offset) instead of push()'s result. */
  #sink: ((content: Uint8Array, offset: number) => void) | null;

  /**
   * @param hash expected 32-byte root hash
   * @param start first content byte wanted; @param len content bytes wanted
   * @param opts.maxBulkChunks largest whole subtree verified in one wasm call (trades latency for speed; 1..1024)
   */
  constructor(
    hash: Uint8Array, start: number, len: number,
    opts?: { maxBulkChunks?: number; sink?: (content: Uint8Array, offset: number) => void },
  ) {
    checkBytes(hash, "BaoSliceDecoder");
    if (hash.length !== 32) throw new RangeError(`BaoSliceDecoder: hash must be 32 bytes, got ${hash.length}`);
    checkRange(start, len, "BaoSliceDecoder");
    const mb = opts?.maxBulkChunks ?? 16;
    if (!Number.isInteger(mb) || mb < 1 || mb > 1024) throw new RangeError("BaoSliceDecoder: maxBulkChunks must be 1..1024");
    this.#hash = hash.slice();
    this.#start = start;
    this.#len = len;
    this.#maxBulk = mb;
    if (opts?.sink !== undefined && typeof opts.sink !== "function") throw new TypeError("BaoSliceDecoder: sink must be a function");
    this.#sink = opts?.sink ?? null;
  }

  /** Content size from the header (null until the header arrived). */
  get size(): number | null {
    return this.#size;
  }

  /** True when every node of the slice has been verified. */
  get done(): boolean {
    return this.#size !== null && this.#stack.length === 0;
  }

  #fail(reason: BaoFailure, offset: number, message: string): never {
    this.#failed = new BaoVerifyError(reason, offset, message);
    throw this.#failed;
  }

  /** Adds bytes; returns newly verified content pieces (in order). */
  push(bytes: Uint8Array): Uint8Array[] {
    checkBytes(bytes, "BaoSliceDecoder.push");
    if (this.#failed) throw this.#failed;
    if (bytes.length === 0) return [];
    if (this.#off === this.#buf.length) {
      this.#base += this.#off;
      this.#buf = bytes;
      this.#off = 0;
    } else {
      const rest = this.#buf.subarray(this.#off);
      const merged = new Uint8Array(rest.length + bytes.length);
      merged.set(rest, 0);
      merged.set(bytes, rest.length);
      this.#base += this.#off;
      this.#buf = merged;
      this.#off = 0;
    }
    return this.#run();
  }

  /** Declares the end of input; throws when the slice is incomplete or has trailing bytes. */
  finish(): void {
    if (this.#failed) throw this.#failed;
    const pos = this.#base + this.#off;
    if (!this.done) this.#fail("truncated", pos, `Bao stream truncated at byte ${pos}: ${this.#size === null ? "length header" : "tree node"} incomplete`);
    if (this.#off < this.#buf.length) this.#fail("trailing-data", pos, `Bao stream has ${this.#buf.length - this.#off} unexpected bytes after its end at byte ${pos}`);
  }

  #emit(out: Uint8Array[], s: number, content: Uint8Array): void {
    const size = this.#size!;
    const lo = Math.max(this.#start, s * CHUNK_LEN);
    const hi = Math.min(this.#start + this.#len, size, s * CHUNK_LEN + content.length);
    if (hi <= lo) return;
    const view = content.subarray(lo - s * CHUNK_LEN, hi - s * CHUNK_LEN);
    if (this.#sink) this.#sink(view, lo);
    else out.push(view.slice());
  }

  #run(): Uint8Array[] {
    const out: Uint8Array[] = [];
    const e = plainEngine();
    const { x, mem, IN, OUT } = e;
    for (;;) {
      const avail = this.#buf.length - this.#off;
      const pos = this.#base + this.#off;
      if (this.#size === null) {
        if (avail < HEADER_LEN) break;
        const size = decodeHeader(this.#buf, this.#off);
        if (size === null) this.#fail("length-mismatch", pos, `Bao length header at byte ${pos} exceeds 2^53-1`);
        this.#size = size;
        [this.#c0, this.#c1] = sliceChunks(size, this.#start, this.#len);
        this.#stack.push({ s: 0, n: chunkCount(size), cv: this.#hash, root: true, bulk: true });
        this.#off += HEADER_LEN;
        continue;
      }
      const node = this.#stack[this.#stack.length - 1];
      if (!node) {
        if (avail > 0) this.#fail("trailing-data", pos, `Bao stream has unexpected bytes after its end at byte ${pos}`);
        break;
      }
      const size = this.#size;
      if (node.n === 1) {
        const L = nodeBytes(size, node.s, 1);
        if (avail < L) break;
        const chunk = this.#buf.subarray(this.#off, this.#off + L);
        mem.set(chunk, IN);
        x.chunkCV(e.S0, L, node.s, node.root ? 1 : 0);
        if (!equal32(mem, OUT, node.cv)) {
          this.#fail("hash-mismatch", pos, `Bao chunk ${node.s} (content bytes ${node.s * CHUNK_LEN}..${node.s * CHUNK_LEN + L}) at stream byte ${pos} does not match its hash${node.root ? ` ${toHex(node.cv)}` : ""}`);
        }
        this.#stack.pop();
        this.#off += L;
        this.#emit(out, node.s, chunk);
        continue;
      }
      const bytes = nodeBytes(size, node.s, node.n);
      if (node.bulk && !node.root && node.n <= this.#maxBulk && node.s >= this.#c0 && node.s + node.n <= this.#c1) {
        const encLen = (node.n - 1) * 64 + bytes;
        if (avail < encLen) break;
        mem.set(this.#buf.subarray(this.#off, this.#off + encLen), IN);
        mem.set(node.cv, e.CV_EXPECT);
        if (x.baoVerifySubtree(e.S0, encLen, bytes, node.s)) {
          this.#stack.pop();
          this.#off += encLen;
          this.#emit(out, node.s, mem.subarray(e.DATA, e.DATA + bytes));
          continue;
        }
        node.bulk = false; // find the exact bad node node-by-node
      }
      if (avail < 64) break;
      mem.set(this.#buf.subarray(this.#off, this.#off + 64), IN);
      x.parentCV(e.S0, node.root ? 1 : 0);
      if (!equal32(mem, OUT, node.cv)) {
        this.#fail("hash-mismatch", pos, `Bao parent node over content bytes ${node.s * CHUNK_LEN}..${node.s * CHUNK_LEN + bytes} at stream byte ${pos} does not match its hash`);
      }
      const block = this.#buf.slice(this.#off, this.#off + 64);
      this.#off += 64;
      this.#stack.pop();
      const left = leftChunks(node.n);
      const kids: PendingNode[] = [
        { s: node.s + left, n: node.n - left, cv: block.subarray(32, 64), root: false, bulk: node.bulk },
        { s: node.s, n: left, cv: block.subarray(0, 32), root: false, bulk: node.bulk },
      ];
      for (const k of kids) if (k.s < this.#c1 && k.s + k.n > this.#c0) this.#stack.push(k);
    }
    return out;
  }
}

/** Runs a decoder over all of `bytes`, writing the proven content straight into one result buffer. */
function decodeAll(hash: Uint8Array, bytes: Uint8Array, start: number, len: number): Uint8Array {
  let out: Uint8Array | null = null;
  const d: BaoSliceDecoder = new BaoSliceDecoder(hash, start, len, {
    maxBulkChunks: 1024,
    sink: (content, offset) => {
      const size = d.size!;
      out ??= new Uint8Array(Math.max(0, Math.min(size, start + len) - Math.min(size, start)));
      out.set(content, offset - start);
    },
  });
  d.push(bytes);
  d.finish();
  return out ?? new Uint8Array(0);
}

/**
 * Single-chunk fast path of baoVerifySlice: one wasm call checks the whole path (parents root first, then the chunk) of
 * a slice that covers exactly one chunk. Returns the proven content as a view into `slice`, or null when the slice is
 * not single-chunk, not exactly its expected length, or does not verify: baoVerifySlice then runs the decoder, which
 * accepts exactly the same slices and names the failure.
 */
export function baoVerifyChunkSlice(hash: Uint8Array, slice: Uint8Array, start: number, len: number): Uint8Array | null {
  if (!(hash instanceof Uint8Array) || hash.length !== 32 || slice.length < HEADER_LEN) return null;
  if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(len) || len < 0) return null;
  const size = decodeHeader(slice);
  if (size === null) return null;
  const [c0, c1] = sliceChunks(size, start, len);
  if (c1 - c0 !== 1) return null;
  const n = chunkCount(size);
  const depth = pathDepth(n, c0);
  const chunkLen = nodeBytes(size, c0, 1);
  const body = depth * 64 + chunkLen;
  const e = plainEngine();
  if (slice.length !== HEADER_LEN + body || body > e.IN_CAP) return null;
  e.mem.set(slice.subarray(HEADER_LEN), e.IN);
  e.mem.set(hash, e.CV_EXPECT);
  if (!e.x.verifyChunkPath(e.S0, n, c0, chunkLen)) return null;
  const at = HEADER_LEN + depth * 64 - c0 * CHUNK_LEN;
  return slice.subarray(at + Math.min(size, start), at + Math.min(size, start + len));
}

/** Verifies a whole slice against `hash` and returns the content bytes of [start, start+len) it proves. */
export function baoVerifySlice(hash: Uint8Array, slice: Uint8Array, start: number, len: number): Uint8Array {
  checkBytes(slice, "baoVerifySlice");
  return baoVerifyChunkSlice(hash, slice, start, len)?.slice() ?? decodeAll(hash, slice, start, len);
}

/** Verifies a whole combined encoding against `hash` and returns the content. */
export function baoDecode(hash: Uint8Array, encoded: Uint8Array): Uint8Array {
  checkBytes(encoded, "baoDecode");
  return decodeAll(hash, encoded, 0, Number.MAX_SAFE_INTEGER);
}

/**
 * Streams a slice (or whole combined encoding with start 0, len >= size) from `source`, yielding verified content as it
 * arrives (in units of at most 16 KiB) and throwing BaoVerifyError at the first bad or missing byte.
 */
export async function* decodeSliceStream(
  hash: Uint8Array, source: AsyncIterable<Uint8Array>, start: number, len: number,
): AsyncGenerator<Uint8Array, void, undefined> {
  const d = new BaoSliceDecoder(hash, start, len);
  for await (const bytes of source) {
    for (const piece of d.push(bytes)) yield piece;
  }
  d.finish();
}

/** Verifies `data` against `hash` and a standard outboard; throws BaoVerifyError naming the first mismatch. */
export function baoVerifyOutboard(hash: Uint8Array, data: Uint8Array, outboard: Uint8Array): void {
  checkBytes(hash, "baoVerifyOutboard");
  checkBytes(data, "baoVerifyOutboard");
  checkBytes(outboard, "baoVerifyOutboard");
  if (outboard.length < HEADER_LEN || decodeHeader(outboard) !== data.length) {
    throw new BaoVerifyError("length-mismatch", 0, `Bao outboard length header does not match the ${data.length}-byte content`);
  }
  const want = buildOutboard(plainEngine(), data);
  if (outboard.length !== want.outboard.length) {
    throw new BaoVerifyError("length-mismatch", Math.min(outboard.length, want.outboard.length), `Bao outboard is ${outboard.length} bytes, expected ${want.outboard.length}`);
  }
  for (let i = 0; i < outboard.length; i++) {
    if (outboard[i] !== want.outboard[i]) {
      throw new BaoVerifyError("hash-mismatch", i, `Bao outboard differs from the content's tree at outboard byte ${i}`);
    }
  }
  for (let i = 0; i < 32; i++) {
    if (hash[i] !== want.hash[i]) throw new BaoVerifyError("hash-mismatch", 0, `content hash ${toHex(want.hash)} is not the expected ${toHex(hash)}`);
  }
}

