// Generates test/vectors/merkle/vectors.json for the slowdrip merkle v1 construction (see src/wasm/merkle.ts) with an
// independent implementation on @noble/hashes. Run: node_modules/.bin/node test/vectors/merkle/generate.mjs
import { blake3 } from "@noble/hashes/blake3.js";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const hex = (b) => Buffer.from(b).toString("hex");
const enc = new TextEncoder();
const K_LEAF = blake3(enc.encode("slowdrip merkle v1 leaf"));
const K_NODE = blake3(enc.encode("slowdrip merkle v1 node"));
const H = (x) => blake3(x, { key: K_LEAF });
const N = (l, r) => blake3(Uint8Array.from([...l, ...r]), { key: K_NODE });

/** Recursive definition: left subtree = largest power of two below n. */
function root(hs) {
  if (hs.length === 1) return hs[0];
  let p = 1;
  while (p * 2 < hs.length) p *= 2;
  return N(root(hs.slice(0, p)), root(hs.slice(p)));
}
function proof(hs, i) {
  if (hs.length === 1) return [];
  let p = 1;
  while (p * 2 < hs.length) p *= 2;
  return i < p ? [...proof(hs.slice(0, p), i), root(hs.slice(p))] : [...proof(hs.slice(p), i - p), root(hs.slice(0, p))];
}
/** Leaf i: BLAKE3 of the 4-byte little-endian index. */
const leaf = (i) => blake3(Uint8Array.of(i & 255, (i >> 8) & 255, (i >> 16) & 255, i >>> 24));

const cases = [];
for (const size of [1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100, 1000]) {
  const leaves = Array.from({ length: size }, (_, i) => leaf(i));
  const hs = leaves.map(H);
  const idx = [...new Set([0, 1, Math.floor(size / 2), size - 2, size - 1].filter((i) => i >= 0 && i < size))];
  cases.push({
    size,
    root: hex(root(hs)),
    proofs: idx.map((i) => ({ index: i, siblings: proof(hs, i).map(hex) })),
  });
}
const out = {
  _comment: "slowdrip merkle v1 (src/wasm/merkle.ts). Leaf i = BLAKE3(u32le(i)). K_LEAF = BLAKE3('slowdrip merkle v1 leaf'), K_NODE = BLAKE3('slowdrip merkle v1 node'); H(x) = keyed_hash(K_LEAF, x); N(l,r) = keyed_hash(K_NODE, l||r); left subtree = largest power of two below n; proofs list siblings bottom-up.",
  leaf_key: hex(K_LEAF),
  node_key: hex(K_NODE),
  empty_root: hex(blake3(new Uint8Array(0), { key: K_NODE })),
  cases,
};
writeFileSync(join(dirname(fileURLToPath(import.meta.url)), "vectors.json"), JSON.stringify(out, null, 1) + "\n");
