// Streaming SHA-256 on a worker thread, so that an import's SHA-256 runs beside its BLAKE3 pass instead of after it.
// One shared worker serves every stream (node:crypto's SHA-256 runs at SHA-NI speed, faster than BLAKE3 + outboard on
// the main thread). Bytes are copied into 1 MiB staging buffers that are transferred to the worker and handed back
// with its acknowledgement. A stream that ends within its first 256 KiB is hashed on the calling thread instead (that
// costs less than a round trip to a worker the OS may be slow to wake on a busy machine). The worker runs
// self-contained code (eval), so this works from the bundle and from a single executable. Where no worker can be
// started, streams hash on the calling thread.
import { createHash, type Hash } from "node:crypto";
import { Worker } from "node:worker_threads";

/** Bytes of one staging buffer. */
const STAGE = 1024 * 1024;
/** Streams up to this many bytes are hashed on the calling thread; past it, the staged bytes go to the worker. */
const LOCAL_MAX = 256 * 1024;
/** Posts after the first go out at this fill; each later threshold doubles, up to STAGE. */
const NEXT_POST = 128 * 1024;
/** Bytes a stream may have posted but not yet hashed before `update` asks the caller to wait. */
const MAX_IN_FLIGHT = 8 * STAGE;
/** Staging buffers kept for reuse across streams. */
const MAX_SPARE = 16;

// process.getBuiltinModule works whether the eval'd code runs as CommonJS or as a module (--input-type=module).
const WORKER_CODE = `
// Under Node's permission model (the appliance build) this thread gives up every right it inherited: it opens no
// path (file jobs read from a descriptor the caller opened), starts nothing, uses no network. Per thread: the
// caller keeps its own rights.
if (process.permission) for (const s of ["fs", "child", "worker", "net", "addon", "wasi", "inspector"]) process.permission.drop(s);
const { parentPort } = process.getBuiltinModule("node:worker_threads");
const { createHash } = process.getBuiltinModule("node:crypto");
const streams = new Map();
parentPort.on("message", (m) => {
  try {
    let h = streams.get(m.id);
    if (!h && !m.drop) { h = createHash("sha256"); streams.set(m.id, h); }
    if (m.drop) { streams.delete(m.id); return; }
    if (m.data) {
      h.update(new Uint8Array(m.data, 0, m.len));
      parentPort.postMessage({ id: m.id, ack: m.len, data: m.data }, [m.data]);
    }
    if (m.fin) {
      streams.delete(m.id);
      parentPort.postMessage({ id: m.id, digest: h.digest("hex") });
    }
  } catch (e) {
    streams.delete(m.id);
    parentPort.postMessage({ id: m.id, error: String((e && e.stack) || e) });
  }
});
`;

/** A SHA-256 being computed over bytes fed in order. */
export interface Sha256Stream {
  /**
   * Feeds the next bytes. They are copied before this returns, so the caller may reuse `data` at once. Returns a
   * promise only when the hasher is behind (the caller should await it before feeding more), else undefined.
   */
  update(data: Uint8Array): Promise<void> | undefined;
  /** The SHA-256 of everything fed (64 lowercase hex characters), once the last byte is hashed. */
  digest(): Promise<string>;
  /** Drops the stream (nothing more is hashed; a pending digest rejects). Idempotent. */
  abort(): void;
}

interface Reply {
  id: number;
  ack?: number;
  data?: ArrayBuffer;
  digest?: string;
  error?: string;
}

/** What the worker owes one stream. */
interface Pending {
  acked(bytes: number): void;
  finished(digest: string): void;
  failed(err: Error): void;
}

let worker: Worker | null = null;
/** True once starting a worker failed: every later stream hashes on the calling thread. */
let noWorker = false;
let nextId = 1;
const pending = new Map<number, Pending>();
const spare: ArrayBuffer[] = [];

function takeBuffer(): ArrayBuffer {
  return spare.pop() ?? new ArrayBuffer(STAGE);
}

function giveBuffer(b: ArrayBuffer): void {
  if (b.byteLength === STAGE && spare.length < MAX_SPARE) spare.push(b);
}

function failAll(err: Error): void {
  worker = null;
  for (const [id, p] of pending) {
    pending.delete(id);
    p.failed(err);
  }
}

function ensureWorker(): Worker | null {
  if (worker || noWorker) return worker;
  try {
    // No execArgv option: the worker inherits the process's (the permission model of the appliance build, then
    // narrowed by the drop at the top of WORKER_CODE). execArgv: [] would start it without any restriction.
    const w = new Worker(WORKER_CODE, { eval: true });
    w.on("message", (m: Reply) => {
      if (m.data) giveBuffer(m.data);
      const p = pending.get(m.id);
      if (!p) return;
      if (m.error !== undefined) {
        pending.delete(m.id);
        p.failed(new Error(`SHA-256 worker failed: ${m.error}`));
      } else if (m.digest !== undefined) {
        pending.delete(m.id);
        p.finished(m.digest);
      } else if (m.ack !== undefined) p.acked(m.ack);
      if (pending.size === 0) w.unref();
    });
    w.on("error", (err: unknown) => failAll(err instanceof Error ? err : new Error(String(err))));
    w.on("exit", (code) => {
      if (worker === w) failAll(new Error(`SHA-256 worker exited with code ${code}`));
    });
    // Idle, it never keeps the process alive (after the listeners: adding a message listener refs the worker again).
    w.unref();
    worker = w;
  } catch {
    noWorker = true;
  }
  return worker;
}

