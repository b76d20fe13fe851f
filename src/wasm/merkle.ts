// Merkle trees over 32-byte leaves (receipts, manifests, batches): binary, BLAKE3, domain-separated leaves and nodes.
//
// Construction (slowdrip merkle v1):
//   K_LEAF = BLAKE3("slowdrip merkle v1 leaf")   K_NODE = BLAKE3("slowdrip merkle v1 node")   (ASCII, plain hash)
//   leaf hash  H(x)    = BLAKE3 keyed_hash(K_LEAF, x)        x: the 32-byte leaf
//   node hash  N(l, r) = BLAKE3 keyed_hash(K_NODE, l || r)   (64 bytes)
//   Level 0 is H(leaf_i). Each level pairs nodes (2i, 2i+1) into N(...); an odd last node is carried up unchanged.
//   The root is the single node left (for one leaf: H(leaf)); the root of no leaves is keyed_hash(K_NODE, "").
//   This is the same left-complete shape as the BLAKE3 tree: the left subtree of n leaves holds the largest power of
//   two below n. Every hash is a single BLAKE3 compression, computed four at a time in WebAssembly SIMD.
// Proof for leaf i of n: the sibling hashes from the bottom level up, skipping levels where the node is carried.
// Vectors: test/vectors/merkle/ (generated independently with @noble/hashes by test/vectors/merkle/generate.mjs).
import { checkBytes, keyedHash } from "./blake3.ts";
import { fromHex } from "./hex.ts";
import { FLAGS, getEngine, type Engine } from "./engine.ts";
import { pairLevels } from "./tree.ts";

/** Inclusion proof of leaf `index` in a tree of `size` leaves. */
export interface MerkleProof {
  index: number;
  size: number;
  /** Sibling hashes, bottom level first. */
  siblings: Uint8Array[];
}

// Constants of the construction, written out so importing this module does no hashing (tests recompute them).
/** Key of leaf hashes: BLAKE3("slowdrip merkle v1 leaf"). */
export const MERKLE_LEAF_KEY = fromHex("c0ed11c5ce5a5c48931019559810a7c333c2fc06550f4173ecdab1d9372e8c22");
/** Key of node hashes: BLAKE3("slowdrip merkle v1 node"). */
export const MERKLE_NODE_KEY = fromHex("b25117d2580cf39f3cb4a7be2a8c1fd9c8a2e6fcad12b90f863bae798785a9af");
/** Root of the empty tree: keyed_hash(K_NODE, ""). */
export const MERKLE_EMPTY_ROOT = fromHex("6119911a7c98175200221dace833ec2b2418f89a971ae7aadf642aa38109e49e");

function keyed(e: Engine, key: Uint8Array): void {
  e.mem.set(key, e.KEY);
  e.x.hasherInit(e.S0, FLAGS.KEYED_HASH, 1);
}

function checkLeaf(leaf: unknown, what: string): Uint8Array {
  checkBytes(leaf, what);
  if (leaf.length !== 32) throw new RangeError(`${what}: a leaf must be 32 bytes, got ${leaf.length}`);
  return leaf;
}

/** Leaf hash H(x). */
export function merkleLeafHash(leaf: Uint8Array): Uint8Array {
  checkLeaf(leaf, "merkleLeafHash");
  return keyedHash(MERKLE_LEAF_KEY, leaf);
}

/** Node hash N(l, r). */
export function merkleNodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  const e = getEngine();
  keyed(e, MERKLE_NODE_KEY);
  e.mem.set(left, e.IN);
  e.mem.set(right, e.IN + 32);
  e.x.merkleLevel(e.S0, 2);
  return e.mem.slice(e.OUT, e.OUT + 32);
}

