// The BlobStore contract: content-addressed blobs named by BLAKE3-256 hex, streamed in and out.
import type { Semaphore } from "./semaphore.ts";

/** What the store keeps about one committed blob. */
export interface BlobMeta {
  /** BLAKE3-256, 64 lowercase hex characters. */
  hash: string;
  /** Bytes. */
  size: number;
  /** Commit time, milliseconds since the Unix epoch. */
  created: number;
  /** Size of the stored chunks (the last one may be shorter). */
  chunkSize: number;
  /** A pinned blob is never removed by GC and cannot be deleted until unpinned. */
  pinned: boolean;
  /** Free-form labels (sorted, unique). */
  tags: string[];
  /** Where the bytes came from ("upload", "peer:<id>", "segment", ...). */
  source: string;
  /** Bytes of the stored compact Bao outboard. */
  outboardSize: number;
  /** SHA-256 of the bytes, lowercase hex (the Blossom index); absent until the migration reaches a blob stored before it. */
  sha256?: string;
}

/** Options of one import. */
export interface ImportOptions {
  /** Expected hash; on mismatch nothing is stored and HashMismatchError is thrown. */
  expectedHash?: string;
  /** Declared size; space is reserved up front and the upload must match it exactly. */
  size?: number;
  /** Recorded in the metadata. */
  source?: string;
  /** Labels recorded in the metadata (merged into an existing blob's tags). */
  tags?: string[];
  /** Pin the blob (also pins an existing one). */
  pin?: boolean;
  /** Aborting cancels the import; nothing is stored. */
  signal?: AbortSignal;
  /** The SHA-256 the bytes must have (or one of these); on mismatch nothing is stored and Sha256MismatchError is thrown. */
  expectedSha256?: string | readonly string[];
  /**
   * false: no SHA-256 is computed or indexed for these bytes (blobs nothing addresses by SHA-256, such as cluster
   * shards); an existing blob keeps the SHA-256 it has. Default: the store's setting. `expectedSha256` is checked anyway.
   */
  sha256?: boolean;
  /**
   * Called once the bytes are hashed (and verified), right before the commit: the records it returns are written in
   * the same transaction that makes the blob visible (or pins/tags an existing one), so they are durable together with
   * the blob in one write, or not at all. If it throws, nothing is stored. See StoreRecords.
   */
  records?: (blob: { hash: string; size: number }) => StoreRecords | Promise<StoreRecords>;
}

/**
 * Small application records kept in the store beside the blobs (e.g. the state that names a blob), by key (1-512
 * chars); values are structured-clonable (JSON-like); `undefined` deletes a key.
 */
export type StoreRecords = Readonly<Record<string, unknown>>;

/** Largest record key, in characters. */
export const MAX_RECORD_KEY = 512;

/** Outcome of an import. */
export interface ImportResult {
  hash: string;
  size: number;
  /** False when the blob was already stored (nothing new written). */
  created: boolean;
  /** Where the import's time went, in ms: receiving and hashing the bytes, then committing them. */
  timing?: { hashMs: number; commitMs: number };
}

/** Paging of `list`. */
export interface ListOptions {
  /** Return blobs whose hash sorts after this one (the previous page's `next`). */
  after?: string;
  /** Page size, 1..1000 (default 100). */
  limit?: number;
}

/** One page of blobs, ordered by hash. */
export interface ListPage {
  items: BlobMeta[];
  /** Pass as `after` to get the next page; undefined on the last page. */
  next: string | undefined;
}

/** Options of `read`. */
export interface ReadOptions {
  /** Aborting stops the stream. */
  signal?: AbortSignal;
  /**
   * Supplies the buffer each piece is copied into (at least `size` bytes; the piece is a view of its start), so a
   * caller can recycle buffers instead of allocating one per piece. Without it every piece is a fresh allocation.
   */
  into?: (size: number) => Uint8Array | Promise<Uint8Array>;
}

/** A validated range read: metadata plus an async iterable of the bytes. */
export interface BlobReadStream extends AsyncIterable<Uint8Array> {
  readonly meta: BlobMeta;
  readonly offset: number;
  readonly length: number;
  /** Releases the fetch slot without reading; idempotent (iteration to the end releases it too). */
  release(): void;
  /**
   * Gives the fetch slot back while the consumer waits on its client (a write that did not drain); the next chunk read
   * takes a slot again, queueing like a new read. So a client that stops reading holds no fetch slot.
   */
  pause(): void;
}

/** Space accounting; survives restarts. */
export interface StoreUsage {
  /** Bytes of committed blob data. */
  bytesUsed: number;
  /** Committed blobs. */
  blobCount: number;
  /** max_storage; 0 = unlimited. */
  maxBytes: number;
  /** Bytes reserved by imports in progress. */
  reservedBytes: number;
}

