// Blob-store garbage collection: batched last-read times, in-use holds, and removal of unpinned blobs, least recently
// read first (idle ones on an interval, and at once as many as an import needs when it would cross max_storage).
import { PinnedError, StoreError } from "./errors.ts";
import type { StoreBackend } from "./store-backend.ts";
import type { GcReport, GcTrigger } from "./types.ts";

/** The `gc` store options. Durations in milliseconds. */
export interface GcOptions {
  /** `store.gc_interval`: how often idle unpinned blobs are collected; 0 (the default here) runs no timer. */
  intervalMs?: number;
  /** `store.gc_grace`: the interval run removes unpinned blobs neither stored nor read for this long (default 1 h). */
  graceMs?: number;
  /** When an import would cross max_storage, remove least recently read unpinned blobs to make room (default true). */
  evictWhenFull?: boolean;
  /** How long read times are gathered in memory before one batched write (default 10 s). */
  flushMs?: number;
  /** Called after every run that removed something, and after every run an import's need for space started. */
  onRun?: (report: GcReport) => void;
  /** Called when a timed run or a batched write fails (the store keeps working; the next run tries again). */
  onError?: (err: unknown) => void;
}

/** Blobs examined (and removed) per step. */
const PAGE = 256;
/** Read times held in memory before they are written at once, whatever the flush interval. */
const MAX_PENDING_READS = 10_000;

/** A removal refused because the blob is being read or imported (never leaves this file). */
class InUseError extends StoreError {}

function checkMs(name: string, v: number, min: number): number {
  if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`gc.${name} must be an integer >= ${min} ms, got ${String(v)}`);
  return v;
}

/** What one collection is asked to do; `need`/`want` are read once the run holds the lock (space may have changed). */
interface RunRequest {
  idleBefore?: number;
  /** Bytes that must be freed, or nothing but idle blobs is removed (no pointless eviction). */
  need?: () => number;
  /** Bytes worth freeing (need plus headroom), least recently read first. */
  want?: () => number;
}

