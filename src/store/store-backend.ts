// The contract between ChunkedBlobStore and a storage backend: the primitive operations and an import's write sink.
import type { BlobMeta, StoreRecords } from "./types.ts";

/** A store's write path for one import: chunks go in, then commit (atomically visible) or abort (nothing left). */
export interface ImportSink {
  /** Takes ownership of `chunk`. May wait (back-pressure). */
  write(index: number, chunk: Uint8Array): void | Promise<void>;
  /**
   * Atomically makes the blob visible and counts it, writing `records` in the same transaction; returns false (and
   * discards the chunks, writing nothing) if it already exists.
   */
  commit(meta: BlobMeta, outboard: Uint8Array, records?: StoreRecords): Promise<boolean>;
  /** Discards every chunk written so far. */
  abort(): Promise<void>;
}

/** The primitive operations a storage backend provides. */
export interface StoreBackend {
  getMeta(hash: string): BlobMeta | undefined;
  /**
   * Bytes [from, min(to, length)) of one stored chunk plus the chunk's stored length, or undefined if it is missing.
   * With `stable` the bytes are the caller's to keep; otherwise they may be a view that the next read overwrites.
   */
  readChunk(meta: BlobMeta, index: number, from: number, to: number, stable: boolean): { length: number; bytes: Uint8Array } | undefined;
  getOutboard(hash: string): Uint8Array | undefined;
  beginImport(chunkSize: number): Promise<ImportSink>;
  /** Read-modify-write of a meta record (and `records`, same transaction); returns the new record, or undefined if absent (nothing written). */
  updateMeta(hash: string, update: (meta: BlobMeta) => BlobMeta, records?: StoreRecords): Promise<BlobMeta | undefined>;
  /** See BlobStore.record, putRecords and recordKeys. */
  getRecord(key: string): unknown;
  putRecords(records: StoreRecords): Promise<void>;
  recordKeys(prefix: string, limit: number): string[];
  /** Removes the blob (meta, outboard, chunks, counters) atomically; `check` may throw to refuse. */
  remove(hash: string, check: (meta: BlobMeta) => void): Promise<BlobMeta | undefined>;
  /** Up to `limit` metas with hash > after, ordered by hash. */
  list(after: string | undefined, limit: number): BlobMeta[];
  /** The meta of the blob indexed under this SHA-256, if any (metas with `sha256` are indexed by commit and updateMeta). */
  findSha256(sha256: string): BlobMeta | undefined;
  /** Raises stored blobs' last-read times (Unix ms) to these; unknown hashes and earlier times are ignored. */
  touch(times: ReadonlyMap<string, number>): Promise<void>;
  /**
   * Up to `limit` unpinned blobs, least recently read first (a blob never read counts from its commit), starting after
   * `after` in that order (ties by hash).
   */
  coldest(limit: number, after?: { hash: string; lastRead: number }): { hash: string; size: number; lastRead: number }[];
  /** Persistent counters. */
  usage(): { bytesUsed: number; blobCount: number };
  close(): Promise<void>;
}
