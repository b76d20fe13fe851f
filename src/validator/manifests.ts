// Committed file manifests in LMDB, indexed by placement group, plus each file's compact Bao outboard.
import type { Database, RootDatabase } from "lmdb";
import type { StripeRecord } from "../cluster/layout.ts";

/** A committed file. */
export interface FileRecord {
  hash: string;
  size: number;
  stripeSize: number;
  k: number;
  m: number;
  name: string;
  created: number;
  epoch: number;
  stripes: { pg: number; shardSize: number; dataLength: number; shards: string[] }[];
}

interface PgEntry {
  shardSize: number;
  dataLength: number;
  shards: string[];
  /** Upload id while the upload runs. */
  pending?: string;
}

const hex8 = (n: number) => n.toString(16).padStart(8, "0");
const PG_KEY = /^[0-9a-f]{8}:[0-9a-f]{64}:[0-9a-f]{8}$/;
/** pgStripes scans instead of seeking PG by PG while the table holds at most this many stripes per PG asked. */
const SCAN_PER_PG = 4;

/** Index key of one stripe: PG first, so that a PG's stripes are one range. */
export function pgKey(pg: number, file: string, stripe: number): string {
  return `${hex8(pg)}:${file}:${hex8(stripe)}`;
}

function fromKey(key: string, v: PgEntry): StripeRecord {
  const [pg, file, stripe] = key.split(":");
  const s: StripeRecord = { file: file!, index: parseInt(stripe!, 16), pg: parseInt(pg!, 16), shardSize: v.shardSize, dataLength: v.dataLength, shards: v.shards };
  if (v.pending) s.pending = true;
  return s;
}

/**
 * The manifests, in the node's LMDB environment:
 *   cluster-files      file hash                 -> FileRecord
 *   cluster-pgs        pg:file:stripe            -> shard hashes (and the upload id while pending)
 *   cluster-outboards  file hash                 -> compact Bao outboard of the whole file
 *   cluster-pending    uploadId|pg:file:stripe   -> 1   (entries of uploads in progress; swept at open)
 * Stripes of an upload in progress are listed (pending) so that miners never collect shards pushed for it.
 */
export class ManifestStore {
  readonly #root: RootDatabase;
  readonly #files: Database<FileRecord, string>;
  readonly #pgs: Database<PgEntry, string>;
  readonly #outboards: Database<Buffer, string>;
  readonly #pending: Database<number, string>;
  #files_n = 0;
  #stripes_n = 0;

  private constructor(root: RootDatabase) {
    this.#root = root;
    this.#files = root.openDB<FileRecord, string>({ name: "cluster-files" });
    this.#pgs = root.openDB<PgEntry, string>({ name: "cluster-pgs" });
    this.#outboards = root.openDB<Buffer, string>({ name: "cluster-outboards", encoding: "binary" });
    this.#pending = root.openDB<number, string>({ name: "cluster-pending" });
  }

