// The hashing the store needs while importing: BLAKE3 hash plus compact Bao outboard in one streaming pass.
// The BLAKE3 core is the project's WASM module (src/wasm). Until its compact outboard builder lands, the stored
// outboard is empty (outboardSize 0).
import { createHasher, isBlobId as wasmIsBlobId, toHex as wasmToHex } from "../wasm/index.ts";

/** Streaming builder: feed bytes, then get hash, compact outboard and size. */
export interface OutboardBuilder {
  update(data: Uint8Array): void;
  finish(): { hash: Uint8Array; outboard: Uint8Array; size: number };
}

/** Source of outboard builders; injectable so stores can be tested with any conforming implementation. */
export interface BlobHashing {
  newBuilder(): OutboardBuilder | Promise<OutboardBuilder>;
}

/** The project's hashing core. */
export const defaultHashing: BlobHashing = {
  newBuilder() {
    const h = createHasher();
    let size = 0;
    return {
      update(data: Uint8Array) {
        h.update(data);
        size += data.byteLength;
      },
      finish() {
        return { hash: h.digest(32), outboard: new Uint8Array(0), size };
      },
    };
  },
};

/** True for 64 lowercase hex characters (a BLAKE3-256 blob id). */
export const isBlobId: (s: unknown) => s is string = wasmIsBlobId;

/** Lowercase hex of bytes. */
export const toHex: (b: Uint8Array) => string = wasmToHex;
