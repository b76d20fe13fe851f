// Blossom ownership records in LMDB: which pubkey uploaded which blob (and when, and as what type), per-pubkey usage
// for the quotas, and per-blob owner counts, so that a delete removes one owner and the bytes go with the last one.
//
// Tables (in the node's LMDB environment):
//   blossom-owned   "<pubkey>:<sha256>"             -> OwnedBlob     one record per (owner, blob)
//   blossom-times   "<pubkey>:<uploaded 12d>:<sha>" -> OwnedBlob     the same records by upload time (BUD-12 order)
//   blossom-blobs   "<sha256>"                      -> BlobRecord    type, owner count, whether it was pinned before
//   blossom-usage   "<pubkey>"                      -> Usage         bytes and blobs owned
// Every change is one transaction over all four, so counts and records always agree.
import type { Database, RootDatabase } from "lmdb";
import { BlossomError } from "./errors.ts";

/** One (owner, blob) record. */
export interface OwnedBlob {
  pubkey: string;
  sha256: string;
  /** The store's name of the bytes. */
  blake3: string;
  size: number;
  /** MIME type the upload declared (or the blob's earlier one). */
  type: string;
  /** Upload time, Unix seconds. */
  uploaded: number;
}

/** What is known of a blob that has owners. */
export interface BlobRecord {
  blake3: string;
  type: string;
  owners: number;
  /** The blob was pinned in the store before its first owner came (so the last owner leaving does not unpin it). */
  pinnedBefore: boolean;
}

/** Bytes and blobs one pubkey owns. */
export interface Usage {
  bytes: number;
  blobs: number;
}

/** Per-pubkey limits; 0 means none. */
export interface Quota {
  bytes: number;
  blobs: number;
}

/** Paging and filters of {@link BlossomOwners.list} (BUD-12). */
export interface ListQuery {
  /** SHA-256 of the last blob of the previous page: the page starts after it. */
  cursor?: string;
  /** Only blobs uploaded at or after this Unix time. */
  since?: number;
  /** Only blobs uploaded at or before this Unix time. */
  until?: number;
  /** Page size (1..1000). */
  limit: number;
}

const pad = (t: number) => String(Math.max(0, Math.min(t, 999_999_999_999))).padStart(12, "0");

/** The ownership tables. */
export class BlossomOwners {
  readonly #root: RootDatabase;
  readonly #owned: Database<OwnedBlob, string>;
  readonly #times: Database<OwnedBlob, string>;
  readonly #blobs: Database<BlobRecord, string>;
  readonly #usage: Database<Usage, string>;

  /** Opens (creating if needed) the tables in an opened LMDB environment. */
  constructor(root: RootDatabase) {
    if (!root || typeof root.openDB !== "function") throw new TypeError("BlossomOwners needs an opened lmdb root database");
    this.#root = root;
    this.#owned = root.openDB<OwnedBlob, string>({ name: "blossom-owned" });
    this.#times = root.openDB<OwnedBlob, string>({ name: "blossom-times" });
    this.#blobs = root.openDB<BlobRecord, string>({ name: "blossom-blobs" });
    this.#usage = root.openDB<Usage, string>({ name: "blossom-usage" });
  }

  /** The record of `pubkey` owning `sha256`, if any. */
  get(pubkey: string, sha256: string): OwnedBlob | undefined {
    return this.#owned.get(`${pubkey}:${sha256}`);
  }

  /** What is known of a blob with owners. */
  blob(sha256: string): BlobRecord | undefined {
    return this.#blobs.get(sha256);
  }

  /** What `pubkey` owns now. */
  usage(pubkey: string): Usage {
    return this.#usage.get(pubkey) ?? { bytes: 0, blobs: 0 };
  }