/** Packs leaves (checked) into one buffer; views laid out back to back in one buffer are taken as they are. */
function pack(leaves: Uint8Array[], what: string): Uint8Array {
  if (!Array.isArray(leaves)) throw new TypeError(`${what}: leaves must be an array of Uint8Array`);
  const n = leaves.length;
  if (n === 0) return new Uint8Array(0);
  const first = leaves[0]!;
  let contiguous = true;
  for (let i = 0; i < n; i++) {
    const l = leaves[i];
    if (!(l instanceof Uint8Array) || l.length !== 32) checkLeaf(l, `${what}: leaf ${i}`);
    if (contiguous && (l!.buffer !== first.buffer || l!.byteOffset !== first.byteOffset + 32 * i)) contiguous = false;
  }
  if (contiguous) return new Uint8Array(first.buffer, first.byteOffset, 32 * n);
  const out = new Uint8Array(32 * n);
  for (let i = 0; i < n; i++) out.set(leaves[i]!, 32 * i);
  return out;
}

/** All levels, level 0 = leaf hashes, last = [root]. */
function levelsOf(packed: Uint8Array): Uint8Array[] {
  const e = getEngine();
  const n = packed.length / 32;
  const batch = e.IN_CAP / 32;
  const l0 = new Uint8Array(packed.length);
  keyed(e, MERKLE_LEAF_KEY);
  for (let i = 0; i < n; i += batch) {
    const m = Math.min(batch, n - i);
    e.mem.set(packed.subarray(i * 32, (i + m) * 32), e.IN);
    e.x.merkleLeaves(e.S0, m);
    l0.set(e.mem.subarray(e.OUT, e.OUT + m * 32), i * 32);
  }
  keyed(e, MERKLE_NODE_KEY);
  const levels = pairLevels(e, l0, n, (s0, m) => e.x.merkleLevel(s0, m));
  return levels;
}

/** Merkle root of `leaves` (each 32 bytes). */
export function merkleRoot(leaves: Uint8Array[]): Uint8Array {
  if (!Array.isArray(leaves)) throw new TypeError("merkleRoot: leaves must be an array of Uint8Array");
  const n = leaves.length;
  if (n === 0) return MERKLE_EMPTY_ROOT.slice();
  const e = getEngine();
  // Two key slots: S0 holds the leaf key, S1 (borrowed from incremental hashers) the node key.
  e.owner?.saveState();
  e.owner = null;
  e.mem.set(MERKLE_LEAF_KEY, e.KEY);
  e.x.hasherInit(e.S0, FLAGS.KEYED_HASH, 1);
  e.mem.set(MERKLE_NODE_KEY, e.KEY);
  e.x.hasherInit(e.S1, FLAGS.KEYED_HASH, 1);
  // Aligned subtrees of 32768 leaves (1 MiB) are reduced to their roots in wasm; the few levels above them here.
  const batch = e.IN_CAP / 32;
  const roots = new Uint8Array(Math.ceil(n / batch) * 32);
  const { mem, IN, OUT } = e;
  for (let b = 0, i = 0; i < n; b++, i += batch) {
    const m = Math.min(batch, n - i);
    for (let j = 0; j < m; j++) {
      const l = leaves[i + j];
      if (!(l instanceof Uint8Array) || l.length !== 32) checkLeaf(l, `merkleRoot: leaf ${i + j}`);
      mem.set(l!, IN + 32 * j);
    }
    e.x.merkleSubtree(e.S0, e.S1, m);
    roots.set(mem.subarray(OUT, OUT + 32), b * 32);
  }
  let count = roots.length / 32;
  let cur = roots;
  while (count > 1) {
    const next = new Uint8Array(Math.ceil(count / 2) * 32);
    for (let i = 0, pos = 0; i < count; i += batch) {
      const m = Math.min(batch, count - i); // batch is even: pairs never straddle
      mem.set(cur.subarray(i * 32, (i + m) * 32), IN);
      const r = e.x.merkleLevel(e.S1, m);
      next.set(mem.subarray(OUT, OUT + r * 32), pos);
      pos += r * 32;
    }
    cur = next;
    count = Math.ceil(count / 2);
  }
  return cur.slice(0, 32);
}

/** A built tree: root and proofs for any leaf without re-hashing. */
export class MerkleTree {
  readonly #levels: Uint8Array[];
  readonly size: number;

  constructor(leaves: Uint8Array[]) {
    const packed = pack(leaves, "MerkleTree");
    this.size = leaves.length;
    this.#levels = packed.length === 0 ? [] : levelsOf(packed);
  }

