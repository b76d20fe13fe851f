// Counting semaphore with a bounded wait: callers queue FIFO up to a timeout, then get a BusyError.
import { BusyError } from "./errors.ts";

interface Waiter {
  resolve: (release: () => void) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout | undefined;
  onAbort: (() => void) | undefined;
  signal: AbortSignal | undefined;
}

/** A named concurrency limit. `acquire()` resolves to a release function (call it exactly once). */
export class Semaphore {
  readonly name: string;
  readonly capacity: number;
  readonly timeoutMs: number;
  #inUse = 0;
  #queue: Waiter[] = [];
  #rejected = 0;

  /**
   * @param name limit name reported in BusyError ("store", "fetch", "pull").
   * @param capacity slots (>= 1).
   * @param timeoutMs how long a caller may wait for a slot before BusyError (>= 0).
   */
  constructor(name: string, capacity: number, timeoutMs: number) {
    if (typeof name !== "string" || name === "") throw new TypeError("semaphore name must be a non-empty string");
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`${name} concurrency must be an integer >= 1, got ${capacity}`);
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) throw new RangeError(`${name} queue timeout must be >= 0 ms, got ${timeoutMs}`);
    this.name = name;
    this.capacity = capacity;
    this.timeoutMs = timeoutMs;
  }

  /** Slots in use. */
  get inUse(): number {
    return this.#inUse;
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Callers turned away with BusyError since start. */
  get rejected(): number {
    return this.#rejected;
  }

  /** Waits for a slot (FIFO) up to the timeout; rejects with BusyError, or with the signal's reason if aborted. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#inUse < this.capacity && this.#queue.length === 0) {
      this.#inUse++;
      return Promise.resolve(this.#releaser());
    }
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const w: Waiter = { resolve, reject, timer: undefined, onAbort: undefined, signal };
      const drop = () => {
        const i = this.#queue.indexOf(w);
        if (i >= 0) this.#queue.splice(i, 1);
        if (w.timer) clearTimeout(w.timer);
        if (w.onAbort) signal?.removeEventListener("abort", w.onAbort);
      };
      w.timer = setTimeout(() => {
        drop();
        this.#rejected++;
        reject(new BusyError(this.name, this.capacity, Date.now() - started));
      }, this.timeoutMs);
      if (signal) {
        w.onAbort = () => {
          drop();
          reject(signal.reason);
        };
        signal.addEventListener("abort", w.onAbort, { once: true });
      }
      this.#queue.push(w);
    });
  }

  /** Runs `fn` while holding a slot. */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  #releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.#queue.shift();
      if (next) {
        if (next.timer) clearTimeout(next.timer);
        if (next.onAbort) next.signal?.removeEventListener("abort", next.onAbort);
        next.resolve(this.#releaser());
      } else {
        this.#inUse--;
      }
    };
  }
}
