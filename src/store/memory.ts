// In-memory BlobStore: same contract as the LMDB store, nothing persisted; for tests and ephemeral nodes.
import { ChunkedBlobStore, type StoreOptions } from "./chunked-store.ts";
import { MemorySha256Index } from "./sha256-index.ts";
import type { ImportSink, StoreBackend } from "./store-backend.ts";
import type { BlobMeta, StoreRecords } from "./types.ts";

interface Entry {
  meta: BlobMeta;
  chunks: Uint8Array[];
  outboard: Uint8Array;
  /** Last read (Unix ms); the commit time until the first read. */
  lastRead: number;
}

class MemoryBackend implements StoreBackend {
  readonly #blobs = new Map<string, Entry>();
  readonly #sha256 = new MemorySha256Index();
  readonly #records = new Map<string, unknown>();
  #bytes = 0;

  #write(records: StoreRecords | undefined): void {
    for (const [k, v] of Object.entries(records ?? {})) {
      if (v === undefined) this.#records.delete(k);
      else this.#records.set(k, structuredClone(v));
    }
  }

  getRecord(key: string): unknown {
    const v = this.#records.get(key);
    return v === undefined ? undefined : structuredClone(v);
  }

  async putRecords(records: StoreRecords): Promise<void> {
    this.#write(records);
  }

  recordKeys(prefix: string, limit: number): string[] {
    return [...this.#records.keys()].filter((k) => k.startsWith(prefix)).sort().slice(0, limit);
  }

  getMeta(hash: string): BlobMeta | undefined {
    const e = this.#blobs.get(hash);
    return e && { ...e.meta, tags: [...e.meta.tags] };
  }

  readChunk(meta: BlobMeta, index: number, from: number, to: number): { length: number; bytes: Uint8Array } | undefined {
    // Stored chunks are never written again, so views are stable.
    const c = this.#blobs.get(meta.hash)?.chunks[index];
    return c && { length: c.byteLength, bytes: from === 0 && to >= c.byteLength ? c : c.subarray(from, Math.min(to, c.byteLength)) };
  }

  getOutboard(hash: string): Uint8Array | undefined {
    return this.#blobs.get(hash)?.outboard.slice();
  }

  async beginImport(): Promise<ImportSink> {
    let chunks: Uint8Array[] = [];
    return {
      write: (index, chunk) => {
        chunks[index] = chunk;
      },
      commit: async (meta, outboard, records) => {
        if (this.#blobs.has(meta.hash)) {
          chunks = [];
          return false;
        }
        this.#blobs.set(meta.hash, { meta: { ...meta }, chunks, outboard: outboard.slice(), lastRead: meta.created });
        this.#write(records);
        this.#sha256.put(meta);
        this.#bytes += meta.size;
        return true;
      },
      abort: async () => {
        chunks = [];
      },
    };
  }

  async updateMeta(hash: string, update: (meta: BlobMeta) => BlobMeta, records?: StoreRecords): Promise<BlobMeta | undefined> {
    const e = this.#blobs.get(hash);
    if (!e) return undefined;
    const before = e.meta.sha256;
    e.meta = { ...update({ ...e.meta }), hash, size: e.meta.size, chunkSize: e.meta.chunkSize };
    this.#write(records);
    if (e.meta.sha256 !== before) this.#sha256.put(e.meta);
    return { ...e.meta };
  }

  async remove(hash: string, check: (meta: BlobMeta) => void): Promise<BlobMeta | undefined> {
    const e = this.#blobs.get(hash);
    if (!e) return undefined;
    check(e.meta);
    this.#blobs.delete(hash);
    this.#sha256.remove(e.meta);
    this.#bytes -= e.meta.size;
    return e.meta;
  }

  list(after: string | undefined, limit: number): BlobMeta[] {
    const keys = [...this.#blobs.keys()].filter((k) => after === undefined || k > after).sort();
    return keys.slice(0, limit).map((k) => this.getMeta(k) as BlobMeta);
  }

  findSha256(sha256: string): BlobMeta | undefined {
    const hash = this.#sha256.get(sha256);
    return hash === undefined ? undefined : this.getMeta(hash);
  }

  async touch(times: ReadonlyMap<string, number>): Promise<void> {
    for (const [hash, t] of times) {
      const e = this.#blobs.get(hash);
      if (e && t > e.lastRead) e.lastRead = t;
    }
  }

  coldest(limit: number, after?: { hash: string; lastRead: number }): { hash: string; size: number; lastRead: number }[] {
    // Sorted on every call: fine for the memory store's sizes (the LMDB store keeps an index instead).
    const later = (e: { hash: string; lastRead: number }) => !after || e.lastRead > after.lastRead || (e.lastRead === after.lastRead && e.hash > after.hash);
    return [...this.#blobs.values()]
      .filter((e) => !e.meta.pinned)
      .map((e) => ({ hash: e.meta.hash, size: e.meta.size, lastRead: e.lastRead }))
      .filter(later)
      .sort((a, b) => a.lastRead - b.lastRead || (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0))
      .slice(0, limit);
  }

  usage(): { bytesUsed: number; blobCount: number } {
    return { bytesUsed: this.#bytes, blobCount: this.#blobs.size };
  }

  async close(): Promise<void> {
    this.#blobs.clear();
    this.#bytes = 0;
  }
}

/** A BlobStore held in memory. */
export class MemoryBlobStore extends ChunkedBlobStore {
  constructor(options: StoreOptions = {}) {
    super(new MemoryBackend(), options);
  }
}
