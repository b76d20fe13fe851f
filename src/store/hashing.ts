// The hashing the store needs: BLAKE3 hash plus compact Bao outboard in one streaming pass while importing, and
// standard Bao slices rebuilt from the compact outboard when serving verifiable ranges. Backed by src/wasm.
import { CompactOutboardBuilder, baoChunkSlicesFromCompact, baoSliceFromCompact, isBlobId as wasmIsBlobId, toHex as wasmToHex } from "../wasm/index.ts";

/** Streaming builder: feed bytes, then get hash, compact outboard and size. */
export interface OutboardBuilder {
  update(data: Uint8Array): void;
  finish(): { hash: Uint8Array; outboard: Uint8Array; size: number };
}

/** The hashing core as the store uses it; injectable so stores can be tested with any conforming implementation. */
export interface BlobHashing {
  newBuilder(): OutboardBuilder | Promise<OutboardBuilder>;
  /** Standard Bao slice of [start, start+len) from the compact outboard, reading content through `read`. */
  sliceFromCompact(
    size: number,
    outboard: Uint8Array,
    read: (offset: number, length: number) => Promise<Uint8Array>,
    start: number,
    len: number,
  ): Promise<Uint8Array>;
  /**
   * Standard single-chunk Bao slices of `chunks` (chunk indices) from the compact outboard in one pass, reading each
   * 16 KiB group touched once through `readInto`, which fills the given view (valid only during the call).
   */
  chunkSlicesFromCompact(
    size: number,
    outboard: Uint8Array,
    readInto: (offset: number, length: number, into: Uint8Array) => void,
    chunks: readonly number[],
  ): Uint8Array[];
}

/** The project's WASM hashing core. */
export const defaultHashing: BlobHashing = {
  newBuilder() {
    const b = new CompactOutboardBuilder();
    return {
      update(data: Uint8Array) {
        b.update(data);
      },
      finish() {
        return b.finish();
      },
    };
  },
  sliceFromCompact: baoSliceFromCompact,
  chunkSlicesFromCompact: baoChunkSlicesFromCompact,
};

/** True for 64 lowercase hex characters (a BLAKE3-256 blob id). */
export const isBlobId: (s: unknown) => s is string = wasmIsBlobId;

/** Lowercase hex of bytes. */
export const toHex: (b: Uint8Array) => string = wasmToHex;
