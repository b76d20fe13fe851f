// Manifest state persistence: one JSON file per stream rendition, written atomically (temp file, fsync, rename).
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

