// Bounded LRU of small whole blobs kept in memory: limited by total bytes and entry count.

/** Least-recently-used cache of byte arrays keyed by blob hash. */
export class ByteLru {
  readonly maxBytes: number;
  readonly maxEntries: number;
  readonly maxItemBytes: number;
  #map = new Map<string, Uint8Array>();
  #bytes = 0;
  hits = 0;
  misses = 0;

  /**
   * @param maxBytes total bytes held (0 disables the cache).
   * @param maxItemBytes largest single entry.
   * @param maxEntries most entries held.
   */
  constructor(maxBytes: number, maxItemBytes: number, maxEntries = 4096) {
    for (const [n, v] of [["maxBytes", maxBytes], ["maxItemBytes", maxItemBytes], ["maxEntries", maxEntries]] as const) {
      if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`cache ${n} must be an integer >= 0, got ${v}`);
    }
    this.maxBytes = maxBytes;
    this.maxItemBytes = Math.min(maxItemBytes, maxBytes);
    this.maxEntries = maxEntries;
  }

  /** Bytes currently held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Entries currently held. */
  get size(): number {
    return this.#map.size;
  }

  /** Whether a blob of this size may be cached at all. */
  accepts(size: number): boolean {
    return this.maxEntries > 0 && size <= this.maxItemBytes;
  }

  /** Returns the cached bytes and marks them most recently used; counts a hit or a miss. */
  get(key: string): Uint8Array | undefined {
    const v = this.#map.get(key);
    if (v === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.#map.delete(key);
    this.#map.set(key, v);
    return v;
  }

  /** Adds an entry (ignored if too large), evicting the least recently used ones to stay in bounds. */
  set(key: string, value: Uint8Array): void {
    if (!this.accepts(value.byteLength)) return;
    this.delete(key);
    this.#map.set(key, value);
    this.#bytes += value.byteLength;
    for (const [k, v] of this.#map) {
      if (this.#bytes <= this.maxBytes && this.#map.size <= this.maxEntries) break;
      this.#map.delete(k);
      this.#bytes -= v.byteLength;
    }
  }

  /** Removes an entry if present. */
  delete(key: string): void {
    const v = this.#map.get(key);
    if (v === undefined) return;
    this.#map.delete(key);
    this.#bytes -= v.byteLength;
  }

  /** Drops everything. */
  clear(): void {
    this.#map.clear();
    this.#bytes = 0;
  }
}