/** What started a garbage collection. */
export type GcTrigger = "interval" | "space" | "manual";

/** What one collection did. */
export interface GcReport {
  trigger: GcTrigger;
  /** Blobs removed and their bytes. */
  removed: number;
  bytes: number;
  /** Unpinned candidates left alone because a read or an import of them was in flight. */
  skipped: number;
  /** Bytes the import that triggered it needed freed (space trigger), else 0; met when `bytes` >= it. */
  needed: number;
  /** Wall time of the run. */
  ms: number;
}

/** What `collect` removes: unpinned blobs only, least recently read first. */
export interface CollectOptions {
  /** Remove every unpinned blob last read (or stored, if never read) before this time (Unix ms). */
  idleBefore?: number;
  /** Also remove least recently read unpinned blobs until this many bytes are freed. */
  bytes?: number;
}

/** Counters since the store was opened (for metrics). */
export interface StoreStats {
  imports: Record<"created" | "existing" | "mismatch" | "full" | "aborted" | "busy" | "error", number>;
  reads: Record<"ok" | "not_found" | "range" | "busy" | "error", number>;
  bytesImported: number;
  bytesRead: number;
  cacheHits: number;
  cacheMisses: number;
  cacheBytes: number;
  cacheEntries: number;
  /** Garbage collection runs, and the blobs and bytes they removed, by trigger. */
  gc: Record<GcTrigger, { runs: number; removed: number; bytes: number }>;
}

/** The node's content-addressed blob store. */
export interface BlobStore {
  /** Concurrency limits: `store` gates imports, `fetch` gates reads, `pull` is for peer pulls (used by callers). */
  readonly limits: { readonly store: Semaphore; readonly fetch: Semaphore; readonly pull: Semaphore };
  /** Streams bytes in, hashing and building the outboard as they arrive; visible only once fully committed. */
  import(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options?: ImportOptions): Promise<ImportResult>;
  /** Validates hash and range, takes a fetch slot, and returns the bytes as an async iterable. */
  read(hash: string, offset?: number, length?: number, options?: ReadOptions): Promise<BlobReadStream>;
  /** Reads a whole blob (or range) into memory; for small blobs and tests. */
  readAll(hash: string, offset?: number, length?: number): Promise<Uint8Array>;
  /** Metadata; throws NotFoundError. */
  stat(hash: string): Promise<BlobMeta>;
  /** Metadata of the blob with this SHA-256 (64 lowercase hex); throws NotFoundError when none is indexed. */
  bySha256(sha256: string): Promise<BlobMeta>;
  /** Computes and records the SHA-256 of a blob stored without one (the migration's step); returns the meta. */
  indexSha256(hash: string): Promise<BlobMeta>;
  has(hash: string): Promise<boolean>;
  list(options?: ListOptions): Promise<ListPage>;
  /** Removes a blob; throws PinnedError if pinned (unless force); returns false if it was not stored. */
  delete(hash: string, options?: { force?: boolean }): Promise<boolean>;
  pin(hash: string): Promise<BlobMeta>;
  unpin(hash: string): Promise<BlobMeta>;
  /** Replaces the blob's tags. */
  setTags(hash: string, tags: string[]): Promise<BlobMeta>;
  /** Removes every unpinned blob for which `select` returns true; returns the removed hashes. */
  gc(select: (meta: BlobMeta) => boolean): Promise<string[]>;
  /**
   * Collects garbage now: unpinned blobs idle since `idleBefore`, then the least recently read unpinned blobs until
   * `bytes` are freed. Pinned blobs, blobs being read and blobs an import in flight names are never removed.
   */
  collect(options?: CollectOptions): Promise<GcReport>;
  /** The standard Bao slice proving a range (at most 16 MiB), rebuilt from the compact outboard. */
  baoSlice(hash: string, offset: number, length: number): Promise<Uint8Array>;
  /**
   * The standard Bao slices of single 1 KiB chunks (indices, at most MAX_PROOF_CHUNKS), same order, built in one pass:
   * the outboard is read once and each 16 KiB group touched is read and re-hashed once (storage proofs).
   */
  baoChunkSlices(hash: string, chunks: readonly number[]): Promise<Uint8Array[]>;
  /** The stored compact Bao outboard. */
  outboard(hash: string): Promise<Uint8Array>;
  usage(): StoreUsage;
  stats(): StoreStats;
  /** Whether the store is open and usable (for /readyz). */
  ready(): boolean;
  /** A record written by `putRecords` or an import's `records`, or undefined. */
  record(key: string): unknown;
  /** Writes records (undefined deletes) in one transaction. */
  putRecords(records: StoreRecords): Promise<void>;
  /** Keys of the records starting with `prefix`, in order (at most `limit`, default 10000). */
  recordKeys(prefix: string, limit?: number): string[];
  close(): Promise<void>;
}
