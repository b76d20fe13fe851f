// Multi-core BLAKE3: 1 MiB subtrees hashed on a pool of worker threads (shared memory) plus the calling thread.
// Node-only (node:worker_threads). Workers run self-contained code (eval) with the compiled module passed in workerData,
// so this works from the bundle and from a single executable. Idle workers are unref'd and never keep a process alive.
import { Worker } from "node:worker_threads";
import { availableParallelism } from "node:os";
import { Blake3Hasher, blake3, checkBytes, createHasher } from "./blake3.ts";
import { blake3Module, getEngine } from "./engine.ts";

const MiB = 1 << 20;
/** Inputs below this are hashed on the calling thread. */
export const PARALLEL_THRESHOLD = MiB;
/** Bytes one participant hashes per round (a worker's shared buffer has this size). */
const ROUND_SHARE = 16 * MiB;

// Worker body: hashes whole 1 MiB subtrees from its shared buffer and posts their CVs back.
const WORKER_CODE = `
const { parentPort, workerData } = require("node:worker_threads");
const inst = new WebAssembly.Instance(workerData.module, { env: { abort() { throw new Error("blake3 wasm abort"); } } });
const x = inst.exports;
const mem = new Uint8Array(x.memory.buffer);
const IN = x.inPtr(), OUT = x.outPtr(), S0 = x.statePtr(0), MIB = 1 << 20;
parentPort.on("message", (job) => {
  try {
    const src = new Uint8Array(job.sab, job.off, job.len);
    const cvs = new Uint8Array(Math.ceil(job.len / MIB) * 32);
    if (job.key) mem.set(job.key, x.keyPtr());
    x.hasherInit(S0, job.flags, job.key ? 1 : 0);
    for (let off = 0, i = 0; off < job.len; off += MIB, i++) {
      const n = Math.min(MIB, job.len - off);
      mem.set(src.subarray(off, off + n), IN);
      x.groupCVs(S0, n, job.counter + off / 1024, 10);
      cvs.set(mem.subarray(OUT, OUT + 32), i * 32);
    }
    parentPort.postMessage({ id: job.id, cvs }, [cvs.buffer]);
  } catch (e) {
    parentPort.postMessage({ id: job.id, error: String(e && e.stack || e) });
  }
});
`;

interface Slot {
  worker: Worker;
  sab: SharedArrayBuffer;
  /** Jobs posted and not yet answered; the worker is ref'd while this is non-zero. */
  pending: number;
}

interface JobReply {
  id: number;
  cvs?: Uint8Array;
  error?: string;
}

let slots: Slot[] | null = null;
let nextId = 1;
const waiting = new Map<number, { resolve: (cvs: Uint8Array) => void; reject: (e: Error) => void; slot: Slot }>();

function poolSize(): number {
  return Math.max(1, Math.min(availableParallelism() - 1, 15));
}

function ensurePool(): Slot[] {
  if (slots) return slots;
  const module = blake3Module();
  slots = [];
  for (let i = 0; i < poolSize(); i++) {
    const worker = new Worker(WORKER_CODE, { eval: true, workerData: { module } });
    worker.unref();
    const slot: Slot = { worker, sab: new SharedArrayBuffer(ROUND_SHARE), pending: 0 };
    worker.on("message", (m: JobReply) => {
      const w = waiting.get(m.id);
      if (!w) return;
      waiting.delete(m.id);
      finishJob(w.slot);
      if (m.error !== undefined || !m.cvs) w.reject(new Error(`hash worker failed: ${m.error ?? "no result"}`));
      else w.resolve(m.cvs);
    });
    worker.on("error", (err: unknown) => failWorker(slot, err instanceof Error ? err : new Error(String(err))));
    worker.on("exit", (code) => failWorker(slot, new Error(`hash worker exited with code ${code}`)));
    slots.push(slot);
  }
  return slots;
}

function failWorker(slot: Slot, err: Error): void {
  for (const [id, w] of waiting) {
    if (w.slot === slot) {
      waiting.delete(id);
      finishJob(slot);
      w.reject(err);
    }
  }
  if (slots?.includes(slot)) {
    slots = slots.filter((s) => s !== slot);
    if (slots.length === 0) slots = null;
  }
}

function finishJob(slot: Slot): void {
  slot.pending--;
  if (slot.pending === 0) slot.worker.unref();
}

/** Hash mode of a job: BLAKE3 domain flags and the 32-byte key (null for the IV). */
export interface HashMode {
  flags: number;
  key: Uint8Array | null;
}
const PLAIN: HashMode = { flags: 0, key: null };

