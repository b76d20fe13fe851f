// The blob store's import pipeline: streaming bytes in, space reservation under max_storage, hashing, size checks, commit.
import { checkCount, checkHash, checkRecords, checkSha256s, checkTags, MAX_TAGS } from "./checks.ts";
import { BusyError, HashMismatchError, ImportAbortedError, SizeMismatchError, StoreError, StoreFullError } from "./errors.ts";
import type { Collector } from "./gc.ts";
import { toHex, type BlobHashing } from "./hashing.ts";
import type { Semaphore } from "./semaphore.ts";
import { Sha256MismatchError } from "./sha256-index.ts";
import { sha256Stream, type Sha256Stream } from "./sha256-worker.ts";
import type { ImportSink, StoreBackend } from "./store-backend.ts";
import type { BlobMeta, ImportOptions, ImportResult, StoreStats } from "./types.ts";

const MAX_SOURCE_LENGTH = 256;

function asBytes(piece: unknown): Uint8Array {
  if (piece instanceof Uint8Array) return piece;
  if (typeof piece === "string") return Buffer.from(piece);
  throw new TypeError("import source must yield Uint8Array pieces");
}

/** What an Importer works with; all but `sha256` are shared with its store. */
export interface ImporterParts {
  backend: StoreBackend;
  /** The store's `limits.store` semaphore: each import holds one slot. */
  slots: Semaphore;
  gc: Collector;
  hashing: BlobHashing;
  now: () => number;
  chunkSize: number;
  maxStorage: number;
  /** Compute each import's SHA-256 unless the import says otherwise (StoreOptions.sha256). */
  sha256: boolean;
  /** The store's import counters, updated in place. */
  stats: Pick<StoreStats, "imports" | "bytesImported">;
}

/** A store's imports and the bytes they have reserved under its maxStorage. */
export class Importer {
  readonly #backend: StoreBackend;
  readonly #slots: Semaphore;
  readonly #gc: Collector;
  readonly #hashing: BlobHashing;
  readonly #now: () => number;
  readonly #chunkSize: number;
  readonly #maxStorage: number;
  readonly #sha256: boolean;
  readonly #stats: Pick<StoreStats, "imports" | "bytesImported">;
  /** Room kept free after an eviction, so that the next imports do not each start one. */
  readonly #headroom: number;
  #reserved = 0;

  constructor(parts: ImporterParts) {
    this.#backend = parts.backend;
    this.#slots = parts.slots;
    this.#gc = parts.gc;
    this.#hashing = parts.hashing;
    this.#now = parts.now;
    this.#chunkSize = parts.chunkSize;
    this.#maxStorage = parts.maxStorage;
    this.#sha256 = parts.sha256;
    this.#stats = parts.stats;
    this.#headroom = Math.min(Math.floor(this.#maxStorage / 20), 256 * 1024 * 1024);
  }

  /** Bytes reserved by the imports running now (StoreUsage.reservedBytes). */
  get reserved(): number {
    return this.#reserved;
  }

  #free(): number {
    return this.#maxStorage - this.#backend.usage().bytesUsed - this.#reserved;
  }

  /** Checks the arguments, takes a store slot and streams the blob in; see BlobStore.import (the store checks it is open). */
  async import(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: ImportOptions): Promise<ImportResult> {
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
      release = await this.#slots.acquire(options.signal);
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
    const known = expectedHash !== undefined && this.#backend.getMeta(expectedHash) !== undefined;
    let reserved = 0;
    const reserve = async (n: number) => {
      if (n === 0) return;
      if (this.#maxStorage > 0) {
        if (n > this.#free() && this.#gc.evictWhenFull) {
          // Make room at once: least recently read unpinned blobs first, plus some headroom for the next imports.
          await this.#gc.collect("space", { need: () => n - this.#free(), want: () => n + this.#headroom - this.#free() });
        }
        const free = this.#free();
        if (n > free) throw new StoreFullError(declared ?? reserved + n, Math.max(0, free + reserved), this.#maxStorage);
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
      if (!known) sink = await this.#backend.beginImport(this.#chunkSize);
      const cs = this.#chunkSize;
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
        const updated = await this.#backend.updateMeta(hash, (m) => ({
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
}
