// MediaMTX watcher: polls the v3 API and turns snapshots into events (path available/unavailable, reader joined/left).
import { EventEmitter } from "node:events";
import type { MediaMtxApi, MediaPath, MediaSession } from "./api.ts";

/** One change seen between two polls. */
export type MediaEvent =
  | { type: "path-available"; path: string; sourceType: string | null; at: number }
  | { type: "path-unavailable"; path: string; reason: string; at: number }
  | { type: "reader-joined"; path: string; readerType: string; readerId: string; at: number }
  | { type: "reader-left"; path: string; readerType: string; readerId: string; at: number };

export interface WatcherOptions {
  api: MediaMtxApi;
  /** Poll period. Default 1000 ms. */
  pollMs?: number;
  /** Also poll per-protocol sessions (for ListSessions). Default true. */
  sessions?: boolean;
  /** Consecutive failed polls after which every path counts as unavailable. Default 2. */
  failuresBeforeDown?: number;
}

/** The latest snapshot. */
export interface MediaSnapshot {
  at: number;
  ok: boolean;
  error: string | null;
  paths: MediaPath[];
  sessions: MediaSession[];
}

const readerKey = (r: { type: string; id: string }) => `${r.type}\u0000${r.id}`;

/**
 * Polls MediaMTX and emits "event" (MediaEvent) for each change, "snapshot" (MediaSnapshot) after each poll and
 * "poll-error" (Error) when a poll fails. Pure of HTTP servers and RPC: adapters subscribe to it.
 */
export class MediaWatcher extends EventEmitter {
  readonly #api: MediaMtxApi;
  readonly #pollMs: number;
  readonly #sessions: boolean;
  readonly #failuresBeforeDown: number;
  #timer: NodeJS.Timeout | null = null;
  #abort: AbortController | null = null;
  #running = false;
  #failures = 0;
  #available = new Map<string, MediaPath>();
  #readers = new Map<string, Set<string>>();
  #snapshot: MediaSnapshot = { at: 0, ok: false, error: "not polled yet", paths: [], sessions: [] };