function runJob(slot: Slot, src: Uint8Array, counter: number, off: number, mode: HashMode): Promise<Uint8Array> {
  let sab: SharedArrayBuffer;
  if (src.buffer instanceof SharedArrayBuffer) {
    // Already shared: no copy.
    sab = src.buffer;
    off = src.byteOffset;
  } else {
    new Uint8Array(slot.sab, off, src.length).set(src);
    sab = slot.sab;
  }
  const id = nextId++;
  if (slot.pending++ === 0) slot.worker.ref(); // keep the process alive while a result is owed
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject, slot });
    slot.worker.postMessage({ id, sab, off, len: src.length, counter, flags: mode.flags, key: mode.key });
  });
}

/** CVs of consecutive whole 1 MiB subtrees of `src` (first chunk `counter`), on this thread. */
function localCVs(src: Uint8Array, counter: number, mode: HashMode): Uint8Array {
  const e = getEngine();
  const cvs = new Uint8Array(Math.ceil(src.length / MiB) * 32);
  if (mode.key) e.mem.set(mode.key, e.KEY);
  e.x.hasherInit(e.S0, mode.flags, mode.key ? 1 : 0);
  for (let off = 0, i = 0; off < src.length; off += MiB, i++) {
    const n = Math.min(MiB, src.length - off);
    e.mem.set(src.subarray(off, off + n), e.IN);
    e.x.groupCVs(e.S0, n, counter + off / 1024, 10);
    cvs.set(e.mem.subarray(e.OUT, e.OUT + 32), i * 32);
  }
  return cvs;
}

let queue: Promise<unknown> = Promise.resolve();
/** Shared input buffer of the streaming hashers. */
const STREAM_BUFFER = 64 * MiB;
let streamBuf: Uint8Array | null = null;

/** Runs `fn` after every earlier pool user finished (one user of the pool at a time). */
function serialize<T>(fn: () => Promise<T>): Promise<T> {
  const run = queue.then(fn);
  queue = run.catch(() => undefined);
  return run;
}

/**
 * BLAKE3-256 of `data`, using worker threads for inputs of 1 MiB or more (same digest as `blake3`). Calls are queued so
 * the pool serves one at a time.
 */
export function hashParallel(data: Uint8Array): Promise<Uint8Array> {
  try {
    checkBytes(data, "hashParallel");
  } catch (e) {
    return Promise.reject(e);
  }
  if (data.length < PARALLEL_THRESHOLD) return Promise.resolve(blake3(data));
  return serialize(async () => {
    const h = createHasher();
    // Whole 1 MiB units strictly before the last byte go to subtrees; the tail (>= 1 byte) goes through the hasher.
    const units = Math.floor((data.length - 1) / MiB);
    h.pushSubtreeCVs(await unitCVs(data.subarray(0, units * MiB), 0, PLAIN), 1024);
    h.update(data.subarray(units * MiB));
    return h.digest();
  });
}

/**
 * Feeds a stream into `hasher` (any mode, nothing absorbed yet) hashing whole 1 MiB subtrees on the pool, 64 MiB at a
 * time (bounded memory); returns the hasher for `digest`. Same result as `hasher.update` over every piece.
 */
export function hashStreamParallel(source: AsyncIterable<Uint8Array>, hasher: Blake3Hasher): Promise<Blake3Hasher> {
  let it: AsyncIterator<Uint8Array> | null = null;
  let pending: Uint8Array | null = null;
  // Copies stream pieces into the shared buffer the pool hashes from.
  const read = async (into: Uint8Array): Promise<number> => {
    it ??= source[Symbol.asyncIterator]();
    let n = 0;
    while (n < into.length) {
      if (!pending || pending.length === 0) {
        const r = await it.next();
        if (r.done) break;
        checkBytes(r.value, "hashStreamParallel: stream piece");
        pending = r.value;
        continue;
      }
      const take = Math.min(into.length - n, pending.length);
      into.set(pending.subarray(0, take), n);
      pending = pending.subarray(take);
      n += take;
    }
    return n;
  };
  return hashReaderParallel(read, hasher);
}

/**
 * Like hashStreamParallel, but `read(into)` fills a shared buffer directly (e.g. FileHandle.read) and returns the bytes
 * written, 0 at the end; the workers hash straight from that buffer, with no copy.
 */
