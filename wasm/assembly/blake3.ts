// BLAKE3 core in AssemblyScript: incremental hasher state machine, SIMD subtree hashing and tree helpers for Bao/Merkle.
// Memory layout is static: JS copies input into IN, reads results from OUT; hasher states live in fixed slots.
import { compress, compressXof, hash4, hash4Lanes } from "./kernels";

const CHUNK_LEN: u32 = 1024;
const CHUNK_START: u32 = 1;
const CHUNK_END: u32 = 2;
const PARENT: u32 = 4;
const ROOT: u32 = 8;

/** Input buffer size: JS feeds at most this many bytes per call. */
const IN_CAP: usize = 1 << 20;
/** Output buffer size (XOF output, CV arrays). */
const OUT_CAP: usize = 1 << 20;
/** Largest subtree hashed in one go (chunks); its chunk CVs fit in SCRATCH. */
const MAX_SUBTREE_CHUNKS: u64 = 1024;

/** IN is a little larger than IN_CAP so a combined Bao subtree (1 MiB data + its parents) fits. */
const IN: usize = memory.data(<i32>(IN_CAP + 65536), 64);
/** De-interleaved subtree data for Bao verification. */
const DATA: usize = memory.data(<i32>IN_CAP, 64);
/** All tree levels of one subtree (up to 2 x 1024 CVs). */
const LEVELS: usize = memory.data(<i32>(MAX_SUBTREE_CHUNKS * 64 + 64), 64);
const LEVEL_OFF: usize = memory.data(16 * 4, 16);
const CV_OUT: usize = memory.data(32, 16);
const CV_EXPECT: usize = memory.data(32, 16);
const OUT: usize = memory.data(<i32>OUT_CAP, 64);
const SCRATCH: usize = memory.data(<i32>(MAX_SUBTREE_CHUNKS * 32), 64);
const KEY: usize = memory.data(32, 16);
const TMP_CV: usize = memory.data(32, 16);
const TMP_BLOCK: usize = memory.data(64, 16);
const TMP_OUT: usize = memory.data(64, 16);
const IV_WORDS: usize = memory.data<u32>([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

// Hasher state layout (bytes).
const S_KEY: usize = 0; // 8 words
const S_FLAGS: usize = 32;
const S_BLOCKS: usize = 36; // blocks compressed in the current chunk
const S_BUFLEN: usize = 40;
const S_STACKLEN: usize = 44;
const S_COUNTER: usize = 48; // u64 chunk counter
const S_CV: usize = 64; // current chunk chaining value
const S_BUF: usize = 96; // 64-byte block buffer
const S_STACK: usize = 160; // 54 x 32-byte CV stack
const STATE_SIZE: usize = 2048;
const STATE_SLOTS: i32 = 2;
const STATES: usize = memory.data(<i32>STATE_SIZE * STATE_SLOTS, 64);

export function inPtr(): usize { return IN; }
export function outPtr(): usize { return OUT; }
export function keyPtr(): usize { return KEY; }
export function inCap(): usize { return IN_CAP; }
export function outCap(): usize { return OUT_CAP; }
export function stateSize(): usize { return STATE_SIZE; }
export function statePtr(i: i32): usize { return STATES + <usize>i * STATE_SIZE; }

// ---------------------------------------------------------------- chunk and tree primitives

/** CV (or root output parameters) of one chunk of `len` bytes (0..1024) at `ptr`; writes 32 bytes to out. */
function chunkCVInto(key: usize, flags: u32, ptr: usize, len: u32, counter: u64, out: usize, root: bool): void {
  memory.copy(TMP_CV, key, 32);
  let blocks: u32 = len == 0 ? 1 : (len + 63) >> 6;
  for (let b: u32 = 0; b + 1 < blocks; b++) {
    compress(TMP_CV, ptr + (<usize>b << 6), 64, counter, flags | (b == 0 ? CHUNK_START : 0), TMP_CV);
  }
  const last = blocks - 1;
  const lastLen = len - (last << 6);
  memory.fill(TMP_BLOCK, 0, 64);
  memory.copy(TMP_BLOCK, ptr + (<usize>last << 6), lastLen);
  const f = flags | (last == 0 ? CHUNK_START : 0) | CHUNK_END | (root ? ROOT : 0);
  compress(TMP_CV, TMP_BLOCK, lastLen, root ? 0 : counter, f, out);
}

/** Pairs up `n` CVs at `src` into parent CVs at `dst` (may equal src); an odd last CV is carried up. Returns the new count. */
function reduceLevel(key: usize, flags: u32, src: usize, n: u32, dst: usize, nodeFlags: u32 = PARENT): u32 {
  const pairs = n >> 1;
  let i: u32 = 0;
  for (; i + 4 <= pairs; i += 4) {
    hash4(src + (<usize>i << 6), 64, 1, key, 0, false, flags | nodeFlags, 0, 0, dst + (<usize>i << 5));
  }
  for (; i < pairs; i++) {
    compress(key, src + (<usize>i << 6), 64, 0, flags | nodeFlags, dst + (<usize>i << 5));
  }
  if (n & 1) {
    memory.copy(dst + (<usize>pairs << 5), src + (<usize>(n - 1) << 5), 32);
    return pairs + 1;
  }
  return pairs;
}

/** Chunk CVs of `len` bytes at ptr (chunks from `counter`) into dst; the last chunk may be partial. Returns the chunk count. */
function chunkCVs(key: usize, flags: u32, ptr: usize, len: usize, counter: u64, dst: usize): u32 {
  const full = <u32>(len >> 10);
  let i: u32 = 0;
  for (; i + 4 <= full; i += 4) {
    hash4(ptr + (<usize>i << 10), CHUNK_LEN, 16, key, counter + i, true, flags, CHUNK_START, CHUNK_END, dst + (<usize>i << 5));
  }
  for (; i < full; i++) chunkCVInto(key, flags, ptr + (<usize>i << 10), CHUNK_LEN, counter + i, dst + (<usize>i << 5), false);
  const rest = <u32>(len & 1023);
  if (rest > 0) {
    chunkCVInto(key, flags, ptr + (<usize>full << 10), rest, counter + full, dst + (<usize>full << 5), false);
    return full + 1;
  }
  return full;
}

/** Non-root CV of the left-complete subtree over `len` bytes (1..1 MiB) at ptr, first chunk `counter`; written to out. */
function subtreeCVInto(key: usize, flags: u32, ptr: usize, len: usize, counter: u64, out: usize): void {
  let n = chunkCVs(key, flags, ptr, len, counter, SCRATCH);
  while (n > 1) n = reduceLevel(key, flags, SCRATCH, n, SCRATCH);
  memory.copy(out, SCRATCH, 32);
}

// ---------------------------------------------------------------- incremental hasher

/** Resets state `st`; uses the key at KEY when keyed, else the IV. */
export function hasherInit(st: usize, flags: u32, keyed: bool): void {
  memory.fill(st, 0, S_STACK);
  memory.copy(st + S_KEY, keyed ? KEY : IV_WORDS, 32);
  memory.copy(st + S_CV, st + S_KEY, 32);
  store<u32>(st, flags, S_FLAGS);
}

/** Lazy merge: reduces the CV stack to popcount(chunksBefore) complete subtrees. Returns the new length. */
function mergeStack(st: usize, chunksBefore: u64): u32 {
  const key = st + S_KEY;
  const flags = load<u32>(st, S_FLAGS);
  let len = load<u32>(st, S_STACKLEN);
  const target = <u32>popcnt<u64>(chunksBefore);
  while (len > target) {
    const left = st + S_STACK + (<usize>(len - 2) << 5);
    compress(key, left, 64, 0, flags | PARENT, left);
    len--;
  }
  store<u32>(st, len, S_STACKLEN);
  return len;
}

function pushCV(st: usize, cv: usize, chunksBefore: u64): void {
  const len = mergeStack(st, chunksBefore);
  memory.copy(st + S_STACK + (<usize>len << 5), cv, 32);
  store<u32>(st, len + 1, S_STACKLEN);
}

function resetChunk(st: usize, counter: u64): void {
  memory.copy(st + S_CV, st + S_KEY, 32);
  store<u64>(st, counter, S_COUNTER);
  store<u32>(st, 0, S_BLOCKS);
  store<u32>(st, 0, S_BUFLEN);
  memory.fill(st + S_BUF, 0, 64);
}

/** Absorbs `len` bytes at `ptr`; `more` promises that more input follows before finalization (allows whole subtrees). */
export function hasherUpdate(st: usize, ptr: usize, len: usize, more: bool): void {
  const key = st + S_KEY;
  const flags = load<u32>(st, S_FLAGS);
  while (len > 0) {
    let blocks = load<u32>(st, S_BLOCKS);
    let bufLen = load<u32>(st, S_BUFLEN);
    const counter = load<u64>(st, S_COUNTER);
    const chunkLen = (blocks << 6) + bufLen;
    if (chunkLen == CHUNK_LEN) {
      // The chunk is full and more input follows: it is not the root.
      compress(st + S_CV, st + S_BUF, 64, counter, flags | CHUNK_END, st + S_CV);
      pushCV(st, st + S_CV, counter);
      resetChunk(st, counter + 1);
      continue;
    }
    if (chunkLen == 0 && (len > <usize>CHUNK_LEN || (more && len == <usize>CHUNK_LEN))) {
      // Whole aligned subtrees, keeping at least one byte for the chunk state unless more input is promised.
      let n: u64 = 1;
      while (n < MAX_SUBTREE_CHUNKS && (counter & (n * 2 - 1)) == 0 && ((n * 2) << 10 < <u64>len || (more && (n * 2) << 10 == <u64>len))) n *= 2;
      const bytes = <usize>(n << 10);
      if (n == 1) chunkCVInto(key, flags, ptr, CHUNK_LEN, counter, TMP_OUT, false);
      else subtreeCVInto(key, flags, ptr, bytes, counter, TMP_OUT);
      pushCV(st, TMP_OUT, counter);
      store<u64>(st, counter + n, S_COUNTER);
      ptr += bytes;
      len -= bytes;
      continue;
    }
    if (bufLen == 64) {
      compress(st + S_CV, st + S_BUF, 64, counter, flags | (blocks == 0 ? CHUNK_START : 0), st + S_CV);
      blocks++;
      store<u32>(st, blocks, S_BLOCKS);
      bufLen = 0;
      memory.fill(st + S_BUF, 0, 64);
    }
    // Blocks 0..14 straight from the input when more input follows them.
    while (bufLen == 0 && blocks < 15 && len > 64) {
      compress(st + S_CV, ptr, 64, counter, flags | (blocks == 0 ? CHUNK_START : 0), st + S_CV);
      blocks++;
      ptr += 64;
      len -= 64;
    }
    store<u32>(st, blocks, S_BLOCKS);
    let take = <usize>(64 - bufLen);
    if (take > len) take = len;
    memory.copy(st + S_BUF + bufLen, ptr, take);
    store<u32>(st, bufLen + <u32>take, S_BUFLEN);
    ptr += take;
    len -= take;
  }
  // The chunk state holds input now, so nothing on the stack can be the root: merge fully (simplifies finalize).
  if (hasherChunkLen(st) > 0 || more) mergeStack(st, load<u64>(st, S_COUNTER));
}

/** Pushes the CV of a complete aligned subtree of `chunks` chunks (hashed elsewhere); the chunk state must be empty. */
export function hasherPushSubtree(st: usize, cv: usize, chunksF: f64): void {
  const chunks = <u64>chunksF;
  const counter = load<u64>(st, S_COUNTER);
  pushCV(st, cv, counter);
  resetChunk(st, counter + chunks);
}

/** Chunk counter of the state (chunks absorbed before the current chunk). */
export function hasherCounter(st: usize): f64 {
  return <f64>load<u64>(st, S_COUNTER);
}

/** Bytes buffered in the current chunk. */
export function hasherChunkLen(st: usize): u32 {
  return (load<u32>(st, S_BLOCKS) << 6) + load<u32>(st, S_BUFLEN);
}

/** Writes `outLen` bytes of the root output (starting at 64-byte output block `seek`) to OUT. State is unchanged. */
export function hasherFinalize(st: usize, outLen: usize, seekF: f64): void {
  const seek = <u64>seekF;
  const key = st + S_KEY;
  const flags = load<u32>(st, S_FLAGS);
  const blocks = load<u32>(st, S_BLOCKS);
  const bufLen = load<u32>(st, S_BUFLEN);
  const chunkLen = (blocks << 6) + bufLen;
  let n = load<u32>(st, S_STACKLEN);
  // Root output parameters: input CV in TMP_CV, block in TMP_BLOCK.
  let blockLen: u32;
  let outFlags: u32;
  if (n == 0 || chunkLen > 0) {
    memory.copy(TMP_CV, st + S_CV, 32);
    memory.copy(TMP_BLOCK, st + S_BUF, 64);
    blockLen = bufLen;
    outFlags = flags | (blocks == 0 ? CHUNK_START : 0) | CHUNK_END;
    if (n > 0) {
      // Chaining value of the last chunk, then fold the stack.
      compress(TMP_CV, TMP_BLOCK, blockLen, load<u64>(st, S_COUNTER), outFlags, TMP_OUT);
      memory.copy(TMP_BLOCK, st + S_STACK + (<usize>(n - 1) << 5), 32);
      memory.copy(TMP_BLOCK + 32, TMP_OUT, 32);
      n--;
      memory.copy(TMP_CV, key, 32);
      blockLen = 64;
      outFlags = flags | PARENT;
    }
  } else {
    memory.copy(TMP_BLOCK, st + S_STACK + (<usize>(n - 2) << 5), 64);
    n -= 2;
    memory.copy(TMP_CV, key, 32);
    blockLen = 64;
    outFlags = flags | PARENT;
  }
  while (n > 0) {
    compress(TMP_CV, TMP_BLOCK, blockLen, 0, outFlags, TMP_OUT);
    memory.copy(TMP_BLOCK, st + S_STACK + (<usize>(n - 1) << 5), 32);
    memory.copy(TMP_BLOCK + 32, TMP_OUT, 32);
    n--;
  }
  rootOutput(blockLen, outFlags, outLen, seek);
}

/** Extendable output from TMP_CV/TMP_BLOCK into OUT. */
function rootOutput(blockLen: u32, outFlags: u32, outLen: usize, seek: u64): void {
  let pos: usize = 0;
  let block = seek;
  while (pos < outLen) {
    compressXof(TMP_CV, TMP_BLOCK, blockLen, block, outFlags | ROOT, TMP_OUT);
    let take = outLen - pos;
    if (take > 64) take = 64;
    memory.copy(OUT + pos, TMP_OUT, take);
    pos += take;
    block++;
  }
}

// ---------------------------------------------------------------- tree helpers (Bao, compact outboards, multi-core)

/**
 * Hashes IN[0..len) (len <= 1 MiB) as consecutive groups of 2^log2Chunks chunks starting at chunk `counter` (aligned to the
 * group size), with the key and flags of state `st`; writes one non-root 32-byte CV per group to OUT (the last group may be
 * partial). Returns the group count.
 */
export function groupCVs(st: usize, len: usize, counterF: f64, log2Chunks: u32): u32 {
  const counter = <u64>counterF;
  const key = st + S_KEY;
  const flags = load<u32>(st, S_FLAGS);
  let n = chunkCVs(key, flags, IN, len, counter, SCRATCH);
  // Pairing never crosses an aligned group boundary below the group level, so whole-array levels give the group CVs.
  for (let l: u32 = 0; l < log2Chunks && n > 1; l++) n = reduceLevel(key, flags, SCRATCH, n, SCRATCH);
  memory.copy(OUT, SCRATCH, <usize>n << 5);
  return n;
}

let emitPos: usize = 0;

function emitPreorder(s: u32, n: u32): void {
  if (n <= 1) return;
  const k = <u32>(31 - clz<u32>(n - 1));
  const src = LEVELS + <usize>load<u32>(LEVEL_OFF + (<usize>k << 2)) + (<usize>(s >> (k + 1)) << 6);
  memory.copy(OUT + emitPos, src, 64);
  emitPos += 64;
  emitPreorder(s, 1 << k);
  emitPreorder(s + (1 << k), n - (1 << k));
}

/** Builds all levels of the subtree over `len` bytes at `src` into LEVELS; returns the chunk count. Root CV to CV_OUT. */
function buildLevels(key: usize, flags: u32, src: usize, len: usize, counter: u64): u32 {
  const n0 = chunkCVs(key, flags, src, len, counter, LEVELS);
  let off: u32 = 0;
  let n = n0;
  let l = 0;
  store<u32>(LEVEL_OFF, 0);
  while (n > 1) {
    const next = off + (n << 5);
    n = reduceLevel(key, flags, LEVELS + off, n, LEVELS + next);
    l++;
    store<u32>(LEVEL_OFF + (<usize>l << 2), next);
    off = next;
  }
  memory.copy(CV_OUT, LEVELS + off, 32);
  return n0;
}

/**
 * Bao outboard of one subtree: IN[0..len) (len <= 1 MiB, chunk `counter` aligned; a perfect subtree or the input's tail).
 * Writes its parent nodes in pre-order to OUT, the subtree's non-root CV to CV_OUT; returns the bytes written.
 */
export function baoSubtree(st: usize, len: usize, counterF: f64): u32 {
  const n0 = buildLevels(st + S_KEY, load<u32>(st, S_FLAGS), IN, len, <u64>counterF);
  emitPos = 0;
  emitPreorder(0, n0);
  return <u32>emitPos;
}

/**
 * Verifies a combined Bao encoding of one whole non-root subtree held in IN[0..encLen): `dataLen` content bytes from chunk
 * `counter` (a perfect subtree or the input's tail, at most 1 MiB). True when every parent and the subtree CV (against the
 * 32 bytes at CV_EXPECT) match; the content is then in DATA.
 */
export function baoVerifySubtree(st: usize, encLen: usize, dataLen: usize, counterF: f64): bool {
  if (dataLen == 0 || dataLen > IN_CAP) return false;
  const chunks = <u32>((dataLen + 1023) >> 10);
  if (encLen != <usize>(chunks - 1) * 64 + dataLen) return false;
  // De-interleave the pre-order layout: chunk data to DATA, parents to the front of OUT.
  emitPos = 0;
  dePos = 0;
  deinterleave(0, chunks, dataLen);
  const got = emitPos;
  const n0 = buildLevels(st + S_KEY, load<u32>(st, S_FLAGS), DATA, dataLen, <u64>counterF);
  if (memory.compare(CV_OUT, CV_EXPECT, 32) != 0) return false;
  // Re-emit the expected parents after the extracted ones and compare.
  emitPreorder(0, n0);
  return emitPos - got == got && memory.compare(OUT, OUT + got, got) == 0;
}

let dePos: usize = 0;

function deinterleave(s: u32, n: u32, dataLen: usize): void {
  if (n <= 1) {
    const off = <usize>s << 10;
    let bytes = dataLen - off;
    if (bytes > 1024) bytes = 1024;
    memory.copy(DATA + off, IN + dePos, bytes);
    dePos += bytes;
    return;
  }
  memory.copy(OUT + emitPos, IN + dePos, 64);
  emitPos += 64;
  dePos += 64;
  const k = <u32>(31 - clz<u32>(n - 1));
  deinterleave(s, 1 << k, dataLen);
  deinterleave(s + (1 << k), n - (1 << k), dataLen);
}

// ---------------------------------------------------------------- single-chunk Bao slices (storage proofs)

const PATH_CV: usize = memory.data(32, 16);

/** Parents on the path of the last pathDirs call. */
let pathLen: u32 = 0;

/**
 * The path from the root of an `n`-chunk tree down to chunk `index`: bit d of the result is set when the path takes the
 * right child at depth d; its length (the slice's parent count) goes to pathLen.
 */
@inline function pathDirs(n: u64, index: u64): u64 {
  let dirs: u64 = 0;
  let depth: u32 = 0;
  let s: u64 = 0;
  let m: u64 = n;
  while (m > 1) {
    const left: u64 = (<u64>1) << (63 - clz<u64>(m - 1));
    if (index >= s + left) {
      dirs |= (<u64>1) << depth;
      s += left;
      m -= left;
    } else {
      m = left;
    }
    depth++;
  }
  pathLen = depth;
  return dirs;
}

/**
 * Verifies the body of a single-chunk Bao slice held in IN: the parent blocks on the path from the root down to chunk
 * `index` of a tree of `n` chunks (pre-order, root first, 64 bytes each), then the chunk's `len` bytes. Works bottom-up:
 * the chunk CV (the root hash when n = 1), then at each parent the half on the path must equal the child's CV and the
 * parent's CV (ROOT-flagged at the top) is carried up; true when the result equals the 32 bytes at CV_EXPECT. The caller
 * checks that the slice has exactly this length.
 */
export function verifyChunkPath(st: usize, nF: f64, indexF: f64, len: u32): bool {
  const n = <u64>nF;
  const index = <u64>indexF;
  if (n == 0 || index >= n || len > CHUNK_LEN) return false;
  const key = st + S_KEY;
  const flags = load<u32>(st, S_FLAGS);
  const dirs = pathDirs(n, index);
  const depth = pathLen;
  chunkCVInto(key, flags, IN + (<usize>depth << 6), len, index, PATH_CV, depth == 0);
  for (let d = <i32>depth - 1; d >= 0; d--) {
    const block = IN + (<usize>d << 6);
    const half = block + (((dirs >> <u64>d) & 1) != 0 ? 32 : 0);
    if (memory.compare(half, PATH_CV, 32) != 0) return false;
    compress(key, block, 64, 0, flags | PARENT | (d == 0 ? ROOT : 0), PATH_CV);
  }
  return memory.compare(PATH_CV, CV_EXPECT, 32) == 0;
}

// Many single-chunk slices of one tree in one call (a storage-proof answer): chunk CVs and the parents on every path are
// compressed four slices at a time; slices at the same height above their chunk share a 4-way call.

/** Most slices one chunkSlices call checks. */
const MAX_SLICES: u32 = 128;
const SL_LANES: usize = memory.data(64, 16);
const SL_OUT4: usize = memory.data(128, 16);
const SL_CV: usize = memory.data(<i32>MAX_SLICES * 32, 16);
const SL_PARENTS: usize = memory.data(<i32>MAX_SLICES * 4, 16);
const SL_REM: usize = memory.data(<i32>MAX_SLICES * 4, 16);
const SL_DIRS: usize = memory.data(<i32>MAX_SLICES * 8, 16);
const SL_OK: usize = memory.data(<i32>MAX_SLICES, 16);

export function maxChunkSlices(): u32 { return MAX_SLICES; }

/** Sets lane `l` of SL_LANES to input `ptr` with chunk counter `counter`. */
@inline function setLane(l: u32, ptr: usize, counter: u64): void {
  store<u32>(SL_LANES + (<usize>l << 4), <u32>ptr);
  store<u64>(SL_LANES + (<usize>l << 4), counter, 8);
}

/**
 * Verifies `count` (<= MAX_SLICES) standard single-chunk Bao slices of one `size`-byte tree against the 32-byte root at
 * CV_EXPECT. Slice i is described at DATA + 16 i: u32 offset of the slice (its 8-byte length header) in IN, u32 slice
 * length, u64 chunk index. A slice passes when its header states `size`, its length is exactly header + path parents +
 * chunk, every parent's half on the path equals the child's CV and the top parent (the chunk, for a one-chunk tree)
 * hashes to the root. Returns `count` when every slice passes, else the lowest failing i. When every slice passes and
 * digestLen > 0, also writes BLAKE3(IN[0..digestLen)) to OUT (the bytes the slices sit in, hashed where they lie);
 * state slot `st` is re-initialised for that.
 */
export function chunkSlices(st: usize, count: u32, sizeF: f64, digestLen: usize): u32 {
  if (count == 0 || count > MAX_SLICES || digestLen > IN_CAP) return 0;
  const size = <u64>sizeF;
  const n: u64 = size == 0 ? 1 : (size + 1023) >> 10;
  // Bao trees are plain BLAKE3: the IV as key, no mode flags (st is only the digest's scratch slot).
  const key = IV_WORDS;
  const flags: u32 = 0;
  // Parse: exact length, header, path directions; a slice that fails any of these is out (SL_OK = 0).
  let maxRem: u32 = 0;
  for (let i: u32 = 0; i < count; i++) {
    const d = DATA + (<usize>i << 4);
    const off = <usize>load<u32>(d);
    const len = <usize>load<u32>(d, 4);
    const index = load<u64>(d, 8);
    store<u8>(SL_OK + i, 0);
    store<u32>(SL_REM + (<usize>i << 2), 0);
    if (index >= n || len < 8 || off + len > IN_CAP || load<u64>(IN + off) != size) continue;
    const dirs = pathDirs(n, index);
    const depth = pathLen;
    const rest = size - (index << 10);
    const chunkLen = <u32>(rest < 1024 ? rest : 1024);
    if (len != 8 + (<usize>depth << 6) + <usize>chunkLen) continue;
    store<u8>(SL_OK + i, 1);
    store<u32>(SL_PARENTS + (<usize>i << 2), <u32>(IN + off + 8));
    store<u32>(SL_REM + (<usize>i << 2), depth);
    store<u64>(SL_DIRS + (<usize>i << 3), dirs);
    if (depth > maxRem) maxRem = depth;
  }
  // Chunk CVs: whole non-root chunks four at a time, the rest (a short final chunk, a one-chunk tree) one by one.
  let lanes: u32 = 0;
  let laneOf0: u32 = 0, laneOf1: u32 = 0, laneOf2: u32 = 0, laneOf3: u32 = 0;
  for (let i: u32 = 0; i <= count; i++) {
    if (i < count) {
      if (load<u8>(SL_OK + i) == 0) continue;
      const depth = load<u32>(SL_REM + (<usize>i << 2));
      const index = load<u64>(DATA + (<usize>i << 4), 8);
      const chunk = <usize>load<u32>(SL_PARENTS + (<usize>i << 2)) + (<usize>depth << 6);
      const len = <u32>(load<u32>(DATA + (<usize>i << 4), 4) - 8 - (depth << 6));
      if (len != CHUNK_LEN || depth == 0) {
        chunkCVInto(key, flags, chunk, len, index, SL_CV + (<usize>i << 5), depth == 0);
        continue;
      }
      setLane(lanes, chunk, index);
      if (lanes == 0) laneOf0 = i; else if (lanes == 1) laneOf1 = i; else if (lanes == 2) laneOf2 = i; else laneOf3 = i;
      lanes++;
      if (lanes < 4) continue;
    }
    if (lanes == 0) continue;
    if (lanes == 1) {
      const ptr = <usize>load<u32>(SL_LANES);
      chunkCVInto(key, flags, ptr, CHUNK_LEN, load<u64>(SL_LANES, 8), SL_CV + (<usize>laneOf0 << 5), false);
    } else {
      for (let l = lanes; l < 4; l++) setLane(l, <usize>load<u32>(SL_LANES), load<u64>(SL_LANES, 8));
      hash4Lanes(SL_LANES, 16, key, flags, CHUNK_START, CHUNK_END, SL_OUT4);
      memory.copy(SL_CV + (<usize>laneOf0 << 5), SL_OUT4, 32);
      memory.copy(SL_CV + (<usize>laneOf1 << 5), SL_OUT4 + 32, 32);
      if (lanes > 2) memory.copy(SL_CV + (<usize>laneOf2 << 5), SL_OUT4 + 64, 32);
      if (lanes > 3) memory.copy(SL_CV + (<usize>laneOf3 << 5), SL_OUT4 + 96, 32);
    }
    lanes = 0;
  }
  // Parents, from the greatest height down: every slice whose next parent is at height h (counted from the root) in
  // one pass, four at a time; at h = 0 the parent is the root (ROOT flag) and the result is compared with the root.
  for (let h = <i32>maxRem - 1; h >= 0; h--) {
    const pflags = flags | PARENT | (h == 0 ? ROOT : 0);
    lanes = 0;
    for (let i: u32 = 0; i <= count; i++) {
      if (i < count) {
        if (load<u8>(SL_OK + i) == 0 || load<u32>(SL_REM + (<usize>i << 2)) != <u32>(h + 1)) continue;
        const block = <usize>load<u32>(SL_PARENTS + (<usize>i << 2)) + (<usize>h << 6);
        const right = ((load<u64>(SL_DIRS + (<usize>i << 3)) >> <u64>h) & 1) != 0;
        const cv = SL_CV + (<usize>i << 5);
        store<u32>(SL_REM + (<usize>i << 2), <u32>h);
        if (memory.compare(block + (right ? 32 : 0), cv, 32) != 0) {
          store<u8>(SL_OK + i, 0);
          continue;
        }
        setLane(lanes, block, 0);
        if (lanes == 0) laneOf0 = i; else if (lanes == 1) laneOf1 = i; else if (lanes == 2) laneOf2 = i; else laneOf3 = i;
        lanes++;
        if (lanes < 4) continue;
      }
      if (lanes == 0) continue;
      if (lanes == 1) {
        compress(key, <usize>load<u32>(SL_LANES), 64, 0, pflags, SL_CV + (<usize>laneOf0 << 5));
      } else {
        for (let l = lanes; l < 4; l++) setLane(l, <usize>load<u32>(SL_LANES), 0);
        hash4Lanes(SL_LANES, 1, key, pflags, 0, 0, SL_OUT4);
        memory.copy(SL_CV + (<usize>laneOf0 << 5), SL_OUT4, 32);
        memory.copy(SL_CV + (<usize>laneOf1 << 5), SL_OUT4 + 32, 32);
        if (lanes > 2) memory.copy(SL_CV + (<usize>laneOf2 << 5), SL_OUT4 + 64, 32);
        if (lanes > 3) memory.copy(SL_CV + (<usize>laneOf3 << 5), SL_OUT4 + 96, 32);
      }
      lanes = 0;
    }
  }
  for (let i: u32 = 0; i < count; i++) {
    if (load<u8>(SL_OK + i) == 0 || memory.compare(SL_CV + (<usize>i << 5), CV_EXPECT, 32) != 0) return i;
  }
  if (digestLen > 0) hashOneShot(st, 0, false, digestLen, 32);
  return count;
}

/**
 * Builds the tree of one chunk group IN[0..len) (first chunk `counter`, a perfect subtree or the input's tail) and keeps
 * its levels for groupPath; the group's non-root CV goes to CV_OUT. Returns the chunk count.
 */
export function groupTree(st: usize, len: usize, counterF: f64): u32 {
  groupChunks = buildLevels(st + S_KEY, load<u32>(st, S_FLAGS), IN, len, <u64>counterF);
  return groupChunks;
}

let groupChunks: u32 = 0;

/** Writes to OUT the parent blocks on the path from the last groupTree's root down to its chunk `rel` (top-down); returns the bytes written. */
export function groupPath(rel: u32): u32 {
  let pos: usize = 0;
  let s: u32 = 0;
  let m: u32 = groupChunks;
  while (m > 1) {
    const k = <u32>(31 - clz<u32>(m - 1));
    memory.copy(OUT + pos, LEVELS + <usize>load<u32>(LEVEL_OFF + (<usize>k << 2)) + (<usize>(s >> (k + 1)) << 6), 64);
    pos += 64;
    if (rel >= s + (1 << k)) {
      s += 1 << k;
      m -= 1 << k;
    } else {
      m = 1 << k;
    }
  }
  return <u32>pos;
}

export function cvOutPtr(): usize { return CV_OUT; }
export function cvExpectPtr(): usize { return CV_EXPECT; }
export function dataPtr(): usize { return DATA; }

/** Reduces `n` CVs in IN to their parents in OUT (odd last carried). Returns the new count. */
export function parentLevel(st: usize, n: u32): u32 {
  return reduceLevel(st + S_KEY, load<u32>(st, S_FLAGS), IN, n, OUT);
}

/** CV of one chunk IN[0..len) with chunk counter `counter`, or its root hash when root; 32 bytes to OUT. */
export function chunkCV(st: usize, len: u32, counterF: f64, root: bool): void {
  const counter = <u64>counterF;
  chunkCVInto(st + S_KEY, load<u32>(st, S_FLAGS), IN, len, counter, OUT, root);
}

/** Parent CV of the 64-byte block IN[0..64), or the root hash when root; 32 bytes to OUT. */
export function parentCV(st: usize, root: bool): void {
  compress(st + S_KEY, IN, 64, 0, load<u32>(st, S_FLAGS) | PARENT | (root ? ROOT : 0), OUT);
}

// Merkle: every leaf and node hash is one BLAKE3 keyed-hash compression (a single zero-padded block with
// CHUNK_START | CHUNK_END | ROOT | KEYED_HASH), keyed by the state's key (the leaf key or the node key).
const ONE_BLOCK: u32 = CHUNK_START | CHUNK_END | ROOT;
const SPREAD: usize = memory.data(256, 64);

/** Leaf hashes of `count` packed 32-byte leaves in IN, written packed to OUT. */
export function merkleLeaves(st: usize, count: u32): void {
  const key = st + S_KEY;
  const flags = load<u32>(st, S_FLAGS) | ONE_BLOCK;
  let i: u32 = 0;
  memory.fill(SPREAD, 0, 256);
  for (; i + 4 <= count; i += 4) {
    const src = IN + (<usize>i << 5);
    v128.store(SPREAD, v128.load(src, 0), 0); v128.store(SPREAD, v128.load(src, 16), 16);
    v128.store(SPREAD, v128.load(src, 32), 64); v128.store(SPREAD, v128.load(src, 48), 80);
    v128.store(SPREAD, v128.load(src, 64), 128); v128.store(SPREAD, v128.load(src, 80), 144);
    v128.store(SPREAD, v128.load(src, 96), 192); v128.store(SPREAD, v128.load(src, 112), 208);
    hash4(SPREAD, 64, 1, key, 0, false, flags, 0, 0, OUT + (<usize>i << 5), 32);
  }
  for (; i < count; i++) {
    memory.copy(SPREAD, IN + (<usize>i << 5), 32);
    compress(key, SPREAD, 32, 0, flags, OUT + (<usize>i << 5));
  }
}

/**
 * Merkle root of the subtree over `count` packed leaves in IN (count <= 32768, a power of two or the tree's tail):
 * leaf hashes with the key of state `leafSt`, nodes with the key of `nodeSt`; the 32-byte root goes to OUT.
 */
export function merkleSubtree(leafSt: usize, nodeSt: usize, count: u32): void {
  merkleLeaves(leafSt, count);
  const key = nodeSt + S_KEY;
  const flags = load<u32>(nodeSt, S_FLAGS);
  let n = count;
  while (n > 1) n = reduceLevel(key, flags, OUT, n, OUT, ONE_BLOCK);
}

/** One Merkle level: `n` packed node hashes in IN paired into OUT (odd last carried up). Returns the new count. */
export function merkleLevel(st: usize, n: u32): u32 {
  return reduceLevel(st + S_KEY, load<u32>(st, S_FLAGS), IN, n, OUT, ONE_BLOCK);
}

/** One-shot: hashes IN[0..len) in slot `st` (flags, key at KEY when keyed) and writes outLen (<= OUT_CAP) bytes to OUT. */
export function hashOneShot(st: usize, flags: u32, keyed: bool, len: usize, outLen: usize): void {
  hasherInit(st, flags, keyed);
  if (len <= <usize>CHUNK_LEN || len > IN_CAP) {
    hasherUpdate(st, IN, len, false);
    hasherFinalize(st, outLen, 0);
    return;
  }
  // The whole input is here: all chunk CVs four at a time, levels down to the root's two children, then the root.
  const key = st + S_KEY;
  let n = chunkCVs(key, flags, IN, len, 0, SCRATCH);
  while (n > 2) n = reduceLevel(key, flags, SCRATCH, n, SCRATCH);
  memory.copy(TMP_CV, key, 32);
  memory.copy(TMP_BLOCK, SCRATCH, 64);
  rootOutput(64, flags | PARENT, outLen, 0);
}
