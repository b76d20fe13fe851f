// Reads of a blob's stored chunks: each chunk checked against its meta, ranges copied out, the slices a read yields (LRU first).
import { CorruptBlobError, NotFoundError } from "./errors.ts";
import type { ByteLru } from "./lru.ts";
import type { StoreBackend } from "./store-backend.ts";
import type { BlobMeta } from "./types.ts";

/**
 * Bytes [from, to) of stored chunk `i` (see StoreBackend.readChunk for `stable`); NotFoundError if the blob is gone,
 * CorruptBlobError if the chunk is missing or not the length the meta gives it.
 */
export function chunk(backend: StoreBackend, meta: BlobMeta, i: number, from: number, to: number, stable: boolean): Uint8Array {
  const got = backend.readChunk(meta, i, from, to, stable);
  const want = Math.min(meta.chunkSize, meta.size - i * meta.chunkSize);
  if (!got) {
    if (!backend.getMeta(meta.hash)) throw new NotFoundError(meta.hash);
    throw new CorruptBlobError(meta.hash, i, "chunk missing");
  }
  if (got.length !== want) throw new CorruptBlobError(meta.hash, i, `chunk has ${got.length} bytes, expected ${want}`);
  return got.bytes;
}

/** Copies [offset, offset+length) of the stored chunks into `out` (views of the backend's buffers, no copy between). */
function readInto(backend: StoreBackend, meta: BlobMeta, offset: number, length: number, out: Uint8Array): void {
  const cs = meta.chunkSize;
  for (let i = Math.floor(offset / cs); i * cs < offset + length; i++) {
    const from = Math.max(offset - i * cs, 0);
    out.set(chunk(backend, meta, i, from, offset + length - i * cs, false), i * cs + from - offset);
  }
}

/** Bytes [offset, offset+length) of a blob, copied from its stored chunks into a new buffer. */
export function readRange(backend: StoreBackend, meta: BlobMeta, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  readInto(backend, meta, offset, length, out);
  return out;
}

function loadWhole(backend: StoreBackend, meta: BlobMeta): Uint8Array {
  return readRange(backend, meta, 0, meta.size);
}

/** The pieces a read of [offset, offset+length) yields: a whole small blob from the LRU, else chunk by chunk. */
export async function* slices(
  backend: StoreBackend,
  lru: ByteLru,
  meta: BlobMeta,
  offset: number,
  length: number,
  signal?: AbortSignal,
  into?: (size: number) => Uint8Array | Promise<Uint8Array>,
): AsyncGenerator<Uint8Array, void, undefined> {
  if (length === 0) return;
  if (lru.accepts(meta.size)) {
    let whole = lru.get(meta.hash);
    if (!whole) {
      whole = loadWhole(backend, meta);
      lru.set(meta.hash, whole);
    }
    yield whole.subarray(offset, offset + length);
    return;
  }
  const cs = meta.chunkSize;
  const end = offset + length;
  for (let i = Math.floor(offset / cs); i * cs < end; i++) {
    signal?.throwIfAborted();
    // Only the part of the chunk inside the range is copied out (into the caller's buffer when it supplies one).
    const from = Math.max(offset - i * cs, 0);
    const to = Math.min(end - i * cs, cs);
    if (into) {
      const target = await into(to - from);
      if (!(target instanceof Uint8Array) || target.byteLength < to - from) throw new TypeError(`read option \`into\` must give at least ${to - from} bytes`);
      const view = chunk(backend, meta, i, from, to, false);
      target.set(view, 0);
      yield target.subarray(0, view.byteLength);
    } else {
      yield chunk(backend, meta, i, from, to, true);
    }
  }
}
