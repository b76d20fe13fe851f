// The storage-independent half of the blob store: validation, limits, accounting, import pipeline, range reads, LRU.
import {
  BusyError,
  CorruptBlobError,
  HashMismatchError,
  ImportAbortedError,
  InvalidHashError,
  NotFoundError,
  PinnedError,
  RangeNotSatisfiableError,
  SizeMismatchError,
  StoreError,
  StoreFullError,
} from "./errors.ts";
import { Collector, type GcOptions } from "./gc.ts";
import { defaultHashing, isBlobId, toHex, type BlobHashing } from "./hashing.ts";
import { ByteLru } from "./lru.ts";
import { Semaphore } from "./semaphore.ts";
import { Sha256MismatchError, isSha256 } from "./sha256-index.ts";
import { sha256Stream, type Sha256Stream } from "./sha256-worker.ts";
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
const MAX_TAGS = 64;
const MAX_TAG_LENGTH = 128;
const MAX_SOURCE_LENGTH = 256;

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

function checkHash(hash: unknown): string {
  if (!isBlobId(hash)) throw new InvalidHashError(String(hash));
  return hash;
}

function checkRecordKey(key: unknown): string {
  if (typeof key !== "string" || key.length < 1 || key.length > MAX_RECORD_KEY) throw new TypeError(`record keys are strings of 1-${MAX_RECORD_KEY} characters`);
  return key;
}

function checkRecords(records: unknown): StoreRecords {
  if (records === null || typeof records !== "object" || Array.isArray(records)) throw new TypeError("records must be an object of key -> value");
  const keys = Object.keys(records);
  if (keys.length > 64) throw new RangeError("at most 64 records per write");
  for (const k of keys) checkRecordKey(k);
  return records as StoreRecords;
}

function checkSha256s(v: unknown): void {
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || list.length === 0 || list.length > 64 || !list.every(isSha256)) {
    throw new TypeError("expectedSha256 must be a SHA-256 (64 lowercase hex) or a list of 1..64 of them");
  }
}

function checkCount(name: string, v: unknown, min = 0): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

function checkTags(tags: unknown): string[] {
  if (!Array.isArray(tags)) throw new TypeError("tags must be an array of strings");
  if (tags.length > MAX_TAGS) throw new RangeError(`at most ${MAX_TAGS} tags, got ${tags.length}`);
  for (const t of tags) {
    if (typeof t !== "string" || t.length === 0 || t.length > MAX_TAG_LENGTH) {
      throw new RangeError(`each tag must be a string of 1..${MAX_TAG_LENGTH} characters`);
    }
  }
  return [...new Set(tags as string[])].sort();
}