  /** The root. */
  root(): Uint8Array {
    return this.size === 0 ? MERKLE_EMPTY_ROOT.slice() : this.#levels[this.#levels.length - 1]!.slice(0, 32);
  }

  /** Inclusion proof of leaf `index`. */
  proof(index: number): MerkleProof {
    if (typeof index !== "number") throw new TypeError("MerkleTree.proof: index must be a number");
    if (!Number.isInteger(index) || index < 0 || index >= this.size) {
      throw new RangeError(`MerkleTree.proof: index ${index} outside 0..${this.size - 1}`);
    }
    const siblings: Uint8Array[] = [];
    let i = index;
    let m = this.size;
    for (let l = 0; m > 1; l++) {
      const lv = this.#levels[l]!;
      const sib = i % 2 === 1 ? i - 1 : i + 1 < m ? i + 1 : -1;
      if (sib >= 0) siblings.push(lv.slice(sib * 32, sib * 32 + 32));
      i = Math.floor(i / 2);
      m = Math.ceil(m / 2);
    }
    return { index, size: this.size, siblings };
  }
}

/** Inclusion proof of leaf `index` in the tree over `leaves`. */
export function merkleProof(leaves: Uint8Array[], index: number): MerkleProof {
  return new MerkleTree(leaves).proof(index);
}

/** True when `proof` shows `leaf` at `proof.index` of a `proof.size`-leaf tree with root `root`. */
export function verifyMerkleProof(root: Uint8Array, leaf: Uint8Array, proof: MerkleProof): boolean {
  checkBytes(root, "verifyMerkleProof");
  if (root.length !== 32) throw new RangeError(`verifyMerkleProof: root must be 32 bytes, got ${root.length}`);
  checkLeaf(leaf, "verifyMerkleProof");
  if (typeof proof !== "object" || proof === null || !Array.isArray(proof.siblings)) throw new TypeError("verifyMerkleProof: malformed proof");
  const { index, size, siblings } = proof;
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  if (siblings.length > 64) return false;
  const e = getEngine();
  let h = merkleLeafHash(leaf);
  keyed(e, MERKLE_NODE_KEY);
  let i = index;
  let m = size;
  let k = 0;
  while (m > 1) {
    const hasSib = i % 2 === 1 || i + 1 < m;
    if (hasSib) {
      const sib = siblings[k++];
      if (!(sib instanceof Uint8Array) || sib.length !== 32) return false;
      const left = i % 2 === 1 ? sib : h;
      const right = i % 2 === 1 ? h : sib;
      e.mem.set(left, e.IN);
      e.mem.set(right, e.IN + 32);
      e.x.merkleLevel(e.S0, 2);
      h = e.mem.slice(e.OUT, e.OUT + 32);
    }
    i = Math.floor(i / 2);
    m = Math.ceil(m / 2);
  }
  if (k !== siblings.length) return false;
  for (let j = 0; j < 32; j++) if (h[j] !== root[j]) return false;
  return true;
}

/** Append-only Merkle builder (live manifests): O(log n) state; root() after n appends equals merkleRoot of those n. */
export class MerkleBuilder {
  /** Roots of perfect subtrees, largest first. */
  #stack: Uint8Array[] = [];
  #size = 0;

  /** Appends a leaf; returns its index. */
  append(leaf: Uint8Array): number {
    let h = merkleLeafHash(leaf);
    for (let n = this.#size; n & 1; n = Math.floor(n / 2)) h = merkleNodeHash(this.#stack.pop()!, h);
    this.#stack.push(h);
    return this.#size++;
  }

  /** Root of the leaves appended so far. */
  root(): Uint8Array {
    if (this.#size === 0) return MERKLE_EMPTY_ROOT.slice();
    let r = this.#stack[this.#stack.length - 1]!;
    for (let i = this.#stack.length - 2; i >= 0; i--) r = merkleNodeHash(this.#stack[i]!, r);
    return r.slice();
  }

  /** Leaves appended. */
  get size(): number {
    return this.#size;
  }
}
