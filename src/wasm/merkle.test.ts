// Unit tests for Merkle trees: pinned vectors, every proof of trees 1..1000, tampering fails, builder equals batch root.
import { describe, expect, it } from "vitest";
import { blake3 as nobleBlake3 } from "@noble/hashes/blake3.js";
import vectors from "../../test/vectors/merkle/vectors.json" with { type: "json" };
import { MerkleBuilder, MerkleTree, merkleProof, merkleRoot, verifyMerkleProof, toHex, fromHex } from "./index.ts";
import { MERKLE_EMPTY_ROOT, MERKLE_LEAF_KEY, MERKLE_NODE_KEY } from "./merkle.ts";

const V = vectors as unknown as {
  leaf_key: string; node_key: string; empty_root: string;
  cases: { size: number; root: string; proofs: { index: number; siblings: string[] }[] }[];
};
const leaf = (i: number) => nobleBlake3(Uint8Array.of(i & 255, (i >> 8) & 255, (i >> 16) & 255, i >>> 24));

describe("merkle vectors (test/vectors/merkle)", () => {
  it("keys and empty root", () => {
    const enc = new TextEncoder();
    expect(toHex(MERKLE_LEAF_KEY)).toBe(toHex(nobleBlake3(enc.encode("slowdrip merkle v1 leaf"))));
    expect(toHex(MERKLE_NODE_KEY)).toBe(toHex(nobleBlake3(enc.encode("slowdrip merkle v1 node"))));
    expect(toHex(MERKLE_EMPTY_ROOT)).toBe(toHex(nobleBlake3(new Uint8Array(0), { key: MERKLE_NODE_KEY })));
    expect(toHex(MERKLE_LEAF_KEY)).toBe(V.leaf_key);
    expect(toHex(MERKLE_NODE_KEY)).toBe(V.node_key);
    expect(toHex(MERKLE_EMPTY_ROOT)).toBe(V.empty_root);
    expect(toHex(merkleRoot([]))).toBe(V.empty_root);
    expect(toHex(new MerkleBuilder().root())).toBe(V.empty_root);
  });
  for (const c of V.cases) {
    it(`size ${c.size}: root and proofs`, () => {
      const leaves = Array.from({ length: c.size }, (_, i) => leaf(i));
      expect(toHex(merkleRoot(leaves))).toBe(c.root);
      for (const p of c.proofs) {
        const proof = merkleProof(leaves, p.index);
        expect(proof.siblings.map(toHex), `size ${c.size} index ${p.index}`).toEqual(p.siblings);
        expect(verifyMerkleProof(fromHex(c.root), leaves[p.index]!, { index: p.index, size: c.size, siblings: p.siblings.map(fromHex) })).toBe(true);
      }
    });
  }
});

describe("merkle proofs", () => {
  it("every leaf of every tree of sizes 1..1000 verifies; builder root equals batch root at each size", () => {
    const all = Array.from({ length: 1000 }, (_, i) => leaf(i + 7));
    const b = new MerkleBuilder();
    for (let n = 1; n <= 1000; n++) {
      expect(b.append(all[n - 1]!)).toBe(n - 1);
      const leaves = all.slice(0, n);
      const tree = new MerkleTree(leaves);
      const root = tree.root();
      expect(toHex(b.root()), `builder root at size ${n}`).toBe(toHex(root));
      expect(b.size).toBe(n);
      for (let i = 0; i < n; i++) {
        if (!verifyMerkleProof(root, leaves[i]!, tree.proof(i))) throw new Error(`size ${n} leaf ${i}: proof does not verify`);
      }
    }
  });

  it("a flipped bit in the leaf, a sibling or the index fails", () => {
    for (const n of [2, 3, 7, 64, 100, 1000]) {
      const leaves = Array.from({ length: n }, (_, i) => leaf(i * 3));
      const tree = new MerkleTree(leaves);
      const root = tree.root();
      for (const i of [0, 1, Math.floor(n / 2), n - 1]) {
        const p = tree.proof(i);
        const l = leaves[i]!.slice();
        l[5]! ^= 1;
        expect(verifyMerkleProof(root, l, p), `n ${n} i ${i} leaf`).toBe(false);
        for (let s = 0; s < p.siblings.length; s++) {
          const sibs = p.siblings.map((x) => x.slice());
          sibs[s]![31]! ^= 0x80;
          expect(verifyMerkleProof(root, leaves[i]!, { ...p, siblings: sibs }), `n ${n} i ${i} sibling ${s}`).toBe(false);
        }
        for (let bit = 0; 1 << bit < n * 2; bit++) {
          expect(verifyMerkleProof(root, leaves[i]!, { ...p, index: i ^ (1 << bit) }), `n ${n} i ${i} index bit ${bit}`).toBe(false);
        }
        expect(verifyMerkleProof(root, leaves[i]!, { ...p, siblings: p.siblings.slice(1) })).toBe(false);
      }
    }
  });

  it("checks arguments", () => {
    expect(() => merkleRoot([new Uint8Array(31)])).toThrow(RangeError);
    expect(() => merkleRoot(["x" as unknown as Uint8Array])).toThrow(TypeError);
    expect(() => merkleProof([leaf(0)], 1)).toThrow(RangeError);
    expect(() => new MerkleBuilder().append(new Uint8Array(33))).toThrow(RangeError);
  });
});
