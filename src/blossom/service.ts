// The Blossom server's domain logic over the blob store: who may upload, uploads that become owned blobs (pinned while
// any owner holds them, so garbage collection keeps them), deletes that remove one owner, lists and descriptors. No HTTP here.
import { ImportAbortedError, NotFoundError, PinnedError } from "../store/errors.ts";
import type { BlobMeta, BlobStore } from "../store/types.ts";
import { BlossomError } from "./errors.ts";
import { DEFAULT_TYPE, extensionOf, typeAllowed } from "./mime.ts";
import { BlossomOwners, type ListQuery, type OwnedBlob, type Quota } from "./owners.ts";

/** The `blossom.*` settings the service applies. Sizes in bytes. */
export interface BlossomSettings {
  /** Pubkeys that upload free. */
  allowedPubkeys: readonly string[];
  /** Anyone uploads free. */
  openUploads: boolean;
  quota: Quota;
  maxUploadSize: number;
  /** Allowed MIME types (exact or type/*); empty: any. */
  allowedTypes: readonly string[];
  /** Whether uploads by others may be paid for (BUD-07: pay.enabled and a content-upload price). */
  paidUploads: boolean;
}

/** How an upload by a pubkey is allowed. */
export type UploadRight = "free" | "paid";

/** BUD-02 blob descriptor (plus `blake3`, this node's name of the bytes). */
export interface BlobDescriptor {
  url: string;
  sha256: string;
  size: number;
  type: string;
  uploaded: number;
  blake3: string;
}

/** What an upload is given besides its bytes. */
export interface UploadRequest {
  /** The uploader (a checked authorization's signer). */
  pubkey: string;
  /** The SHA-256 the bytes must have, or any of these (the X-SHA-256 header, else the authorization's x tags). */
  sha256: string | readonly string[];
  /** Declared size (Content-Length), if any: the upload must match it. */
  size?: number;
  /** Declared MIME type, if any. */
  type?: string;
  /** Where the bytes come from, for the store's `source` (default "blossom:<pubkey>"). */
  source?: string;
  signal?: AbortSignal;
}

/** Outcome of an upload. */
export interface UploadResult {
  record: OwnedBlob;
  /** The bytes were new to this node (BUD-02 answers 201, else 200). */
  created: boolean;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Blossom over a blob store and the ownership tables. */
export class BlossomService {
  readonly store: BlobStore;
  readonly owners: BlossomOwners;
  readonly settings: BlossomSettings;
  readonly #allowed: ReadonlySet<string>;
  readonly #now: () => number;
  /** Ownership changes of one blob run one at a time (an upload's claim never races a delete's unpin). */
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(deps: { store: BlobStore; owners: BlossomOwners; settings: BlossomSettings; now?: () => number }) {
    if (!deps?.store || !deps.owners || !deps.settings) throw new TypeError("BlossomService needs a store, the ownership tables and settings");
    this.store = deps.store;
    this.owners = deps.owners;
    this.settings = deps.settings;
    this.#allowed = new Set(deps.settings.allowedPubkeys);
    this.#now = deps.now ?? (() => Math.floor(Date.now() / 1000));
  }

  /** Checks size and type against the limits (BUD-06 pre-flight, and before an upload reads its body). */
  checkLimits(size: number | undefined, type: string | undefined): void {
    const max = this.settings.maxUploadSize;
    if (size !== undefined && size > max) throw new BlossomError("too-large", `the blob is ${size} bytes; this server takes at most ${max} (blossom.max_upload_size)`);
    if (type !== undefined && !typeAllowed(type, this.settings.allowedTypes)) {
      throw new BlossomError("type-not-allowed", `type ${type} is not accepted here; accepted: ${this.settings.allowedTypes.join(", ")}`);
    }
  }

  /**
   * How `pubkey` may upload `size` more bytes: free (listed, or open uploads), paid (BUD-07), or not at all
   * (BlossomError not-allowed). A free or paid upload must still fit the pubkey's quota.
   */
  uploadRight(pubkey: string, size: number | undefined): UploadRight {
    const right: UploadRight | undefined = this.settings.openUploads || this.#allowed.has(pubkey) ? "free" : this.settings.paidUploads ? "paid" : undefined;
    if (!right) throw new BlossomError("not-allowed", "this server takes uploads only from the pubkeys it lists (blossom.allowed_pubkeys)");
    const { quota } = this.settings;
    const u = this.owners.usage(pubkey);
    if (quota.blobs > 0 && u.blobs >= quota.blobs) throw new BlossomError("quota-blobs", `this pubkey owns ${u.blobs} blobs, its quota (blossom.max_blobs_per_pubkey)`);
    if (quota.bytes > 0 && size !== undefined && u.bytes + size > quota.bytes) {
      throw new BlossomError("quota-bytes", `this pubkey owns ${u.bytes} bytes; ${size} more would pass its quota of ${quota.bytes} bytes (blossom.quota_per_pubkey)`);
    }
    return right;
  }