  /**
   * Records `rec.pubkey` as an owner of the blob, unless it already is one (then its record is returned unchanged).
   * A new record must fit the quota (BlossomError quota-bytes / quota-blobs, nothing written). `pinnedBefore` (was
   * the blob pinned before Blossom pinned it) is remembered with the blob's first owner. The blob keeps its first type.
   */
  async add(rec: OwnedBlob, quota: Quota, pinnedBefore: boolean): Promise<{ record: OwnedBlob; added: boolean; first: boolean }> {
    return this.#root.transaction(() => {
      const key = `${rec.pubkey}:${rec.sha256}`;
      const existing = this.#owned.get(key);
      if (existing) return { record: existing, added: false, first: false };
      const u = this.#usage.get(rec.pubkey) ?? { bytes: 0, blobs: 0 };
      if (quota.bytes > 0 && u.bytes + rec.size > quota.bytes) {
        throw new BlossomError("quota-bytes", `this pubkey owns ${u.bytes} bytes; ${rec.size} more would pass its quota of ${quota.bytes} bytes (blossom.quota_per_pubkey)`);
      }
      if (quota.blobs > 0 && u.blobs + 1 > quota.blobs) {
        throw new BlossomError("quota-blobs", `this pubkey owns ${u.blobs} blobs, its quota (blossom.max_blobs_per_pubkey)`);
      }
      const b = this.#blobs.get(rec.sha256);
      const record: OwnedBlob = { ...rec, type: b?.type ?? rec.type };
      this.#owned.put(key, record);
      this.#times.put(`${rec.pubkey}:${pad(rec.uploaded)}:${rec.sha256}`, record);
      this.#usage.put(rec.pubkey, { bytes: u.bytes + rec.size, blobs: u.blobs + 1 });
      this.#blobs.put(rec.sha256, b ? { ...b, owners: b.owners + 1 } : { blake3: rec.blake3, type: rec.type, owners: 1, pinnedBefore });
      return { record, added: true, first: b === undefined };
    });
  }

  /**
   * Removes `pubkey`'s ownership of the blob. `last` says the blob has no owner left (its record is gone then too);
   * `blob` is what was known of it. Undefined when `pubkey` did not own it.
   */
  async remove(pubkey: string, sha256: string): Promise<{ record: OwnedBlob; blob: BlobRecord; last: boolean } | undefined> {
    return this.#root.transaction(() => {
      const key = `${pubkey}:${sha256}`;
      const record = this.#owned.get(key);
      if (!record) return undefined;
      this.#owned.remove(key);
      this.#times.remove(`${pubkey}:${pad(record.uploaded)}:${sha256}`);
      const u = this.#usage.get(pubkey) ?? { bytes: record.size, blobs: 1 };
      const left = { bytes: Math.max(0, u.bytes - record.size), blobs: Math.max(0, u.blobs - 1) };
      if (left.blobs === 0) this.#usage.remove(pubkey);
      else this.#usage.put(pubkey, left);
      // A blob record that went missing is taken as pinned before: its bytes are then never removed here.
      const b = this.#blobs.get(sha256) ?? { blake3: record.blake3, type: record.type, owners: 1, pinnedBefore: true };
      const last = b.owners <= 1;
      if (last) this.#blobs.remove(sha256);
      else this.#blobs.put(sha256, { ...b, owners: b.owners - 1 });
      return { record, blob: b, last };
    });
  }

  /** `pubkey`'s blobs, newest upload first (BUD-12), after `cursor`, within since/until. */
  list(pubkey: string, q: ListQuery): OwnedBlob[] {
    const out: OwnedBlob[] = [];
    const upper = `${pubkey}:${pad(q.until ?? 999_999_999_999)}:~`;
    let start = upper;
    if (q.cursor !== undefined) {
      const c = this.get(pubkey, q.cursor);
      if (!c) return out;
      const at = `${pubkey}:${pad(c.uploaded)}:${q.cursor}`;
      if (at < start) start = at;
    }
    const end = `${pubkey}:${pad(q.since ?? 0)}:`;
    for (const { key, value } of this.#times.getRange({ start, end, reverse: true })) {
      if (key === start && q.cursor !== undefined) continue;
      out.push(value);
      if (out.length >= q.limit) break;
    }
    return out;
  }
}