function asBytes(piece: unknown): Uint8Array {
  if (piece instanceof Uint8Array) return piece;
  if (typeof piece === "string") return Buffer.from(piece);
  throw new TypeError("import source must yield Uint8Array pieces");
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
  readonly #sha256: boolean;
  readonly #gc: Collector;
  /** Room kept free after an eviction, so that the next imports do not each start one. */
  readonly #headroom: number;
  #reserved = 0;
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
    this.#sha256 = options.sha256 ?? true;
    this.#headroom = Math.min(Math.floor(this.maxStorage / 20), 256 * 1024 * 1024);
    this.#gc = new Collector(backend, options.gc ?? {}, this.#now, (hash) => this.#lru.delete(hash));
    this.#gc.start();
  }

  #free(): number {
    return this.maxStorage - this.backend.usage().bytesUsed - this.#reserved;
  }

  /** Streams a blob in; see BlobStore.import. */
  async import(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: ImportOptions = {}): Promise<ImportResult> {
    this.#checkOpen();
    if (source === null || typeof source !== "object" || !(Symbol.asyncIterator in source || Symbol.iterator in source)) {
      throw new TypeError("import source must be an iterable or async iterable of Uint8Array");
    }
    if (options.expectedHash !== undefined) checkHash(options.expectedHash);
    if (options.size !== undefined) checkCount("size", options.size);
    if (options.expectedSha256 !== undefined) checkSha256s(options.expectedSha256);
    if (options.sha256 !== undefined && typeof options.sha256 !== "boolean") throw new TypeError("import option sha256 must be a boolean");
    const tags = options.tags === undefined ? [] : checkTags(options.tags);
    const src = options.source ?? "upload";
    if (typeof src !== "string" || src.length > MAX_SOURCE_LENGTH) throw new RangeError(`source must be a string of at most ${MAX_SOURCE_LENGTH} characters`);
    let release: () => void;
    try {
      release = await this.limits.store.acquire(options.signal);
    } catch (err) {
      if (err instanceof BusyError) this.#stats.imports.busy++;
      throw err;
    }
    try {
      return await this.#import(source, options, tags, src);
    } finally {
      release();
    }
  }

  async #import(
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    options: ImportOptions,
    tags: string[],
    src: string,
  ): Promise<ImportResult> {
    const { expectedHash, size: declared, signal } = options;
    // The blob this import names (and, once hashed, the one it made) is never collected while the import runs.
    const holds: (() => void)[] = [];
    if (expectedHash !== undefined) holds.push(this.#gc.hold(expectedHash));
    const known = expectedHash !== undefined && this.backend.getMeta(expectedHash) !== undefined;
    let reserved = 0;
    const reserve = async (n: number) => {
      if (n === 0) return;
      if (this.maxStorage > 0) {
        if (n > this.#free() && this.#gc.evictWhenFull) {
          // Make room at once: least recently read unpinned blobs first, plus some headroom for the next imports.
          await this.#gc.collect("space", { need: () => n - this.#free(), want: () => n + this.#headroom - this.#free() });
        }
        const free = this.#free();
        if (n > free) throw new StoreFullError(declared ?? reserved + n, Math.max(0, free + reserved), this.maxStorage);
      }
      reserved += n;
      this.#reserved += n;
    };
    let sink: ImportSink | undefined;
    let received = 0;
    // SHA-256 on the worker thread, fed each piece before BLAKE3 hashes it on this one.
    let side: Sha256Stream | undefined = (options.sha256 ?? this.#sha256) || options.expectedSha256 !== undefined ? sha256Stream() : undefined;
    const t0 = performance.now();
    let t1 = t0;
    try {
      // An already-stored blob named by the caller is only hashed (to verify the upload), never written again.
      if (declared !== undefined && !known) await reserve(declared);
      signal?.throwIfAborted();
      const builder = await this.#hashing.newBuilder();
      if (!known) sink = await this.backend.beginImport(this.chunkSize);
      const cs = this.chunkSize;
      // Chunk buffers are allocated when bytes arrive for them, sized to the declared size when known (no tail copy).
      let buf: Uint8Array | undefined;
      let fill = 0;
      let index = 0;
      try {
        for await (const raw of source as AsyncIterable<unknown>) {
          signal?.throwIfAborted();
          const piece = asBytes(raw);
          if (piece.byteLength === 0) continue;
          received += piece.byteLength;
          if (declared !== undefined) {
            if (received > declared) throw new SizeMismatchError(declared, received);
          } else if (sink) {
            await reserve(piece.byteLength);
          }
          const behind = side?.update(piece);
          builder.update(piece);
          if (behind) await behind;
          if (!sink) continue;
          let at = 0;
          while (at < piece.byteLength) {
            buf ??= new Uint8Array(declared === undefined ? cs : Math.min(cs, declared - index * cs));
            const n = Math.min(buf.byteLength - fill, piece.byteLength - at);
            buf.set(piece.subarray(at, at + n), fill);
            fill += n;
            at += n;
            if (fill === buf.byteLength) {
              const full = buf;
              buf = undefined;
              fill = 0;
              await sink.write(index++, full);
            }
          }
        }
      } catch (err) {
        if (err instanceof StoreError) throw err;
        const reason = signal?.aborted ? "cancelled" : err instanceof Error ? err.message : String(err);
        throw new ImportAbortedError(received, reason, { cause: err });
      }
      if (declared !== undefined && received !== declared) throw new SizeMismatchError(declared, received);
      if (sink && buf && fill > 0) await sink.write(index++, fill === buf.byteLength ? buf : buf.slice(0, fill));
      const { hash: hashBytes, outboard } = builder.finish();
      const hash = toHex(hashBytes);
      if (expectedHash !== undefined && hash !== expectedHash) throw new HashMismatchError(expectedHash, hash, received);
      const s256 = side ? await side.digest() : undefined;
      side = undefined;
      if (options.expectedSha256 !== undefined) {
        const want = typeof options.expectedSha256 === "string" ? [options.expectedSha256] : options.expectedSha256;
        if (!want.includes(s256!)) throw new Sha256MismatchError(want, s256!, received);
      }
      holds.push(this.#gc.hold(hash));
      const records = options.records ? checkRecords(await options.records({ hash, size: received })) : undefined;
      t1 = performance.now();
      let created = false;
      if (sink) {
        const meta: BlobMeta = {
          hash,
          size: received,
          created: this.#now(),
          chunkSize: cs,
          pinned: options.pin === true,
          tags,
          source: src,
          outboardSize: outboard.byteLength,
          ...(s256 !== undefined ? { sha256: s256 } : {}),
        };
        const s = sink;
        sink = undefined; // commit either succeeds or discards its own chunks
        created = await s.commit(meta, outboard, records);
      }
      if (!created) {
        const updated = await this.backend.updateMeta(hash, (m) => ({
          ...m,
          pinned: m.pinned || options.pin === true,
          tags: tags.length ? checkTags([...new Set([...m.tags, ...tags])].slice(0, MAX_TAGS)) : m.tags,
          ...(m.sha256 === undefined && s256 !== undefined ? { sha256: s256 } : {}),
        }), records);
        if (!updated) throw new ImportAbortedError(received, "blob was deleted while the duplicate upload was verified");
      }
      this.#stats.imports[created ? "created" : "existing"]++;
      this.#stats.bytesImported += received;
      return { hash, size: received, created, timing: { hashMs: t1 - t0, commitMs: performance.now() - t1 } };
    } catch (err) {
      side?.abort();
      if (sink) await sink.abort().catch(() => undefined);
      const k = this.#stats.imports;
      if (err instanceof HashMismatchError) k.mismatch++;
      else if (err instanceof StoreFullError) k.full++;
      else if (err instanceof ImportAbortedError || err instanceof SizeMismatchError) k.aborted++;
      else k.error++;
      throw err;
    } finally {
      this.#reserved -= reserved;
      for (const release of holds) release();
    }
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
    const gen = this.#slices(meta, offset, len, options.signal, options.into);
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

  async *#slices(
    meta: BlobMeta,
    offset: number,
    length: number,
    signal?: AbortSignal,
    into?: (size: number) => Uint8Array | Promise<Uint8Array>,
  ): AsyncGenerator<Uint8Array, void, undefined> {
    if (length === 0) return;
    if (this.#lru.accepts(meta.size)) {
      let whole = this.#lru.get(meta.hash);
      if (!whole) {
        whole = this.#loadWhole(meta);
        this.#lru.set(meta.hash, whole);
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
        const view = this.#chunk(meta, i, from, to, false);
        target.set(view, 0);
        yield target.subarray(0, view.byteLength);
      } else {
        yield this.#chunk(meta, i, from, to, true);
      }
    }
  }

  #chunk(meta: BlobMeta, i: number, from: number, to: number, stable: boolean): Uint8Array {
    const got = this.backend.readChunk(meta, i, from, to, stable);
    const want = Math.min(meta.chunkSize, meta.size - i * meta.chunkSize);
    if (!got) {
      if (!this.backend.getMeta(meta.hash)) throw new NotFoundError(meta.hash);
      throw new CorruptBlobError(meta.hash, i, "chunk missing");
    }
    if (got.length !== want) throw new CorruptBlobError(meta.hash, i, `chunk has ${got.length} bytes, expected ${want}`);
    return got.bytes;
  }

  #loadWhole(meta: BlobMeta): Uint8Array {
    return this.#readRange(meta, 0, meta.size);
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
    const read = async (off: number, n: number) => this.#readRange(meta, off, n);
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
            last = this.#chunk(meta, i, 0, cs, false);
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

  #readRange(meta: BlobMeta, offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.#readInto(meta, offset, length, out);
    return out;
  }

  /** Copies [offset, offset+length) of the stored chunks into `out` (views of the backend's buffers, no copy between). */
  #readInto(meta: BlobMeta, offset: number, length: number, out: Uint8Array): void {
    const cs = meta.chunkSize;
    for (let i = Math.floor(offset / cs); i * cs < offset + length; i++) {
      const from = Math.max(offset - i * cs, 0);
      out.set(this.#chunk(meta, i, from, offset + length - i * cs, false), i * cs + from - offset);
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
        const behind = s.update(this.#chunk(meta, i, 0, meta.chunkSize, false));
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
    return { ...u, maxBytes: this.maxStorage, reservedBytes: this.#reserved };
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