export function hashReaderParallel(read: (into: Uint8Array) => Promise<number>, hasher: Blake3Hasher): Promise<Blake3Hasher> {
  if (!(hasher instanceof Blake3Hasher)) return Promise.reject(new TypeError("hashReaderParallel: hasher must be a Blake3Hasher"));
  if (typeof read !== "function") return Promise.reject(new TypeError("hashReaderParallel: read must be a function"));
  return serialize(async () => {
    const mode = hasher.mode();
    const cap = STREAM_BUFFER;
    // Reused across calls (a fresh buffer costs a page fault per 4 KiB); released by closeHashPool.
    streamBuf ??= new Uint8Array(new SharedArrayBuffer(cap));
    const buf = streamBuf;
    let len = 0;
    let counter = 0;
    for (;;) {
      if (len === cap) {
        // A full buffer: hash all of it only if more input follows (the last subtree may not be the root).
        const extra = new Uint8Array(1);
        const got = await read(extra);
        if (got === 0) break;
        hasher.pushSubtreeCVs(await unitCVs(buf, counter, mode), 1024);
        counter += cap / 1024;
        buf[0] = extra[0]!;
        len = 1;
      }
      const n = await read(buf.subarray(len));
      if (!Number.isInteger(n) || n < 0 || n > cap - len) throw new RangeError(`hashReaderParallel: read returned ${n}`);
      if (n === 0) break;
      len += n;
    }
    const units = len > 0 ? Math.floor((len - 1) / MiB) : 0;
    if (units > 0) hasher.pushSubtreeCVs(await unitCVs(buf.subarray(0, units * MiB), counter, mode), 1024);
    hasher.update(buf.subarray(units * MiB, len));
    return hasher;
  });
}

/** Share the calling thread gives up per worker for copying that worker's input (tuned on 2 cores). */
const MAIN_COPY_PENALTY = Number(globalThis.process?.env?.SLOWDRIP_POOL_COPY_PENALTY ?? 0.15);

/** Units (MiB) a worker takes per job; jobs are pipelined so a worker starts while the next piece is copied. */
const JOB_UNITS = 4;

/** CVs of the whole 1 MiB subtrees of `data` (length a multiple of 1 MiB, first chunk `counter`), across the pool. */
async function unitCVs(data: Uint8Array, counter: number, mode: HashMode): Promise<Uint8Array> {
  const units = data.length / MiB;
  const cvs = new Uint8Array(units * 32);
  if (units === 0) return cvs;
  const pool = ensurePool();
  const w = pool.length;
  if (data.buffer instanceof SharedArrayBuffer) {
    // Shared input: the workers read it in place, so every thread takes an equal share in one round.
    const share = Math.ceil(units / (w + 1));
    const jobs: Promise<void>[] = [];
    let u = 0;
    for (const slot of pool) {
      const n = Math.min(share, units - u);
      if (n <= 0) break;
      const at = u;
      jobs.push(runJob(slot, data.subarray(at * MiB, (at + n) * MiB), counter + at * 1024, 0, mode).then((r) => cvs.set(r, at * 32)));
      u += n;
    }
    if (u < units) cvs.set(localCVs(data.subarray(u * MiB), counter + u * 1024, mode), u * 32);
    await Promise.all(jobs);
    return cvs;
  }
  // The calling thread also copies every worker's bytes into shared memory, so it takes a smaller share.
  const mainWeight = Math.max(0, 1 - MAIN_COPY_PENALTY * w);
  const workerCap = ROUND_SHARE / MiB;
  for (let u0 = 0; u0 < units; ) {
    const left = units - u0;
    const full = Math.floor(workerCap * (w + mainWeight));
    const perWorker = left >= full ? workerCap : Math.min(workerCap, Math.floor(left / (w + mainWeight)));
    const jobs: Promise<void>[] = [];
    let u = u0;
    for (const slot of pool) {
      const end = Math.min(u + perWorker, units);
      for (let j = u; j < end; j += JOB_UNITS) {
        const n = Math.min(JOB_UNITS, end - j);
        const at = j;
        jobs.push(runJob(slot, data.subarray(at * MiB, (at + n) * MiB), counter + at * 1024, (at - u) * MiB, mode).then((r) => cvs.set(r, at * 32)));
      }
      u = end;
    }
    // The calling thread takes the rest of the round.
    const mainEnd = left >= full ? Math.min(units, u + Math.round(workerCap * mainWeight)) : u0 + left;
    if (mainEnd > u) cvs.set(localCVs(data.subarray(u * MiB, mainEnd * MiB), counter + u * 1024, mode), u * 32);
    await Promise.all(jobs);
    u0 = Math.max(u, mainEnd);
  }
  return cvs;
}

/** Terminates the worker pool (it is re-created on the next large hash). */
export async function closeHashPool(): Promise<void> {
  const s = slots;
  slots = null;
  streamBuf = null;
  if (!s) return;
  await Promise.all(s.map((slot) => slot.worker.terminate()));
}

/** Number of worker threads the pool uses (0 before first use). */
export function hashPoolSize(): number {
  return slots?.length ?? 0;
}