  /** Opens the manifests and removes the pending entries of uploads a crash interrupted. */
  static async open(root: RootDatabase): Promise<ManifestStore> {
    const s = new ManifestStore(root);
    const stale = [...s.#pending.getKeys()] as string[];
    if (stale.length) {
      await root.transaction(() => {
        for (const k of stale) {
          const key = k.slice(k.indexOf("|") + 1);
          if (s.#pgs.get(key)?.pending) s.#pgs.remove(key);
          s.#pending.remove(k);
        }
      });
    }
    for (const { value } of s.#files.getRange()) {
      s.#files_n++;
      s.#stripes_n += value.stripes.length;
    }
    return s;
  }

  /** Committed files and their stripes. */
  counts(): { files: number; stripes: number } {
    return { files: this.#files_n, stripes: this.#stripes_n };
  }

  get(hash: string): FileRecord | undefined {
    return this.#files.get(hash);
  }

  /** The compact Bao outboard of a committed file. */
  outboard(hash: string): Uint8Array | undefined {
    return this.#outboards.getBinary(hash);
  }

  /** Lists a stripe of an upload in progress (before its shards are pushed). */
  async addPending(uploadId: string, s: StripeRecord): Promise<void> {
    const key = pgKey(s.pg, s.file, s.index);
    await this.#root.transaction(() => {
      if (this.#pgs.get(key) && !this.#pgs.get(key)!.pending) return;
      this.#pgs.put(key, { shardSize: s.shardSize, dataLength: s.dataLength, shards: s.shards, pending: uploadId });
      this.#pending.put(`${uploadId}|${key}`, 1);
    });
  }

  /** Removes an upload's pending entries (it failed). */
  async abort(uploadId: string): Promise<void> {
    const keys = [...this.#pending.getKeys({ start: `${uploadId}|`, end: `${uploadId}}` })] as string[];
    await this.#root.transaction(() => {
      for (const k of keys) {
        const key = k.slice(uploadId.length + 1);
        if (this.#pgs.get(key)?.pending === uploadId) this.#pgs.remove(key);
        this.#pending.remove(k);
      }
    });
  }

  /** Commits a file: manifest, outboard and PG index in one transaction; the upload's pending entries are dropped. */
  async commit(uploadId: string, f: FileRecord, outboard: Uint8Array): Promise<void> {
    const pending = [...this.#pending.getKeys({ start: `${uploadId}|`, end: `${uploadId}}` })] as string[];
    let added = false;
    await this.#root.transaction(() => {
      if (!this.#files.get(f.hash)) {
        this.#files.put(f.hash, f);
        this.#outboards.put(f.hash, Buffer.from(outboard.buffer, outboard.byteOffset, outboard.byteLength));
        added = true;
      }
      f.stripes.forEach((s, i) => this.#pgs.put(pgKey(s.pg, f.hash, i), { shardSize: s.shardSize, dataLength: s.dataLength, shards: s.shards }));
      for (const k of pending) this.#pending.remove(k);
    });
    if (added) {
      this.#files_n++;
      this.#stripes_n += f.stripes.length;
    }
  }

  /** Removes a committed file; returns its record, or undefined when it was not stored. */
  async delete(hash: string): Promise<FileRecord | undefined> {
    const f = this.#files.get(hash);
    if (!f) return undefined;
    await this.#root.transaction(() => {
      f.stripes.forEach((s, i) => this.#pgs.remove(pgKey(s.pg, hash, i)));
      this.#files.remove(hash);
      this.#outboards.remove(hash);
    });
    this.#files_n--;
    this.#stripes_n -= f.stripes.length;
    return f;
  }

  /**
   * One page of the stripes (committed and pending) in `pgs`, in key order, after the cursor `after` (a key returned
   * as `next` by the previous page).
   */
  pgStripes(pgs: readonly number[], after: string, limit: number): { stripes: StripeRecord[]; next: string } {
    if (after !== "" && !PG_KEY.test(after)) throw new RangeError("after must be empty or the next of the previous page");
    const sorted = [...new Set(pgs)].sort((a, b) => a - b);
    const out: StripeRecord[] = [];
    let last = "";
    if (sorted.length === 0) return { stripes: out, next: "" };
    // Few stripes in all (fewer than SCAN_PER_PG per PG asked): one scan over the asked PGs' key span, filtered, reads
    // less than a range seek per PG (most of them empty). Same stripes, same order, same pages either way.
    const entries = (this.#pgs.getStats() as { entryCount?: number }).entryCount;
    if (entries !== undefined && entries <= sorted.length * SCAN_PER_PG) {
      const wanted = new Set(sorted);
      const first = `${hex8(sorted[0]!)}:`;
      for (const { key, value } of this.#pgs.getRange({ start: after && after > first ? after : first, end: `${hex8(sorted[sorted.length - 1]!)};` })) {
        if (key === after || !wanted.has(parseInt(key.slice(0, 8), 16))) continue;
        out.push(fromKey(key, value));
        last = key;
        if (out.length >= limit) return { stripes: out, next: last };
      }
      return { stripes: out, next: "" };
    }
    for (const pg of sorted) {
      const prefix = `${hex8(pg)}:`;
      if (after && after > `${hex8(pg)};`) continue;
      const start = after && after.startsWith(prefix) ? after : prefix;
      for (const { key, value } of this.#pgs.getRange({ start, end: `${hex8(pg)};` })) {
        if (key === after) continue;
        out.push(fromKey(key, value));
        last = key;
        if (out.length >= limit) return { stripes: out, next: last };
      }
    }
    return { stripes: out, next: "" };
  }

  /** Every committed stripe, in PG order. */
  *allStripes(): Generator<StripeRecord> {
    for (const { key, value } of this.#pgs.getRange()) {
      if (value.pending) continue;
      yield fromKey(key, value);
    }
  }
}
