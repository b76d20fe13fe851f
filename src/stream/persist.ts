// Manifest state persistence: records in the blob store, written in the same transaction as the segment they add
// (StoreManifestStore, the node's), or one JSON file per stream rendition written atomically (FileManifestStore).
import { mkdir, open, rename, readdir } from "node:fs/promises";
import { join } from "node:path";
import type { SignedManifest } from "./manifest.ts";

/** What survives a node restart for one rendition. */
export interface PersistedRendition {
  /** The last signed manifest (window, base peaks, count, root). */
  signed: SignedManifest;
  /** Frontier peaks after all `count` leaves (hex), so appends continue the same tree. */
  allPeaks: string[];
  /** Whether the next segment starts a discontinuity. */
  discNext: boolean;
}

/** Where manifests are kept. */
export interface ManifestPersistence {
  load(stream: string, rendition: string): Promise<PersistedRendition | null>;
  save(stream: string, rendition: string, state: PersistedRendition): Promise<void>;
  /** Every stored [stream, rendition]. */
  list(): Promise<[string, string][]>;
  /**
   * Persistence inside a blob store: `records` gives the store records that save `state` when written with a
   * segment's import into `recordStore` (one transaction: the segment and the manifest naming it are durable together).
   */
  readonly recordStore?: object;
  records?(stream: string, rendition: string, state: PersistedRendition): Readonly<Record<string, unknown>>;
}

/** What StoreManifestStore needs of the blob store (BlobStore satisfies it). */
export interface RecordStore {
  record(key: string): unknown;
  putRecords(records: Readonly<Record<string, unknown>>): Promise<void>;
  recordKeys(prefix: string, limit?: number): string[];
}

const PREFIX = "manifest/";

/**
 * Manifests as blob-store records `manifest/<encoded rendition>/<stream>` (stream names are at most 256 chars). The ingest writes them through
 * `records` in the transaction that stores the segment, so one durable write covers both. Manifests saved by an
 * older node as files in `legacyDir` are still loaded (and listed) until a newer record replaces them.
 */
export class StoreManifestStore implements ManifestPersistence {
  readonly recordStore: RecordStore;
  readonly #legacy: FileManifestStore | null;
  constructor(store: RecordStore, legacyDir?: string) {
    this.recordStore = store;
    this.#legacy = legacyDir === undefined ? null : new FileManifestStore(legacyDir);
  }

  #key(stream: string, rendition: string): string {
    return `${PREFIX}${encodeURIComponent(rendition)}/${stream}`;
  }

  records(stream: string, rendition: string, state: PersistedRendition): Readonly<Record<string, unknown>> {
    // A JSON string: the record reads back exactly as saved, whatever the store's value encoding.
    return { [this.#key(stream, rendition)]: JSON.stringify(state) };
  }

  async load(stream: string, rendition: string): Promise<PersistedRendition | null> {
    const key = this.#key(stream, rendition);
    // Longer than a record key can be: it cannot have been saved.
    if (key.length > 512) return null;
    const v = this.recordStore.record(key);
    if (typeof v === "string") return JSON.parse(v) as PersistedRendition;
    return this.#legacy ? this.#legacy.load(stream, rendition) : null;
  }

  async save(stream: string, rendition: string, state: PersistedRendition): Promise<void> {
    await this.recordStore.putRecords(this.records(stream, rendition, state));
  }

  async list(): Promise<[string, string][]> {
    const seen = new Map<string, [string, string]>();
    for (const k of this.recordStore.recordKeys(PREFIX)) {
      const rest = k.slice(PREFIX.length);
      const cut = rest.indexOf("/");
      if (cut > 0) seen.set(k, [rest.slice(cut + 1), decodeURIComponent(rest.slice(0, cut))]);
    }
    for (const [s, r] of this.#legacy ? await this.#legacy.list() : []) seen.set(this.#key(s, r), [s, r]);
    return [...seen.values()];
  }
}

const MAX_FILE = 16 * 1024 * 1024;

/** Files `<dir>/<encoded stream>~<encoded rendition>.json`. */
export class FileManifestStore implements ManifestPersistence {
  readonly dir: string;
  #made = false;
  constructor(dir: string) {
    if (typeof dir !== "string" || dir === "") throw new TypeError("dir must be a path");
    this.dir = dir;
  }

  #file(stream: string, rendition: string): string {
    return join(this.dir, `${encodeURIComponent(stream)}~${encodeURIComponent(rendition)}.json`);
  }

  async load(stream: string, rendition: string): Promise<PersistedRendition | null> {
    let text: string;
    try {
      const fh = await open(this.#file(stream, rendition), "r");
      try {
        const st = await fh.stat();
        if (st.size > MAX_FILE) throw new RangeError(`${this.#file(stream, rendition)} is larger than ${MAX_FILE} bytes`);
        text = await fh.readFile("utf8");
      } finally {
        await fh.close();
      }
    } catch (e) {
      // A name too long for a file name cannot have been saved either.
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENAMETOOLONG") return null;
      throw e;
    }
    return JSON.parse(text) as PersistedRendition;
  }

  async save(stream: string, rendition: string, state: PersistedRendition): Promise<void> {
    if (!this.#made) {
      await mkdir(this.dir, { recursive: true });
      this.#made = true;
    }
    const file = this.#file(stream, rendition);
    const tmp = `${file}.${process.pid}.tmp`;
    const fh = await open(tmp, "w", 0o644);
    try {
      await fh.writeFile(JSON.stringify(state));
      try {
        await fh.sync();
      } catch (err) {
        // Node 26's permission model (the appliance build) refuses fsync outright, whatever the path; the rename below
        // then relies on the file system writing data before the rename (ext4's default data=ordered, the image's).
        if ((err as NodeJS.ErrnoException).code !== "ERR_ACCESS_DENIED") throw err;
      }
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  }

  async list(): Promise<[string, string][]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw e;
    }
    return names
      .filter((n) => n.endsWith(".json") && n.includes("~"))
      .map((n) => {
        const [s, r] = n.slice(0, -5).split("~") as [string, string];
        return [decodeURIComponent(s), decodeURIComponent(r)] as [string, string];
      });
  }
}

/** Keeps manifests in memory (tests, or nodes without a data dir). */
export class MemoryManifestStore implements ManifestPersistence {
  readonly #m = new Map<string, PersistedRendition>();
  async load(stream: string, rendition: string): Promise<PersistedRendition | null> {
    const v = this.#m.get(`${stream}\u0000${rendition}`);
    return v ? structuredClone(v) : null;
  }
  async save(stream: string, rendition: string, state: PersistedRendition): Promise<void> {
    this.#m.set(`${stream}\u0000${rendition}`, structuredClone(state));
  }
  async list(): Promise<[string, string][]> {
    return [...this.#m.keys()].map((k) => k.split("\u0000") as [string, string]);
  }
}