/** A stream hashed on the calling thread (no worker available). */
class LocalStream implements Sha256Stream {
  #hash: Hash | null = createHash("sha256");

  update(data: Uint8Array): undefined {
    if (!this.#hash) throw new Error("SHA-256 stream was aborted");
    this.#hash.update(data);
    return undefined;
  }

  async digest(): Promise<string> {
    if (!this.#hash) throw new Error("SHA-256 stream was aborted");
    const d = this.#hash.digest("hex");
    this.#hash = null;
    return d;
  }

  abort(): void {
    this.#hash = null;
  }
}

/** A stream hashed by the shared worker (or on this thread, when it ends within LOCAL_MAX bytes). */
class WorkerStream implements Sha256Stream, Pending {
  readonly #w: Worker;
  readonly #id = nextId++;
  #buf: ArrayBuffer | null = null;
  #view: Uint8Array | null = null;
  #fill = 0;
  /** Nothing was posted yet: the worker holds no state for this stream. */
  #local = true;
  #threshold = LOCAL_MAX + 1;
  #inFlight = 0;
  #wake: (() => void) | null = null;
  #result: { resolve: (d: string) => void; reject: (e: Error) => void } | null = null;
  #error: Error | null = null;
  #closed = false;

  constructor(w: Worker) {
    this.#w = w;
  }

  update(data: Uint8Array): Promise<void> | undefined {
    if (this.#error) throw this.#error;
    if (this.#closed) throw new Error("SHA-256 stream is finished");
    let at = 0;
    while (at < data.byteLength) {
      if (!this.#buf) {
        this.#buf = takeBuffer();
        this.#view = new Uint8Array(this.#buf);
      }
      const n = Math.min(STAGE - this.#fill, data.byteLength - at);
      this.#view!.set(data.subarray(at, at + n), this.#fill);
      this.#fill += n;
      at += n;
      if (this.#fill >= this.#threshold) this.#post(false);
    }
    if (this.#inFlight <= MAX_IN_FLIGHT) return undefined;
    return new Promise((resolve) => (this.#wake = resolve));
  }

  #post(fin: boolean): void {
    if (this.#local) {
      this.#local = false;
      if (pending.size === 0) this.#w.ref(); // a digest is owed: keep the process alive until it arrives
      pending.set(this.#id, this);
      this.#threshold = NEXT_POST;
    }
    const data = this.#buf;
    if (data && this.#fill > 0) {
      this.#inFlight += this.#fill;
      this.#w.postMessage({ id: this.#id, data, len: this.#fill, fin }, [data]);
      this.#threshold = Math.min(STAGE, this.#threshold * 2);
    } else if (fin) this.#w.postMessage({ id: this.#id, fin });
    else return;
    if (data && this.#fill === 0) giveBuffer(data);
    this.#buf = null;
    this.#view = null;
    this.#fill = 0;
  }

  digest(): Promise<string> {
    if (this.#error) return Promise.reject(this.#error);
    if (this.#closed) return Promise.reject(new Error("SHA-256 stream is finished"));
    this.#closed = true;
    if (this.#local) {
      // Short: hashed here, the worker never saw it.
      const d = createHash("sha256").update(this.#view ? this.#view.subarray(0, this.#fill) : new Uint8Array(0)).digest("hex");
      if (this.#buf) giveBuffer(this.#buf);
      this.#buf = null;
      this.#view = null;
      return Promise.resolve(d);
    }
    return new Promise((resolve, reject) => {
      this.#result = { resolve, reject };
      this.#post(true);
    });
  }

  abort(): void {
    if (this.#error) return;
    this.failed(new Error("SHA-256 stream was aborted"));
    if (pending.delete(this.#id)) {
      this.#w.postMessage({ id: this.#id, drop: true });
      if (pending.size === 0) this.#w.unref();
    }
    if (this.#buf) giveBuffer(this.#buf);
    this.#buf = null;
    this.#view = null;
  }

  acked(bytes: number): void {
    this.#inFlight -= bytes;
    if (this.#wake && this.#inFlight <= MAX_IN_FLIGHT / 2) {
      const w = this.#wake;
      this.#wake = null;
      w();
    }
  }

  finished(digest: string): void {
    this.#closed = true;
    this.#result?.resolve(digest);
    this.#result = null;
  }

  failed(err: Error): void {
    if (this.#error) return;
    this.#error = err;
    this.#closed = true;
    this.#result?.reject(err);
    this.#result = null;
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }
}

/** Starts a streaming SHA-256 (on the shared worker thread where one can run). */
export function sha256Stream(): Sha256Stream {
  const w = ensureWorker();
  return w ? new WorkerStream(w) : new LocalStream();
}
