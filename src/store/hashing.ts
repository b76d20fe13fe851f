// The hashing the store needs while importing: BLAKE3 hash plus compact Bao outboard in one streaming pass.
// TEMPORARY: until src/wasm lands, BLAKE3 comes from hash-wasm and the outboard is empty.
import { createBLAKE3 } from "hash-wasm";

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
  async newBuilder() {
    const h = await createBLAKE3(256);
    h.init();
    let size = 0;
    return {
      update(data: Uint8Array) {
        h.update(data);
        size += data.byteLength;
      },
      finish() {
        return { hash: h.digest("binary"), outboard: new Uint8Array(0), size };
      },
    };
  },
};

const HEX = /^[0-9a-f]{64}$/;

/** True for 64 lowercase hex characters. */
export function isBlobId(s: unknown): s is string {
  return typeof s === "string" && HEX.test(s);
}

/** Lowercase hex of bytes. */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}