  constructor(opts: WatcherOptions) {
    super();
    this.#api = opts.api;
    this.#pollMs = opts.pollMs ?? 1000;
    this.#sessions = opts.sessions ?? true;
    this.#failuresBeforeDown = opts.failuresBeforeDown ?? 2;
    if (!(this.#pollMs >= 10 && this.#pollMs <= 600_000)) throw new RangeError("pollMs must be in 10-600000");
    if (!(Number.isInteger(this.#failuresBeforeDown) && this.#failuresBeforeDown >= 1 && this.#failuresBeforeDown <= 100)) {
      throw new RangeError("failuresBeforeDown must be an integer in 1-100");
    }
  }

  /** The latest snapshot (paths and sessions). */
  snapshot(): MediaSnapshot {
    return this.#snapshot;
  }

  /** Names of the paths currently available. */
  availablePaths(): string[] {
    return [...this.#available.keys()];
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule(0);
  }

  stop(): void {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#abort?.abort();
  }

  #schedule(ms: number): void {
    if (!this.#running) return;
    this.#timer = setTimeout(() => void this.pollOnce().finally(() => this.#schedule(this.#pollMs)), ms);
  }

  #emit(e: MediaEvent): void {
    this.emit("event", e);
  }

  /** Polls once and emits the differences; exposed so callers can force a refresh. */
  async pollOnce(): Promise<MediaSnapshot> {
    this.#abort = new AbortController();
    const at = Date.now();
    try {
      const [paths, sessions] = await Promise.all([
        this.#api.paths(this.#abort.signal),
        this.#sessions ? this.#api.sessions(this.#abort.signal) : Promise.resolve([] as MediaSession[]),
      ]);
      this.#failures = 0;
      this.#apply(paths, at);
      this.#snapshot = { at, ok: true, error: null, paths, sessions };
    } catch (e) {
      this.#failures++;
      const msg = (e as Error).message;
      this.emit("poll-error", e);
      if (this.#failures >= this.#failuresBeforeDown) this.#apply([], at, `MediaMTX API unreachable: ${msg}`);
      this.#snapshot = { at, ok: false, error: msg, paths: this.#failures >= this.#failuresBeforeDown ? [] : this.#snapshot.paths, sessions: [] };
    } finally {
      this.#abort = null;
    }
    this.emit("snapshot", this.#snapshot);
    return this.#snapshot;
  }

  #apply(paths: MediaPath[], at: number, downReason?: string): void {
    const now = new Map<string, MediaPath>();
    for (const p of paths) if (p.available && p.name) now.set(p.name, p);

    for (const [name, p] of now) {
      if (!this.#available.has(name)) this.#emit({ type: "path-available", path: name, sourceType: p.sourceType, at });
    }
    // Readers are tracked for every listed path (a reader may wait on a path that is not available yet).
    const listed = new Map<string, MediaPath>();
    for (const p of paths) if (p.name) listed.set(p.name, p);
    for (const [name, p] of listed) {
      const before = this.#readers.get(name) ?? new Set<string>();
      const after = new Set(p.readers.map(readerKey));
      for (const r of p.readers) {
        if (!before.has(readerKey(r))) this.#emit({ type: "reader-joined", path: name, readerType: r.type, readerId: r.id, at });
      }
      for (const k of before) {
        if (!after.has(k)) {
          const [readerType, readerId] = k.split("\u0000") as [string, string];
          this.#emit({ type: "reader-left", path: name, readerType, readerId, at });
        }
      }
      this.#readers.set(name, after);
    }
    for (const [name, before] of [...this.#readers]) {
      if (listed.has(name)) continue;
      for (const k of before) {
        const [readerType, readerId] = k.split("\u0000") as [string, string];
        this.#emit({ type: "reader-left", path: name, readerType, readerId, at });
      }
      this.#readers.delete(name);
    }
    for (const name of this.#available.keys()) {
      if (!now.has(name)) this.#emit({ type: "path-unavailable", path: name, reason: downReason ?? "publisher left", at });
    }
    this.#available = now;
  }
}

/** Thrown by watchEvents when its consumer falls more than maxQueue events behind. */
export class SlowConsumerError extends Error {
  readonly maxQueue: number;
  constructor(maxQueue: number) {
    super(`event consumer fell more than ${maxQueue} events behind`);
    this.name = "SlowConsumerError";
    this.maxQueue = maxQueue;
  }
}

/**
 * Events named `eventName` of `emitter` as an async iterable (for server streams). At most `maxQueue` events wait for a
 * slow consumer; beyond that the iterator throws SlowConsumerError, so a stalled client cannot grow memory without bound.
 */
export async function* watchEvents<T = MediaEvent>(
  emitter: EventEmitter,
  signal: AbortSignal,
  maxQueue = 1024,
  eventName = "event",
): AsyncGenerator<T> {
  if (!Number.isInteger(maxQueue) || maxQueue < 1 || maxQueue > 1_000_000) throw new RangeError("maxQueue must be in 1-1000000");
  const queue: T[] = [];
  let overflow = false;
  let wake: (() => void) | null = null;
  const onEvent = (e: T) => {
    if (queue.length >= maxQueue) overflow = true;
    else queue.push(e);
    wake?.();
  };
  const onAbort = () => wake?.();
  emitter.on(eventName, onEvent);
  signal.addEventListener("abort", onAbort);
  try {
    for (;;) {
      if (overflow) throw new SlowConsumerError(maxQueue);
      const next = queue.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (signal.aborted) return;
      await new Promise<void>((r) => (wake = r));
      wake = null;
    }
  } finally {
    emitter.off(eventName, onEvent);
    signal.removeEventListener("abort", onAbort);
  }
}
