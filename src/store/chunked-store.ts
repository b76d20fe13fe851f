// The storage-independent half of the blob store: options, limits, stats, reads and Bao proofs, listing, pins, tags, records, GC.
import { chunk, readRange, slices } from "./chunk-reads.ts";
import { checkCount, checkHash, checkRecordKey, checkRecords, checkTags } from "./checks.ts";
import { BusyError, CorruptBlobError, InvalidHashError, NotFoundError, PinnedError, RangeNotSatisfiableError, StoreError } from "./errors.ts";
import { Collector, type GcOptions } from "./gc.ts";
import { defaultHashing, type BlobHashing } from "./hashing.ts";
import { Importer } from "./importer.ts";
import { ByteLru } from "./lru.ts";
import { Semaphore } from "./semaphore.ts";
import { isSha256 } from "./sha256-index.ts";
import { sha256Stream } from "./sha256-worker.ts";
import type { StoreBackend } from "./store-backend.ts";
import type {
  BlobMeta,
  BlobReadStream,
  BlobStore,
  CollectOptions,
  GcReport,
  ImportOptions,
  ImportResult,
  ListOptions,
  ListPage,
  ReadOptions,
  StoreRecords,
  StoreStats,
  StoreUsage,
} from "./types.ts";
import { MAX_RECORD_KEY } from "./types.ts";

/** Default size of stored chunks: a range read touches only the chunks it overlaps. */
export const DEFAULT_CHUNK_SIZE = 256 * 1024;
/** Largest accepted chunk size (LMDB values stay moderate). */
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;
/** Largest range a Bao slice is built for in one piece (the slice is held in memory). */
export const MAX_PROOF_RANGE = 16 * 1024 * 1024;
/** Most chunks one baoChunkSlices call proves. */
export const MAX_PROOF_CHUNKS = 1024;

/** Options shared by every BlobStore implementation. All sizes in bytes, durations in milliseconds. */
export interface StoreOptions {
  /** `store.max_storage`: limit on committed + reserved blob bytes; 0 (default) = unlimited. */
  maxStorage?: number;
  /** Size of stored chunks (default 256 KiB). Fixed when an LMDB store is created. */
  chunkSize?: number;
  /** `tuning.store_concurrency` / `fetch_concurrency` / `pull_concurrency` and `tuning.queue_timeout`. */
  limits?: { store?: number; fetch?: number; pull?: number; queueTimeoutMs?: number };
  /** `store.cache_max_bytes` / `store.cache_max_blob`: LRU of small whole blobs (0 bytes disables). */
  cache?: { maxBytes?: number; maxBlob?: number; maxEntries?: number };
  /** Hashing core (default: the project's WASM BLAKE3 + Bao). */
  hashing?: BlobHashing;
  /** Clock for `created` and read times (default Date.now). */
  now?: () => number;
  /** Compute each import's SHA-256 beside its BLAKE3, for the SHA-256 index (default true; false: BLAKE3 only). */
  sha256?: boolean;
  /** Garbage collection: the interval run, its grace period, eviction when full (see gc.ts). */
  gc?: GcOptions;
}

