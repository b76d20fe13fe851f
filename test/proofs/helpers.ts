// Test helpers of the proofs tests. corruptStoredChunk is a TEST-ONLY FAULT: it flips one byte of a blob's stored bytes
// directly in LMDB (bit rot on disk), which a real store never does on its own; the store must be closed meanwhile.
import { openLmdb } from "../../src/store/lmdb-native.ts";

/** Flips one byte of blob `hash` at content offset `offset` inside the LMDB environment at `dbPath` (closed store). */
export async function corruptStoredChunk(dbPath: string, hash: string, offset: number): Promise<void> {
  const root = await openLmdb({ path: dbPath, compression: false });
  try {
    const blobs = root.openDB<{ cid: number; chunkSize: number; size: number }, string>({ name: "blobs" });
    const chunks = root.openDB<Buffer, Buffer>({ name: "chunks", encoding: "binary", keyEncoding: "binary" });
    const meta = blobs.get(hash);
    if (!meta) throw new Error(`blob ${hash} is not in ${dbPath}`);
    if (offset >= meta.size) throw new RangeError(`offset ${offset} is past the blob's ${meta.size} bytes`);
    // Chunk keys (src/store/lmdb.ts): cid as two big-endian u32 words, then the chunk index.
    const key = Buffer.alloc(12);
    key.writeUInt32BE(Math.floor(meta.cid / 0x1_0000_0000), 0);
    key.writeUInt32BE(meta.cid >>> 0, 4);
    key.writeUInt32BE(Math.floor(offset / meta.chunkSize), 8);
    const bytes = Buffer.from(chunks.getBinary(key)!);
    bytes[offset % meta.chunkSize]! ^= 0x01;
    await chunks.put(key, bytes);
  } finally {
    await root.close();
  }
}
