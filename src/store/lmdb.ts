// LMDB BlobStore: chunks keyed by an internal import id, made visible by one commit transaction; crash leftovers are swept at open.
//
// Layout (named databases in one environment, normally <data_dir>/db):
//   blobs     hash hex            -> StoredMeta (msgpack)         visible blobs
//   outboards hash hex            -> compact Bao outboard (binary)
//   chunks    u64 cid | u32 index -> chunk bytes (binary)        cid = internal content id of one import
//   imports   cid                 -> { started, owner }          imports in progress (staging)
//   lastread  hash hex            -> Unix ms                     last read (commit time until read), batched writes
//   cold      u64 ms | hash (32)  -> size                        unpinned blobs by last read: the GC's eviction order
//   sha256    sha256 hex          -> hash hex                    the SHA-256 index (sha256-index.ts)
//   state     "usage"             -> { bytesUsed, blobCount }    committed blobs only
//             "nextId"            -> next cid
//             "owner"             -> { pid, boot, start }        the one process using the store
//             "coldIndex"         -> 1                           `cold`/`lastread` were built (stores made before them)
//   records   key (string)        -> value (msgpack)             application records (BlobStore.record), written
//                                                                alone or in a blob's commit/meta transaction
// An import first records its cid in `imports` (queued before its first chunk, so no chunk can exist without it),
// writes chunks, then one transaction writes the meta + outboard, drops the `imports` record and updates `usage`.
// A kill at any point leaves at most an `imports` record with some chunks: open() deletes both. Nothing is counted
// in `usage` until the commit transaction, so no space leaks. `cold` and `lastread` change in the same transactions as
// the meta records (commit, pin/unpin, remove), so the eviction order never names a pinned or missing blob.
import type { Database, RootDatabase } from "lmdb";
import { openLmdb } from "./lmdb-native.ts";
import { StoreError } from "./errors.ts";
import { currentProcess, isRunning, type ProcessIdentity } from "./owner.ts";
import { ChunkedBlobStore, type StoreOptions } from "./chunked-store.ts";
import { LmdbSha256Index } from "./sha256-index.ts";
import type { ImportSink, StoreBackend } from "./store-backend.ts";
import type { BlobMeta, StoreRecords } from "./types.ts";

interface StoredMeta extends BlobMeta {
  cid: number;
}

interface Usage {
  bytesUsed: number;
  blobCount: number;
}

/** Most chunk writes queued to LMDB per import before waiting (back-pressure: bounds memory per import). */
const WRITE_WINDOW = 32;

/** Key of `cold`: the last-read time (big-endian, so keys sort by time) then the hash. */
function coldKey(ms: number, hash: string): Buffer {
  const k = Buffer.allocUnsafe(40);
  const t = Math.max(0, Math.floor(ms));
  k.writeUInt32BE(Math.floor(t / 0x1_0000_0000), 0);
  k.writeUInt32BE(t >>> 0, 4);
  k.write(hash, 8, 32, "hex");
  return k;
}

function chunkKey(cid: number, index: number): Buffer {
  const k = Buffer.allocUnsafe(12);
  k.writeUInt32BE(Math.floor(cid / 0x1_0000_0000), 0);
  k.writeUInt32BE(cid >>> 0, 4);
  k.writeUInt32BE(index >>> 0, 8);
  return k;
}

class LmdbBackend implements StoreBackend {
  readonly #root: RootDatabase;
  readonly #ownsRoot: boolean;
  readonly #blobs: Database<StoredMeta, string>;
  readonly #outboards: Database<Buffer, string>;
  readonly #chunks: Database<Buffer, Buffer>;
  readonly #imports: Database<{ started: number; owner: ProcessIdentity }, number>;
  readonly #state: Database<unknown, string>;
  readonly #lastRead: Database<number, string>;
  readonly #cold: Database<number, Buffer>;
  readonly #sha256: LmdbSha256Index;
  readonly #records: Database<unknown, string>;
  #usage: Usage;
  #nextId: number;
  /** Chunk entries and imports swept at open (crash leftovers). */
  readonly swept: { imports: number; chunks: number };

