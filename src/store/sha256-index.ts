// The SHA-256 index beside the BLAKE3 names: the LMDB table SHA-256 → BLAKE3, its mismatch error, and the background
// migration that gives blobs stored before the index their SHA-256 while the store keeps serving.
import type { Database, RootDatabase } from "lmdb";
import { HashMismatchError, NotFoundError } from "./errors.ts";
import type { BlobMeta } from "./types.ts";

/** True for 64 lowercase hex characters (a SHA-256 digest as the index and Blossom write it). */
export function isSha256(s: unknown): s is string {
  return typeof s === "string" && s.length === 64 && /^[0-9a-f]{64}$/.test(s);
}

/** The bytes received do not have the SHA-256 the caller named; nothing was stored. */
export class Sha256MismatchError extends HashMismatchError {
  constructor(expected: readonly string[], actual: string, size: number, options?: { cause?: unknown }) {
    super(expected.join(" | "), actual, size, options);
    this.name = "Sha256MismatchError";
    const want = expected.length === 1 ? expected[0] : `one of ${expected.join(", ")}`;
    this.message = `SHA-256 mismatch: expected ${want}, got ${actual} for ${size} bytes; nothing stored`;
  }
}

/**
 * The index SHA-256 → BLAKE3 in the store's LMDB environment (table `sha256`). Its writes are made inside the store's
 * own transactions (commit, meta update, removal), so an entry exists exactly while its blob does.
 */
export class LmdbSha256Index {
  readonly #db: Database<string, string>;

  constructor(root: RootDatabase) {
    this.#db = root.openDB<string, string>({ name: "sha256", encoding: "string" });
  }

  /** The BLAKE3 of the blob with this SHA-256, if one is indexed. */
  get(sha256: string): string | undefined {
    return this.#db.get(sha256);
  }

  /** Indexes a meta that carries a SHA-256 (call inside a write transaction). */
  put(meta: BlobMeta): void {
    if (meta.sha256) this.#db.put(meta.sha256, meta.hash);
  }

  /** Drops a removed blob's entry (call inside a write transaction). */
  remove(meta: BlobMeta): void {
    if (meta.sha256 && this.#db.get(meta.sha256) === meta.hash) this.#db.remove(meta.sha256);
  }
}

/** The in-memory index of MemoryBlobStore. */
export class MemorySha256Index {
  readonly #map = new Map<string, string>();

  get(sha256: string): string | undefined {
    return this.#map.get(sha256);
  }

  put(meta: BlobMeta): void {
    if (meta.sha256) this.#map.set(meta.sha256, meta.hash);
  }

  remove(meta: BlobMeta): void {
    if (meta.sha256 && this.#map.get(meta.sha256) === meta.hash) this.#map.delete(meta.sha256);
  }
}

/** What the migration needs of a store. */
export interface Sha256Indexable {
  list(options: { after?: string; limit?: number }): Promise<{ items: BlobMeta[]; next: string | undefined }>;
  /** Hashes one blob's stored bytes and records its SHA-256 (a no-op for a blob that has one). */
  indexSha256(hash: string): Promise<BlobMeta>;
}

/** Progress of the migration. */
export interface Sha256MigrationProgress {
  /** Blobs that lacked a SHA-256 when the migration counted them. */
  total: number;
  /** Of those, indexed so far. */
  indexed: number;
  /** Deleted meanwhile, or unreadable (logged). */
  skipped: number;
  bytes: number;
}

/** Options of {@link migrateSha256}. */
export interface Sha256MigrationOptions {
  /** Stops the migration between two blobs (what is indexed stays indexed; the next start goes on). */
  signal?: AbortSignal;
  /** Structured log lines: start, progress (at most every `logEveryMs`), end, unreadable blobs. */
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  /** Interval of progress lines (default 5 s; a line is also written at each tenth of the total). */
  logEveryMs?: number;
  /** Called after every blob; no new blob is started until it returns (tests use it to act mid-migration). */
  onProgress?: (p: Readonly<Sha256MigrationProgress>) => void | Promise<void>;
  /** Blobs left without a SHA-256 on purpose (imported with `sha256: false`, e.g. cluster shards): not counted, not hashed. */
  skip?: (meta: BlobMeta) => boolean;
}

const PAGE = 1000;
/** Blobs hashed at once by the migration. */
const CONCURRENCY = 4;

/**
 * Gives every blob stored without a SHA-256 its SHA-256 and index entry, a few blobs at a time (hashed on the worker
 * thread, so reads and imports go on between and during them). Counts first, then works page by page; blobs
 * deleted meanwhile are skipped, unreadable ones logged and skipped. Cheap when nothing is missing (one scan of the
 * metas), so it can run at every start: a store that was indexed has nothing to do.
 */
export async function migrateSha256(store: Sha256Indexable, options: Sha256MigrationOptions = {}): Promise<Sha256MigrationProgress> {
  if (!store || typeof store.indexSha256 !== "function" || typeof store.list !== "function") throw new TypeError("migrateSha256 needs a blob store");
  const { signal, log, onProgress, skip } = options;
  const every = options.logEveryMs ?? 5000;
  const p: Sha256MigrationProgress = { total: 0, indexed: 0, skipped: 0, bytes: 0 };
  const pages = async function* (): AsyncGenerator<BlobMeta[]> {
    let after: string | undefined;
    for (;;) {
      signal?.throwIfAborted();
      const page = await store.list({ limit: PAGE, ...(after ? { after } : {}) });
      yield page.items.filter((m) => !m.sha256 && !skip?.(m));
      if (!page.next) return;
      after = page.next;
    }
  };
  for await (const missing of pages()) p.total += missing.length;
  if (p.total === 0) return p;
  const t0 = Date.now();
  log?.info({ blobs: p.total }, "sha256 index: indexing blobs stored before it (the store stays readable)");
  let lastLog = t0;
  const tenth = Math.max(1, Math.ceil(p.total / 10));
  let chain: Promise<void> = Promise.resolve();
  let callbacks = 0;
  const step = async (m: BlobMeta) => {
    try {
      await store.indexSha256(m.hash);
      p.indexed++;
      p.bytes += m.size;
    } catch (err) {
      p.skipped++;
      if (!(err instanceof NotFoundError)) log?.warn({ hash: m.hash, err: err instanceof Error ? err.message : String(err) }, "sha256 index: cannot index a blob; skipped");
    }
    // A snapshot: with several blobs in flight, each callback sees its own count.
    const now = { ...p };
    const done = now.indexed + now.skipped;
    if (log && done < p.total && (done % tenth === 0 || Date.now() - lastLog >= every)) {
      lastLog = Date.now();
      log.info({ indexed: now.indexed, skipped: now.skipped, total: now.total, bytes: now.bytes }, "sha256 index: progress");
    }
    if (onProgress) {
      // Callbacks run one at a time, and no new blob is started while one runs (it may act on the store).
      callbacks++;
      const run = chain.then(() => onProgress(now));
      chain = run.then(() => undefined, () => undefined);
      try {
        await run;
      } finally {
        callbacks--;
      }
    }
  };
  // A few blobs at a time, so that one blob's meta commit overlaps the next ones' hashing.
  for await (const missing of pages()) {
    let next = 0;
    const worker = async () => {
      while (next < missing.length) {
        while (callbacks > 0) await chain;
        signal?.throwIfAborted();
        if (next >= missing.length) return;
        await step(missing[next++]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, missing.length) }, worker));
  }
  log?.info({ indexed: p.indexed, skipped: p.skipped, total: p.total, bytes: p.bytes, ms: Date.now() - t0 }, "sha256 index: done");
  return p;
}