/** The collector of one store. Runs are serialised; every removal re-checks pin and holds inside its transaction. */
export class Collector {
  readonly #backend: StoreBackend;
  readonly #now: () => number;
  readonly #forget: (hash: string) => void;
  readonly #intervalMs: number;
  readonly #graceMs: number;
  readonly #flushMs: number;
  readonly #onRun: ((r: GcReport) => void) | undefined;
  readonly #onError: (err: unknown) => void;
  /** Evict unpinned blobs when an import needs space. */
  readonly evictWhenFull: boolean;
  #reads = new Map<string, number>();
  #flushTimer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  readonly #holds = new Map<string, number>();
  #lock: Promise<unknown> = Promise.resolve();
  #interval: NodeJS.Timeout | undefined;
  #timedRunning = false;
  #stopped = false;
  readonly #stats: Record<GcTrigger, { runs: number; removed: number; bytes: number }> = {
    interval: { runs: 0, removed: 0, bytes: 0 },
    space: { runs: 0, removed: 0, bytes: 0 },
    manual: { runs: 0, removed: 0, bytes: 0 },
  };

  /** `forget` is told of each removed blob (to drop it from caches). */
  constructor(backend: StoreBackend, options: GcOptions, now: () => number, forget: (hash: string) => void) {
    if (options === null || typeof options !== "object") throw new TypeError("gc options must be an object");
    this.#backend = backend;
    this.#now = now;
    this.#forget = forget;
    this.#intervalMs = checkMs("intervalMs", options.intervalMs ?? 0, 0);
    this.#graceMs = checkMs("graceMs", options.graceMs ?? 3_600_000, 0);
    this.#flushMs = checkMs("flushMs", options.flushMs ?? 10_000, 1);
    this.evictWhenFull = options.evictWhenFull ?? true;
    this.#onRun = options.onRun;
    this.#onError = options.onError ?? (() => undefined);
  }

  /** Starts the interval run (when `intervalMs` > 0). */
  start(): void {
    if (this.#intervalMs === 0 || this.#interval || this.#stopped) return;
    this.#interval = setInterval(() => {
      if (this.#timedRunning) return; // a long run is still going: skip this tick rather than queue behind it
      this.#timedRunning = true;
      this.collect("interval", { idleBefore: this.#now() - this.#graceMs })
        .catch((err: unknown) => this.#onError(err))
        .finally(() => (this.#timedRunning = false));
    }, this.#intervalMs);
    this.#interval.unref();
  }

  /** Notes that `hash` was read now; written in batches, so a crash forgets at most the last `flushMs` of reads. */
  touch(hash: string): void {
    if (this.#stopped) return;
    this.#reads.set(hash, this.#now());
    if (this.#reads.size >= MAX_PENDING_READS) {
      void this.flush().catch((err: unknown) => this.#onError(err));
      return;
    }
    if (!this.#flushTimer) {
      this.#flushTimer = setTimeout(() => void this.flush().catch((err: unknown) => this.#onError(err)), this.#flushMs);
      this.#flushTimer.unref();
    }
  }

  /** Writes the gathered read times (one transaction). */
  flush(): Promise<void> {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#reads.size > 0) {
      const batch = this.#reads;
      this.#reads = new Map();
      const run = this.#flushing.then(() => this.#backend.touch(batch));
      this.#flushing = run.catch(() => undefined);
      return run;
    }
    return this.#flushing;
  }

  /** Protects `hash` from collection until the returned function is called (idempotent). */
  hold(hash: string): () => void {
    this.#holds.set(hash, (this.#holds.get(hash) ?? 0) + 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const n = (this.#holds.get(hash) ?? 1) - 1;
      if (n <= 0) this.#holds.delete(hash);
      else this.#holds.set(hash, n);
    };
  }

  /** True while a read or an import holds `hash`. */
  isHeld(hash: string): boolean {
    return this.#holds.has(hash);
  }

  /** Runs one collection after any running one. */
  collect(trigger: GcTrigger, request: RunRequest): Promise<GcReport> {
    const run = this.#lock.then(() => this.#run(trigger, request));
    this.#lock = run.catch(() => undefined);
    return run;
  }

  async #run(trigger: GcTrigger, request: RunRequest): Promise<GcReport> {
    if (this.#stopped) throw new StoreError("blob store is closed");
    const t0 = performance.now();
    // Reads gathered so far count; a failed write only makes the order staler, so the run goes on.
    await this.flush().catch((err: unknown) => this.#onError(err));
    const need = Math.max(0, request.need?.() ?? 0);
    const want = Math.max(need, request.want?.() ?? 0);
    const { idleBefore } = request;
    const picks: { hash: string; idle: boolean }[] = [];
    let picked = 0;
    let skipped = 0;
    let cursor: { hash: string; lastRead: number } | undefined;
    scan: for (;;) {
      const page = this.#backend.coldest(PAGE, cursor);
      for (const e of page) {
        cursor = e;
        const idle = idleBefore !== undefined && e.lastRead < idleBefore;
        if (!idle && picked >= want) break scan; // the rest were read more recently
        if (this.#holds.has(e.hash)) {
          skipped++;
          continue;
        }
        picks.push({ hash: e.hash, idle });
        picked += e.size;
      }
      if (page.length < PAGE) break;
    }
    // Evicting recently read blobs is only worth it when it makes enough room; idle ones go regardless.
    const victims = picked >= need ? picks : picks.filter((p) => p.idle);
    let removed = 0;
    let bytes = 0;
    const refuse = (m: { hash: string; pinned: boolean }) => {
      if (m.pinned) throw new PinnedError(m.hash);
      if (this.#holds.has(m.hash)) throw new InUseError(`blob ${m.hash} is in use`);
    };
    for (let i = 0; i < victims.length; i += PAGE) {
      const step = victims.slice(i, i + PAGE).map((v) =>
        this.#backend.remove(v.hash, refuse).catch((err: unknown) => {
          if (err instanceof PinnedError || err instanceof InUseError) {
            skipped++;
            return undefined;
          }
          throw err;
        }),
      );
      for (const m of await Promise.all(step)) {
        if (!m) continue;
        removed++;
        bytes += m.size;
        this.#forget(m.hash);
      }
    }
    const s = this.#stats[trigger];
    s.runs++;
    s.removed += removed;
    s.bytes += bytes;
    const report: GcReport = { trigger, removed, bytes, skipped, needed: need, ms: Math.round(performance.now() - t0) };
    if (removed > 0 || trigger === "space") this.#onRun?.(report);
    return report;
  }

  /** Runs, blobs and bytes removed so far, by trigger. */
  stats(): Record<GcTrigger, { runs: number; removed: number; bytes: number }> {
    const s = this.#stats;
    return { interval: { ...s.interval }, space: { ...s.space }, manual: { ...s.manual } };
  }

  /** Stops the timers, waits for a running collection and writes the last read times. */
  async stop(): Promise<void> {
    clearInterval(this.#interval);
    this.#interval = undefined;
    await this.#lock;
    this.#stopped = true;
    await this.flush().catch((err: unknown) => this.#onError(err));
  }
}