  constructor(root: RootDatabase, ownsRoot: boolean) {
    this.#root = root;
    this.#ownsRoot = ownsRoot;
    this.#blobs = root.openDB<StoredMeta, string>({ name: "blobs" });
    this.#outboards = root.openDB<Buffer, string>({ name: "outboards", encoding: "binary" });
    this.#chunks = root.openDB<Buffer, Buffer>({ name: "chunks", encoding: "binary", keyEncoding: "binary" });
    this.#imports = root.openDB<{ started: number; owner: ProcessIdentity }, number>({ name: "imports" });
    this.#state = root.openDB<unknown, string>({ name: "state" });
    this.#lastRead = root.openDB<number, string>({ name: "lastread" });
    this.#cold = root.openDB<number, Buffer>({ name: "cold", keyEncoding: "binary" });
    this.#sha256 = new LmdbSha256Index(root);
    this.#records = root.openDB<unknown, string>({ name: "records" });
    this.#claim();
    this.swept = this.#sweep();
    if (this.#state.get("coldIndex") !== 1) this.#buildColdIndex();
    this.#usage = (this.#state.get("usage") as Usage | undefined) ?? this.#recount();
    this.#nextId = (this.#state.get("nextId") as number | undefined) ?? 1;
  }

  /**
   * Takes ownership of the store: one process at a time (ids and counters are kept in memory). Refuses when another
   * running process holds it; a record left by a crashed process (or an earlier boot) is taken over.
   */
  #claim(): void {
    const me = currentProcess();
    this.#root.transactionSync(() => {
      const owner = this.#state.get("owner") as ProcessIdentity | undefined;
      if (owner && owner.pid !== me.pid && isRunning(owner)) {
        throw new StoreError(`the blob store is in use by process ${owner.pid}; one node per data directory`);
      }
      this.#state.putSync("owner", me);
    });
    this.#me = me;
  }

  #me: ProcessIdentity | undefined;

  /** Deletes every unfinished import and its chunks (all are leftovers: this process owns the store now). */
  #sweep(): { imports: number; chunks: number } {
    let imports = 0;
    let chunks = 0;
    const ids = [...this.#imports.getKeys()] as number[];
    for (const cid of ids) {
      const keys = [...this.#chunks.getKeys({ start: chunkKey(cid, 0), end: chunkKey(cid + 1, 0) })] as Buffer[];
      this.#root.transactionSync(() => {
        for (const k of keys) this.#chunks.removeSync(k);
        this.#imports.removeSync(cid);
      });
      imports++;
      chunks += keys.length;
    }
    return { imports, chunks };
  }

  /** Builds the eviction order of a store made before it existed: every unpinned blob, by commit time. */
  #buildColdIndex(): void {
    this.#root.transactionSync(() => {
      for (const { key, value } of this.#blobs.getRange()) {
        if (this.#lastRead.get(key) === undefined) this.#lastRead.putSync(key, value.created);
        if (!value.pinned) this.#cold.putSync(coldKey(this.#lastRead.get(key) ?? value.created, key), value.size);
      }
      this.#state.putSync("coldIndex", 1);
    });
  }

  #lastReadOf(m: BlobMeta): number {
    return this.#lastRead.get(m.hash) ?? m.created;
  }

  #recount(): Usage {
    const u: Usage = { bytesUsed: 0, blobCount: 0 };
    for (const { value } of this.#blobs.getRange()) {
      u.bytesUsed += value.size;
      u.blobCount++;
    }
    this.#state.putSync("usage", u);
    return u;
  }

  getMeta(hash: string): BlobMeta | undefined {
    return this.#blobs.get(hash);
  }

  readChunk(meta: BlobMeta, index: number, from: number, to: number, stable: boolean): { length: number; bytes: Uint8Array } | undefined {
    const cid = (meta as StoredMeta).cid ?? this.#blobs.get(meta.hash)?.cid;
    if (cid === undefined) return undefined;
    // getBinaryFast reads into lmdb's shared buffer (valid until the next read); only the wanted part is copied out.
    const shared = this.#chunks.getBinaryFast(chunkKey(cid, index));
    if (shared === undefined) return undefined;
    const length = shared.length; // lmdb sets length to the value size; byteLength is the shared buffer's
    const end = Math.min(to, length);
    const bytes = stable ? Uint8Array.prototype.slice.call(shared, from, end) : shared.subarray(from, end);
    return { length, bytes };
  }

  getOutboard(hash: string): Uint8Array | undefined {
    return this.#outboards.getBinary(hash);
  }

  /** Writes `records` (undefined deletes); inside a transaction callback they join that transaction. */
  #write(records: StoreRecords | undefined): void {
    for (const [k, v] of Object.entries(records ?? {})) {
      if (v === undefined) this.#records.remove(k);
      else this.#records.put(k, v);
    }
  }

  getRecord(key: string): unknown {
    return this.#records.get(key);
  }

  async putRecords(records: StoreRecords): Promise<void> {
    await this.#root.transaction(() => this.#write(records));
  }

  recordKeys(prefix: string, limit: number): string[] {
    const out: string[] = [];
    for (const k of this.#records.getKeys({ start: prefix })) {
      if (typeof k !== "string" || !k.startsWith(prefix) || out.length >= limit) break;
      out.push(k);
    }
    return out;
  }

  #chunkKeys(cid: number): Buffer[] {
    return [...this.#chunks.getKeys({ start: chunkKey(cid, 0), end: chunkKey(cid + 1, 0) })] as Buffer[];
  }

  async beginImport(): Promise<ImportSink> {
    const cid = this.#nextId++;
    // The first chunk is held back: an import that ends with it (a blob of one chunk) is written in its commit
    // transaction alone, with no staging record, so a small import dirties as few pages as it can. A longer import
    // stages: its `imports` record is queued before its first chunk (LMDB commits async writes in call order), so a
    // kill at any point leaves a record that open() sweeps with its chunks.
    const pending: Promise<unknown>[] = [];
    let held: { index: number; chunk: Uint8Array } | undefined;
    let staged = false;
    let finished = false;
    const stage = () => {
      staged = true;
      pending.push(this.#imports.put(cid, { started: Date.now(), owner: this.#me ?? currentProcess() }), this.#state.put("nextId", this.#nextId));
      if (held) pending.push(this.#chunks.put(chunkKey(cid, held.index), held.chunk as Buffer));
      held = undefined;
    };
    return {
      write: async (index, chunk) => {
        if (finished) throw new Error("import already finished");
        if (!staged && !held) {
          held = { index, chunk };
          return;
        }
        if (!staged) stage();
        pending.push(this.#chunks.put(chunkKey(cid, index), chunk as Buffer));
        if (pending.length >= WRITE_WINDOW) await pending.shift();
      },
      commit: async (meta, outboard, records) => {
        finished = true;
        // The commit transaction is queued right behind the chunk writes (LMDB applies async writes in call order),
        // so a small import costs one commit, not two. It checks that every chunk landed before making the blob
        // visible; if one is missing (a failed write) it discards the import instead.
        const expected = Math.ceil(meta.size / meta.chunkSize);
        const writes = pending.splice(0);
        const single = held;
        held = undefined;
        const stored: StoredMeta = { ...meta, cid };
        const outcome = this.#root.transaction((): "created" | "existing" | "incomplete" => {
          const exists = this.#blobs.get(meta.hash) !== undefined;
          if (single) {
            if (exists) return "existing";
            if (expected !== 1 || single.index !== 0) return "incomplete";
            this.#chunks.put(chunkKey(cid, 0), single.chunk as Buffer);
          } else {
            const keys = this.#chunkKeys(cid);
            if (exists || keys.length !== expected) {
              for (const k of keys) this.#chunks.remove(k);
              if (staged) this.#imports.remove(cid);
              return exists ? "existing" : "incomplete";
            }
          }
          const u = (this.#state.get("usage") as Usage | undefined) ?? { bytesUsed: 0, blobCount: 0 };
          const next = { bytesUsed: u.bytesUsed + meta.size, blobCount: u.blobCount + 1 };
          this.#blobs.put(meta.hash, stored);
          this.#outboards.put(meta.hash, Buffer.from(outboard.buffer, outboard.byteOffset, outboard.byteLength));
          // No `lastread` record yet: a blob never read counts as read when it was created (#lastReadOf).
          if (!meta.pinned) this.#cold.put(coldKey(meta.created, meta.hash), meta.size);
          this.#sha256.put(meta);
          if (staged) this.#imports.remove(cid);
          else this.#state.put("nextId", this.#nextId);
          this.#write(records);
          this.#state.put("usage", next);
          this.#usage = next;
          return "created";
        });
        const settled = await Promise.allSettled(writes);
        const result = await outcome;
        if (result === "incomplete") {
          const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
          throw new Error(`import of ${meta.hash} lost chunk writes; nothing stored`, { cause: failed?.reason });
        }
        return result === "created";
      },
      abort: async () => {
        finished = true;
        held = undefined;
        await Promise.allSettled(pending.splice(0));
        if (!staged) return;
        await this.#root.transaction(() => {
          for (const k of this.#chunkKeys(cid)) this.#chunks.remove(k);
          this.#imports.remove(cid);
        });
      },
    };
  }

  async updateMeta(hash: string, update: (meta: BlobMeta) => BlobMeta, records?: StoreRecords): Promise<BlobMeta | undefined> {
    return this.#root.transaction(() => {
      const m = this.#blobs.get(hash);
      if (!m) return undefined;
      const next: StoredMeta = { ...update({ ...m }), hash, size: m.size, chunkSize: m.chunkSize, cid: m.cid };
      this.#blobs.put(hash, next);
      this.#write(records);
      if (next.pinned !== m.pinned) {
        const key = coldKey(this.#lastReadOf(m), hash);
        if (next.pinned) this.#cold.remove(key);
        else this.#cold.put(key, m.size);
      }
      if (next.sha256 !== m.sha256) this.#sha256.put(next);
      return next;
    });
  }

  async remove(hash: string, check: (meta: BlobMeta) => void): Promise<BlobMeta | undefined> {
    const outcome = await this.#root.transaction(() => {
      const m = this.#blobs.get(hash);
      if (!m) return { meta: undefined, refused: undefined };
      try {
        check(m);
      } catch (err) {
        return { meta: m, refused: err };
      }
      for (const k of this.#chunkKeys(m.cid)) this.#chunks.remove(k);
      this.#blobs.remove(hash);
      this.#outboards.remove(hash);
      if (!m.pinned) this.#cold.remove(coldKey(this.#lastReadOf(m), hash));
      this.#lastRead.remove(hash);
      this.#sha256.remove(m);
      const u = (this.#state.get("usage") as Usage | undefined) ?? { bytesUsed: 0, blobCount: 0 };
      const next = { bytesUsed: u.bytesUsed - m.size, blobCount: u.blobCount - 1 };
      this.#state.put("usage", next);
      this.#usage = next;
      return { meta: m as BlobMeta | undefined, refused: undefined as unknown };
    });
    if (outcome.refused !== undefined) throw outcome.refused;
    return outcome.meta;
  }

  list(after: string | undefined, limit: number): BlobMeta[] {
    const out: BlobMeta[] = [];
    for (const { key, value } of this.#blobs.getRange(after === undefined ? {} : { start: after })) {
      if (key === after) continue;
      out.push(value);
      if (out.length >= limit) break;
    }
    return out;
  }

  findSha256(sha256: string): BlobMeta | undefined {
    const hash = this.#sha256.get(sha256);
    return hash === undefined ? undefined : this.#blobs.get(hash);
  }

  async touch(times: ReadonlyMap<string, number>): Promise<void> {
    await this.#root.transaction(() => {
      for (const [hash, t] of times) {
        const m = this.#blobs.get(hash);
        if (!m) continue;
        const old = this.#lastReadOf(m);
        if (!(t > old)) continue;
        this.#lastRead.put(hash, t);
        if (!m.pinned) {
          this.#cold.remove(coldKey(old, hash));
          this.#cold.put(coldKey(t, hash), m.size);
        }
      }
    });
  }

  coldest(limit: number, after?: { hash: string; lastRead: number }): { hash: string; size: number; lastRead: number }[] {
    const out: { hash: string; size: number; lastRead: number }[] = [];
    const start = after ? coldKey(after.lastRead, after.hash) : undefined;
    for (const { key, value } of this.#cold.getRange(start ? { start } : {})) {
      if (start && key.equals(start)) continue;
      out.push({ hash: key.toString("hex", 8, 40), size: value, lastRead: key.readUInt32BE(0) * 0x1_0000_0000 + key.readUInt32BE(4) });
      if (out.length >= limit) break;
    }
    return out;
  }

  usage(): Usage {
    return { ...this.#usage };
  }

  /** Counts what is on disk: chunk entries, the chunks committed blobs need, staging records, and summed sizes. */
  audit(): StoreAudit {
    let chunkEntries = 0;
    for (const _ of this.#chunks.getKeys()) chunkEntries++;
    let expectedChunks = 0;
    let bytes = 0;
    let blobs = 0;
    for (const { value } of this.#blobs.getRange()) {
      expectedChunks += Math.ceil(value.size / value.chunkSize);
      bytes += value.size;
      blobs++;
    }
    let staging = 0;
    for (const _ of this.#imports.getKeys()) staging++;
    let unpinned = 0;
    let coldEntries = 0;
    for (const { value } of this.#blobs.getRange()) {
      if (value.pinned) continue;
      unpinned++;
      if (this.#cold.get(coldKey(this.#lastReadOf(value), value.hash)) !== undefined) coldEntries++;
    }
    let coldTotal = 0;
    for (const _ of this.#cold.getKeys()) coldTotal++;
    return { chunkEntries, expectedChunks, staging, bytes, blobs, usage: this.usage(), unpinned, coldIndexed: coldEntries === unpinned && coldTotal === unpinned };
  }

  async close(): Promise<void> {
    const me = this.#me;
    if (me) {
      await this.#root.transaction(() => {
        const owner = this.#state.get("owner") as ProcessIdentity | undefined;
        if (owner && owner.pid === me.pid && owner.start === me.start) this.#state.remove("owner");
      });
    }
    if (this.#ownsRoot) await this.#root.close();
  }
}

/** On-disk consistency figures (see LmdbBlobStore.audit). */
export interface StoreAudit {
  /** Chunk records present. */
  chunkEntries: number;
  /** Chunk records the committed blobs need; equal to chunkEntries when nothing leaked (and no import is running). */
  expectedChunks: number;
  /** Unfinished imports recorded. */
  staging: number;
  /** Sum of committed blob sizes and their count, recomputed from the meta records. */
  bytes: number;
  blobs: number;
  /** The persistent counters, which must agree with bytes/blobs. */
  usage: Usage;
  /** Unpinned blobs, and whether the GC's eviction order lists exactly them. */
  unpinned: number;
  coldIndexed: boolean;
}

/** Options of the LMDB store over an opened environment. */
export interface LmdbStoreOptions extends StoreOptions {
  /** The opened root database of the environment (normally `<data_dir>/db`). */
  root: RootDatabase;
  /** Close `root` when the store closes (set by LmdbBlobStore.open). */
  closeRoot?: boolean;
}

/** The node's persistent blob store on LMDB. */
export class LmdbBlobStore extends ChunkedBlobStore {
  /** Unfinished imports (and their chunks) removed when the store was opened. */
  readonly swept: { imports: number; chunks: number };
  readonly #backend: LmdbBackend;

  /** Opens (creating if needed) the LMDB environment at `path` and the store in it; closing the store closes it. */
  static async open(options: StoreOptions & { path: string }): Promise<LmdbBlobStore> {
    if (options === null || typeof options !== "object") throw new TypeError("LmdbBlobStore.open needs an options object");
    if (typeof options.path !== "string" || options.path === "") throw new TypeError("LmdbBlobStore.open needs a non-empty `path`");
    const { path, ...rest } = options;
    const root = await openLmdb({ path, compression: false });
    try {
      return new LmdbBlobStore({ ...rest, root, closeRoot: true });
    } catch (err) {
      await root.close();
      throw err;
    }
  }

  /** Uses an opened environment (shared with other components unless `closeRoot`). */
  constructor(options: LmdbStoreOptions) {
    if (options === null || typeof options !== "object" || !options.root || typeof options.root.openDB !== "function") {
      throw new TypeError("LmdbBlobStore needs `root`, an opened lmdb root database (or use LmdbBlobStore.open)");
    }
    const backend = new LmdbBackend(options.root, options.closeRoot === true);
    super(backend, options);
    this.swept = backend.swept;
    this.#backend = backend;
  }

  /** Scans the database and reports whether chunks, metas and counters agree (an fsck for tests and operators). */
  audit(): StoreAudit {
    return this.#backend.audit();
  }
}
