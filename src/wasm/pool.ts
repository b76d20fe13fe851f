// Multi-core BLAKE3: 1 MiB subtrees hashed on a pool of worker threads (shared memory) plus the calling thread.
// Node-only (node:worker_threads). Workers run self-contained code (eval) with the compiled module passed in workerData,
// so this works from the bundle and from a single executable. Idle workers are unref'd and never keep a process alive.
import { Worker } from "node:worker_threads";
import { availableParallelism } from "node:os";
import { blake3, checkBytes } from "./blake3.ts";
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
    x.hasherInit(S0, 0, 0);
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

function runJob(slot: Slot, src: Uint8Array, counter: number, off: number): Promise<Uint8Array> {
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
    slot.worker.postMessage({ id, sab, off, len: src.length, counter });
  });
}

/** CVs of consecutive whole 1 MiB subtrees of `src` (first chunk `counter`), on this thread. */
function localCVs(src: Uint8Array, counter: number): Uint8Array {
  const e = getEngine();
  const cvs = new Uint8Array(Math.ceil(src.length / MiB) * 32);
  e.x.hasherInit(e.S0, 0, 0);
  for (let off = 0, i = 0; off < src.length; off += MiB, i++) {
    const n = Math.min(MiB, src.length - off);
    e.mem.set(src.subarray(off, off + n), e.IN);
    e.x.groupCVs(e.S0, n, counter + off / 1024, 10);
    cvs.set(e.mem.subarray(e.OUT, e.OUT + 32), i * 32);
  }
  return cvs;
}

let queue: Promise<unknown> = Promise.resolve();

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
  const run = queue.then(() => hashLarge(data));
  queue = run.catch(() => undefined);
  return run;
}

/** Units (MiB) a worker takes per job; jobs are pipelined so a worker starts while the next piece is copied. */
const JOB_UNITS = 4;

async function hashLarge(data: Uint8Array): Promise<Uint8Array> {
  const pool = ensurePool();
  const w = pool.length;
  // The calling thread also copies every worker's bytes into shared memory, so it takes a smaller share.
  const mainWeight = Math.max(0, 1 - 0.3 * w);
  // Whole 1 MiB units strictly before the last byte go to subtrees; the tail (>= 1 byte) goes through the hasher.
  const units = Math.floor((data.length - 1) / MiB);
  const cvs = new Uint8Array(units * 32);
  const workerCap = ROUND_SHARE / MiB;
  for (let u0 = 0; u0 < units; ) {
    const left = units - u0;
    const full = Math.floor(workerCap * (w + mainWeight));
    const scale = left >= full ? 1 : left / full;
    const perWorker = Math.min(workerCap, Math.floor(workerCap * scale));
    const jobs: Promise<void>[] = [];
    let u = u0;
    for (const slot of pool) {
      const end = Math.min(u + perWorker, units);
      for (let j = u; j < end; j += JOB_UNITS) {
        const n = Math.min(JOB_UNITS, end - j);
        const at = j;
        jobs.push(runJob(slot, data.subarray(at * MiB, (at + n) * MiB), at * 1024, (at - u) * MiB).then((r) => cvs.set(r, at * 32)));
      }
      u = end;
    }
    // The calling thread takes the rest of the round.
    const mainEnd = Math.min(units, u + Math.max(left >= full ? Math.round(workerCap * mainWeight) : left - (u - u0), 0));
    if (mainEnd > u) cvs.set(localCVs(data.subarray(u * MiB, mainEnd * MiB), u * 1024), u * 32);
    await Promise.all(jobs);
    u0 = mainEnd > u ? mainEnd : u;
  }
  const e = getEngine();
  e.x.hasherInit(e.S0, 0, 0);
  for (let i = 0; i < units; i++) {
    e.mem.set(cvs.subarray(i * 32, i * 32 + 32), e.IN);
    e.x.hasherPushSubtree(e.S0, e.IN, 1024);
  }
  const tail = data.subarray(units * MiB);
  e.mem.set(tail, e.IN);
  e.x.hasherUpdate(e.S0, e.IN, tail.length);
  e.x.hasherFinalize(e.S0, 32, 0);
  return e.mem.slice(e.OUT, e.OUT + 32);
}

/** Terminates the worker pool (it is re-created on the next large hash). */
export async function closeHashPool(): Promise<void> {
  const s = slots;
  slots = null;
  if (!s) return;
  await Promise.all(s.map((slot) => slot.worker.terminate()));
}

/** Number of worker threads the pool uses (0 before first use). */
export function hashPoolSize(): number {
  return slots?.length ?? 0;
}