/** BlobStore logic over a StoreBackend; LmdbBlobStore and MemoryBlobStore are thin subclasses. */
export class ChunkedBlobStore implements BlobStore {
  readonly limits: { readonly store: Semaphore; readonly fetch: Semaphore; readonly pull: Semaphore };
  readonly chunkSize: number;
  readonly maxStorage: number;
  protected readonly backend: StoreBackend;
  readonly #hashing: BlobHashing;
  readonly #now: () => number;
  readonly #lru: ByteLru;
  readonly #gc: Collector;
  readonly #importer: Importer;
  #open = true;
  #stats: Omit<StoreStats, "cacheHits" | "cacheMisses" | "cacheBytes" | "cacheEntries" | "gc"> = {
    imports: { created: 0, existing: 0, mismatch: 0, full: 0, aborted: 0, busy: 0, error: 0 },
    reads: { ok: 0, not_found: 0, range: 0, busy: 0, error: 0 },
    bytesImported: 0,
    bytesRead: 0,
  };

  constructor(backend: StoreBackend, options: StoreOptions = {}) {
    if (options === null || typeof options !== "object") throw new TypeError("store options must be an object");
    this.backend = backend;
    this.maxStorage = checkCount("maxStorage", options.maxStorage ?? 0);
    this.chunkSize = checkCount("chunkSize", options.chunkSize ?? DEFAULT_CHUNK_SIZE, 1);
    if (this.chunkSize > MAX_CHUNK_SIZE) throw new RangeError(`chunkSize must be <= ${MAX_CHUNK_SIZE}, got ${this.chunkSize}`);
    const l = options.limits ?? {};
    const timeout = l.queueTimeoutMs ?? 30_000;
    this.limits = {
      store: new Semaphore("store", l.store ?? 8, timeout),
      fetch: new Semaphore("fetch", l.fetch ?? 64, timeout),
      pull: new Semaphore("pull", l.pull ?? 4, timeout),
    };
    const c = options.cache ?? {};
    this.#lru = new ByteLru(c.maxBytes ?? 64 * 1024 * 1024, c.maxBlob ?? 1024 * 1024, c.maxEntries ?? 4096);
    this.#hashing = options.hashing ?? defaultHashing;
    this.#now = options.now ?? Date.now;
    this.#gc = new Collector(backend, options.gc ?? {}, this.#now, (hash) => this.#lru.delete(hash));
    this.#importer = new Importer({
      backend,
      slots: this.limits.store,
      gc: this.#gc,
      hashing: this.#hashing,
      now: this.#now,
      chunkSize: this.chunkSize,
      maxStorage: this.maxStorage,
      sha256: options.sha256 ?? true,
      stats: this.#stats,
    });
    this.#gc.start();
  }

  /** Streams a blob in; see BlobStore.import. */
  async import(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: ImportOptions = {}): Promise<ImportResult> {
    this.#checkOpen();
    return this.#importer.import(source, options);
  }

  /** Validates hash and range, takes a fetch slot and returns the bytes; see BlobStore.read. */
  async read(hash: string, offset = 0, length?: number, options: ReadOptions = {}): Promise<BlobReadStream> {
    this.#checkOpen();
    const r = this.#stats.reads;
    try {
      checkHash(hash);
    } catch (err) {
      r.error++;
      throw err;
    }
    checkCount("offset", offset);
    if (length !== undefined) checkCount("length", length);
    const meta = this.backend.getMeta(hash);
    if (!meta) {
      r.not_found++;
      throw new NotFoundError(hash);
    }
    if (offset > meta.size || (offset === meta.size && meta.size > 0)) {
      r.range++;
      throw new RangeNotSatisfiableError(hash, offset, length ?? 0, meta.size);
    }
    const len = Math.min(length ?? meta.size - offset, meta.size - offset);
    if (options.into !== undefined && typeof options.into !== "function") throw new TypeError("read option `into` must be a function");
    const fetchSlot = this.limits.fetch;
    const takeSlot = async (): Promise<() => void> => {
      try {
        return await fetchSlot.acquire(options.signal);
      } catch (err) {
        if (err instanceof BusyError) r.busy++;
        throw err;
      }
    };
    // The slot is held while chunks are read, and given back (pause) while the consumer waits on a slow client.
    let slot: (() => void) | undefined = await takeSlot();
    const unhold = this.#gc.hold(hash);
    this.#gc.touch(hash);
    let released = false;
    const done = (ok: boolean) => {
      if (released) return;
      released = true;
      unhold();
      slot?.();
      slot = undefined;
      if (ok) r.ok++;
      else r.error++;
    };
    const gen = slices(this.backend, this.#lru, meta, offset, len, options.signal, options.into);
    const stats = this.#stats;
    return {
      meta,
      offset,
      length: len,
      release() {
        done(true);
        void gen.return(undefined);
      },
      pause() {
        slot?.();
        slot = undefined;
      },
      [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
        return {
          async next() {
            try {
              if (!released && !slot) {
                const again = await takeSlot();
                if (released) again();
                else slot = again;
              }
              const step = await gen.next();
              if (step.done) done(true);
              else stats.bytesRead += step.value.byteLength;
              return step;
            } catch (err) {
              done(false);
              throw err;
            }
          },
          async return(value?: unknown) {
            done(true);
            await gen.return(undefined);
            return { done: true, value: value as undefined };
          },
        };
      },
    };
  }

  /**
   * The standard Bao slice proving [offset, offset+length) of a blob, rebuilt from the stored compact outboard and the
   * chunks the range touches (each 16 KiB group is checked against the outboard). Ranges are limited to MAX_PROOF_RANGE.
   */
  async baoSlice(hash: string, offset: number, length: number): Promise<Uint8Array> {
    this.#checkOpen();
    checkHash(hash);
    checkCount("offset", offset);
    checkCount("length", length);
    const meta = this.backend.getMeta(hash);
    if (!meta) throw new NotFoundError(hash);
    if (offset > meta.size || (offset === meta.size && meta.size > 0)) throw new RangeNotSatisfiableError(hash, offset, length, meta.size);
    const len = Math.min(length, meta.size - offset);
    if (len > MAX_PROOF_RANGE) throw new RangeError(`a proof covers at most ${MAX_PROOF_RANGE} bytes; asked for ${len}`);
    const outboard = this.backend.getOutboard(hash);
    if (!outboard) throw new NotFoundError(hash);
    if (outboard.byteLength !== meta.outboardSize || meta.outboardSize === 0) {
      throw new CorruptBlobError(hash, 0, `stored outboard has ${outboard.byteLength} bytes, expected ${meta.outboardSize}`);
    }
    const read = async (off: number, n: number) => readRange(this.backend, meta, off, n);
    const unhold = this.#gc.hold(hash);
    this.#gc.touch(hash);
    try {
      return await this.#hashing.sliceFromCompact(meta.size, outboard, read, offset, len);
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw new CorruptBlobError(hash, 0, `cannot build the Bao slice: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    } finally {
      unhold();
    }
  }

  /**
   * The standard Bao slices of single 1 KiB chunks of a blob, same order: the outboard is read once, each 16 KiB group
   * touched is copied straight from the stored chunks into the hashing engine and checked against the outboard.
   */
  async baoChunkSlices(hash: string, chunks: readonly number[]): Promise<Uint8Array[]> {
    this.#checkOpen();
    checkHash(hash);
    if (!Array.isArray(chunks) || chunks.length > MAX_PROOF_CHUNKS) throw new RangeError(`chunks must be an array of at most ${MAX_PROOF_CHUNKS} chunk indices`);
    const meta = this.backend.getMeta(hash);
    if (!meta) throw new NotFoundError(hash);
    const n = meta.size === 0 ? 1 : Math.ceil(meta.size / 1024);
    for (const c of chunks) {
      if (!Number.isSafeInteger(c) || c < 0) throw new RangeError(`chunk index must be a non-negative integer, got ${c}`);
      if (c >= n) throw new RangeNotSatisfiableError(hash, c * 1024, 1024, meta.size);
    }
    const outboard = this.backend.getOutboard(hash);
    if (!outboard) throw new NotFoundError(hash);
    if (outboard.byteLength !== meta.outboardSize || meta.outboardSize === 0) {
      throw new CorruptBlobError(hash, 0, `stored outboard has ${outboard.byteLength} bytes, expected ${meta.outboardSize}`);
    }
    const unhold = this.#gc.hold(hash);
    this.#gc.touch(hash);
    try {
      // Groups come in ascending order and nothing else reads the backend during this synchronous call, so the view of
      // the last stored chunk stays valid and serves every group inside it (one backend read per stored chunk).
      const cs = meta.chunkSize;
      let lastIndex = -1;
      let last: Uint8Array = new Uint8Array(0);
      const readInto = (off: number, len: number, into: Uint8Array): void => {
        for (let i = Math.floor(off / cs); i * cs < off + len; i++) {
          if (i !== lastIndex) {
            last = chunk(this.backend, meta, i, 0, cs, false);
            lastIndex = i;
          }
          const from = Math.max(off - i * cs, 0);
          into.set(last.subarray(from, Math.min(cs, off + len - i * cs)), i * cs + from - off);
        }
      };
      return this.#hashing.chunkSlicesFromCompact(meta.size, outboard, readInto, chunks);
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw new CorruptBlobError(hash, 0, `cannot build the Bao slices: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    } finally {
      unhold();
    }
  }

  /** Reads a blob (or range) fully into memory. */
  async readAll(hash: string, offset = 0, length?: number): Promise<Uint8Array> {
    const s = await this.read(hash, offset, length);
    const out = new Uint8Array(s.length);
    let at = 0;
    for await (const piece of s) {
      out.set(piece, at);
      at += piece.byteLength;
    }
    return out;
  }

  /** Metadata of a stored blob; throws NotFoundError. */
  async stat(hash: string): Promise<BlobMeta> {
    this.#checkOpen();
    const meta = this.backend.getMeta(checkHash(hash));
    if (!meta) throw new NotFoundError(hash);
    return meta;
  }

  /** Metadata of the blob with this SHA-256; throws NotFoundError when none is indexed. */
  async bySha256(sha256: string): Promise<BlobMeta> {
    this.#checkOpen();
    if (!isSha256(sha256)) throw new InvalidHashError(String(sha256));
    const meta = this.backend.findSha256(sha256);
    if (!meta) throw new NotFoundError(sha256);
    return meta;
  }

  /**
   * Hashes a blob's stored bytes with SHA-256 and records it in the meta and the index; a blob that has one is left
   * as it is. Reads the chunks directly (not counted as a read of the blob), under a fetch slot.
   */
  async indexSha256(hash: string): Promise<BlobMeta> {
    this.#checkOpen();
    const meta = this.backend.getMeta(checkHash(hash));
    if (!meta) throw new NotFoundError(hash);
    if (meta.sha256) return meta;
    const release = await this.limits.fetch.acquire();
    const unhold = this.#gc.hold(hash);
    const s = sha256Stream();
    try {
      for (let i = 0; i * meta.chunkSize < meta.size; i++) {
        // The chunk is a view of LMDB's read buffer: update copies it before the next read can overwrite it.
        const behind = s.update(chunk(this.backend, meta, i, 0, meta.chunkSize, false));
        if (behind) await behind;
      }
      const sha256 = await s.digest();
      const updated = await this.backend.updateMeta(hash, (m) => (m.sha256 ? m : { ...m, sha256 }));
      if (!updated) throw new NotFoundError(hash);
      return updated;
    } catch (err) {
      s.abort();
      throw err;
    } finally {
      unhold();
      release();
    }
  }

  async has(hash: string): Promise<boolean> {
    this.#checkOpen();
    return this.backend.getMeta(checkHash(hash)) !== undefined;
  }

  /** One page of blobs ordered by hash. */
  async list(options: ListOptions = {}): Promise<ListPage> {
    this.#checkOpen();
    const limit = options.limit ?? 100;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000) throw new RangeError(`list limit must be 1..1000, got ${limit}`);
    if (options.after !== undefined && options.after !== "") checkHash(options.after);
    const rows = this.backend.list(options.after || undefined, limit + 1);
    const items = rows.slice(0, limit);
    return { items, next: rows.length > limit ? items[items.length - 1]?.hash : undefined };
  }

  /** Deletes a blob; refuses pinned ones unless forced. */
  async delete(hash: string, options: { force?: boolean } = {}): Promise<boolean> {
    this.#checkOpen();
    checkHash(hash);
    const removed = await this.backend.remove(hash, (m) => {
      if (m.pinned && !options.force) throw new PinnedError(hash);
    });
    this.#lru.delete(hash);
    return removed !== undefined;
  }

  async pin(hash: string): Promise<BlobMeta> {
    return this.#update(hash, (m) => ({ ...m, pinned: true }));
  }

  async unpin(hash: string): Promise<BlobMeta> {
    return this.#update(hash, (m) => ({ ...m, pinned: false }));
  }

  async setTags(hash: string, tags: string[]): Promise<BlobMeta> {
    const t = checkTags(tags);
    return this.#update(hash, (m) => ({ ...m, tags: t }));
  }

  async #update(hash: string, fn: (m: BlobMeta) => BlobMeta): Promise<BlobMeta> {
    this.#checkOpen();
    const m = await this.backend.updateMeta(checkHash(hash), fn);
    if (!m) throw new NotFoundError(hash);
    return m;
  }

  /** Removes unpinned blobs chosen by `select`; pinned blobs are never removed. */
  async gc(select: (meta: BlobMeta) => boolean): Promise<string[]> {
    if (typeof select !== "function") throw new TypeError("gc needs a selection function");
    this.#checkOpen();
    const victims: string[] = [];
    let after: string | undefined;
    for (;;) {
      const rows = this.backend.list(after, 1000);
      for (const m of rows) if (!m.pinned && !this.#gc.isHeld(m.hash) && select(m)) victims.push(m.hash);
      if (rows.length < 1000) break;
      after = rows[rows.length - 1]?.hash;
    }
    const removed: string[] = [];
    for (const h of victims) {
      const m = await this.backend.remove(h, (meta) => {
        if (meta.pinned || this.#gc.isHeld(h)) throw new PinnedError(h);
      }).catch((err: unknown) => {
        if (err instanceof PinnedError) return undefined; // pinned or in use meanwhile: keep it
        throw err;
      });
      this.#lru.delete(h);
      if (m) removed.push(h);
    }
    return removed;
  }

  /** Collects now: idle unpinned blobs, then least recently read ones until `bytes` are freed; see BlobStore.collect. */
  async collect(options: CollectOptions = {}): Promise<GcReport> {
    this.#checkOpen();
    if (options === null || typeof options !== "object") throw new TypeError("collect options must be an object");
    const { idleBefore, bytes } = options;
    if (idleBefore !== undefined && !Number.isFinite(idleBefore)) throw new RangeError(`idleBefore must be a time in ms, got ${String(idleBefore)}`);
    if (bytes !== undefined) checkCount("bytes", bytes);
    return this.#gc.collect("manual", { ...(idleBefore !== undefined ? { idleBefore } : {}), want: () => bytes ?? 0 });
  }

  async outboard(hash: string): Promise<Uint8Array> {
    this.#checkOpen();
    const ob = this.backend.getOutboard(checkHash(hash));
    if (!ob) throw new NotFoundError(hash);
    return ob;
  }

  usage(): StoreUsage {
    const u = this.#open ? this.backend.usage() : { bytesUsed: 0, blobCount: 0 };
    return { ...u, maxBytes: this.maxStorage, reservedBytes: this.#importer.reserved };
  }

  stats(): StoreStats {
    return {
      imports: { ...this.#stats.imports },
      reads: { ...this.#stats.reads },
      bytesImported: this.#stats.bytesImported,
      bytesRead: this.#stats.bytesRead,
      cacheHits: this.#lru.hits,
      cacheMisses: this.#lru.misses,
      cacheBytes: this.#lru.bytes,
      cacheEntries: this.#lru.size,
      gc: this.#gc.stats(),
    };
  }

  ready(): boolean {
    return this.#open;
  }

  /** See BlobStore.record. */
  record(key: string): unknown {
    this.#checkOpen();
    return this.backend.getRecord(checkRecordKey(key));
  }

  /** See BlobStore.putRecords. */
  async putRecords(records: StoreRecords): Promise<void> {
    this.#checkOpen();
    await this.backend.putRecords(checkRecords(records));
  }

  /** See BlobStore.recordKeys. */
  recordKeys(prefix: string, limit = 10_000): string[] {
    this.#checkOpen();
    if (typeof prefix !== "string" || prefix.length > MAX_RECORD_KEY) throw new TypeError(`prefix must be a string of at most ${MAX_RECORD_KEY} characters`);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new RangeError("limit must be in 1-100000");
    return this.backend.recordKeys(prefix, limit);
  }

  async close(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    await this.#gc.stop();
    this.#lru.clear();
    await this.backend.close();
  }

  #checkOpen(): void {
    if (!this.#open) throw new StoreError("blob store is closed");
  }
}
