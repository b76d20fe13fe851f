// Public API of the WebAssembly core: BLAKE3, multi-core hashing, Bao, compact outboards, Merkle trees, hex, Reed-Solomon.
export { blake3, blake3Concat, blake3Hex, keyedHash, deriveKey, Blake3Hasher, createHasher, createKeyedHasher, createDeriveKeyHasher } from "./blake3.ts";
export type { HashOptions } from "./blake3.ts";
export { toHex, fromHex, isBlobId, concatBytes } from "./hex.ts";
export { initWasm } from "./engine.ts";
export {
  baoEncode, baoOutboard, baoSliceFromCombined, baoSliceFromOutboard, baoDecode, baoVerifySlice, baoVerifyChunkSlice, baoVerifyOutboard,
  BaoSliceDecoder, decodeSliceStream, BaoVerifyError, baoOutboardSize, baoEncodedSize,
} from "./bao.ts";
export type { BaoFailure } from "./bao.ts";
export { baoVerifyChunkSlices } from "./chunk-slices.ts";
export type { ChunkSlicesVerdict } from "./chunk-slices.ts";
export { CompactOutboardBuilder, compactOutboardSize, baoSliceFromCompact, baoChunkSlicesFromCompact, GROUP_LEN } from "./compact.ts";
export { merkleRoot, merkleProof, verifyMerkleProof, MerkleBuilder, MerkleTree, merkleLeafHash, merkleNodeHash } from "./merkle.ts";
export type { MerkleProof } from "./merkle.ts";
export { hashParallel, hashStreamParallel, hashReaderParallel, closeHashPool, hashPoolSize, PARALLEL_THRESHOLD } from "./pool.ts";
export { ReedSolomon, splitStripe } from "./rs.ts";
export { hashFileParallel, FileChangedError } from "./file.ts";