  /**
   * Stores the bytes (verified against the SHA-256 before they become visible; at most blossom.max_upload_size) and
   * makes `pubkey` an owner. Bytes already stored are only hashed, never written twice. Throws BlossomError for a
   * refusal (too-large, quota), the store's errors for the rest (Sha256MismatchError, StoreFullError, ...).
   */
  async upload(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, req: UploadRequest): Promise<UploadResult> {
    if (!HEX64.test(req.pubkey)) throw new TypeError("upload needs the uploader's pubkey");
    const wanted = typeof req.sha256 === "string" ? [req.sha256] : [...req.sha256];
    this.checkLimits(req.size, req.type);
    // What this node already has under the SHA-256s named, and whether it was pinned before this upload.
    const known = new Map<string, BlobMeta>();
    for (const sha of wanted) {
      const m = await this.store.bySha256(sha).catch(() => undefined);
      if (m) known.set(m.hash, m);
    }
    let result;
    try {
      // Committed pinned, so that garbage collection never takes an owned blob (not even before its owner is recorded).
      // A blob this node has under the one SHA-256 named is only verified: the store hashes it and writes nothing.
      const only = known.size === 1 && wanted.length === 1 ? [...known.keys()][0] : undefined;
      result = await this.store.import(this.#bounded(source), {
        expectedSha256: wanted,
        ...(only ? { expectedHash: only } : {}),
        ...(req.size !== undefined ? { size: req.size } : {}),
        source: req.source ?? `blossom:${req.pubkey}`,
        pin: true,
        ...(req.signal ? { signal: req.signal } : {}),
      });
    } catch (err) {
      if (err instanceof ImportAbortedError && err.cause instanceof BlossomError) throw err.cause;
      throw err;
    }
    // A blob that was there but not found under the names given is taken as pinned before: it is never unpinned.
    const pinnedBefore = result.created ? false : (known.get(result.hash)?.pinned ?? true);
    const meta = await this.store.stat(result.hash);
    try {
      const record = await this.claim(req.pubkey, meta, req.type ?? DEFAULT_TYPE, pinnedBefore);
      return { record, created: result.created };
    } catch (err) {
      // Refused after all (the quota, for an upload of unknown size, or a race): undo what this upload changed.
      await this.#locked(meta.sha256!, async () => {
        if (this.owners.blob(meta.sha256!)) return;
        if (result.created) await this.store.delete(result.hash, { force: true });
        else if (!pinnedBefore) await this.store.unpin(result.hash);
      }).catch(() => undefined);
      throw err;
    }
  }

  /** Counts the bytes of a source and stops it past blossom.max_upload_size. */
  async *#bounded(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    const max = this.settings.maxUploadSize;
    let n = 0;
    for await (const piece of source) {
      n += piece.byteLength;
      if (n > max) throw new BlossomError("too-large", `the blob is over ${max} bytes, the most this server takes (blossom.max_upload_size)`);
      yield piece;
    }
  }

  /**
   * Makes `pubkey` an owner of a stored (and pinned) blob; returns the ownership record. `pinnedBefore` says whether
   * the blob was pinned before Blossom pinned it (remembered with its first owner: the last owner leaving then keeps
   * the pin and the bytes).
   */
  async claim(pubkey: string, meta: BlobMeta, type: string, pinnedBefore: boolean): Promise<OwnedBlob> {
    if (!meta.sha256) throw new Error(`blob ${meta.hash} has no SHA-256 yet`);
    const sha256 = meta.sha256;
    return this.#locked(sha256, async () => {
      // Deleted by its last owner while this upload was verified: nothing to own.
      if (!(await this.store.has(meta.hash))) throw new NotFoundError(meta.hash);
      const rec: OwnedBlob = { pubkey, sha256, blake3: meta.hash, size: meta.size, type, uploaded: this.#now() };
      const r = await this.owners.add(rec, this.settings.quota, pinnedBefore);
      return r.record;
    });
  }

  /**
   * BUD-12 delete: removes `pubkey`'s ownership of the blob. When no owner is left, the bytes go too, unless the
   * blob was pinned before Blossom owners came (an operator's pin, a live segment's) or was pinned since.
   * Throws BlossomError not-owner when `pubkey` owns no such blob.
   */
  async remove(pubkey: string, sha256: string): Promise<{ deleted: boolean }> {
    return this.#locked(sha256, async () => {
      const r = await this.owners.remove(pubkey, sha256);
      if (!r) throw new BlossomError("not-owner", `this pubkey owns no blob ${sha256} here`);
      if (!r.last || r.blob.pinnedBefore) return { deleted: false };
      try {
        await this.store.unpin(r.blob.blake3);
        return { deleted: await this.store.delete(r.blob.blake3) };
      } catch (err) {
        if (err instanceof NotFoundError || err instanceof PinnedError) return { deleted: false };
        throw err;
      }
    });
  }

  /** The stored blob with this SHA-256 and its type (from its upload), or NotFoundError. */
  async find(sha256: string): Promise<{ meta: BlobMeta; type: string | undefined }> {
    const meta = await this.store.bySha256(sha256);
    return { meta, type: this.owners.blob(sha256)?.type };
  }

  /** BUD-12 list: `pubkey`'s blobs still stored, newest first. */
  async list(pubkey: string, q: ListQuery): Promise<OwnedBlob[]> {
    const rows = this.owners.list(pubkey, q);
    const out: OwnedBlob[] = [];
    for (const r of rows) if (await this.store.has(r.blake3)) out.push(r);
    return out;
  }

  /** The BUD-02 descriptor of an ownership record; `base` is the server's origin URL (no trailing slash). */
  descriptor(rec: OwnedBlob, base: string): BlobDescriptor {
    return { url: `${base}/${rec.sha256}${extensionOf(rec.type)}`, sha256: rec.sha256, size: rec.size, type: rec.type, uploaded: rec.uploaded, blake3: rec.blake3 };
  }

  async #locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#locks.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.#locks.get(key) === tail) this.#locks.delete(key);
    }
  }
}
