// Multi-core BLAKE3: 1 MiB subtrees hashed by a pool of worker threads and the calling thread together.
// Node-only (node:worker_threads). Workers run self-contained code (eval) with the compiled module passed in workerData,
// so this works from the bundle and from a single executable. Idle workers are unref'd and never keep a process alive.
// Work is claimed unit by unit through an atomic counter in shared memory, so a busy core simply takes fewer units.
// Input that is not already shared is hashed in place by the calling thread, which copies only the units it hands to
// the workers into a small shared ring; files are read by every thread itself (file.ts).
import { Worker } from "node:worker_threads";
import { availableParallelism } from "node:os";
import { Blake3Hasher, blake3, checkBytes, createHasher } from "./blake3.ts";
import { blake3Module, getEngine, type Engine } from "./engine.ts";

const MiB = 1 << 20;
/** Inputs below this are hashed on the calling thread. */
export const PARALLEL_THRESHOLD = MiB;
/** Units (1 MiB subtrees) per segment: one staging buffer's worth. */
const SEGMENT_UNITS = 64;
/** Control words: next unit to claim, units available (copied / read), units in the segment (may shrink at EOF). */
export const NEXT = 0;
export const AVAIL = 1;
export const TOTAL = 2;

/** Message of a file job whose file got shorter while it was hashed. */
export const FILE_SHRANK = "the file got shorter while it was hashed";

// Worker body: claims units until none are left, hashing each 1 MiB subtree into the shared CV array.
const WORKER_CODE = `
// Under Node's permission model (the appliance build) this thread gives up every right it inherited: it opens no
// path (file jobs read from a descriptor the caller opened), starts nothing, uses no network. Per thread: the
// caller keeps its own rights.
if (process.permission) for (const s of ["fs", "child", "worker", "net", "addon", "wasi", "inspector"]) process.permission.drop(s);
const { parentPort, workerData } = require("node:worker_threads");
const { readSync } = require("node:fs");
const inst = new WebAssembly.Instance(workerData.module, { env: { abort() { throw new Error("blake3 wasm abort"); } } });
const x = inst.exports;
const mem = new Uint8Array(x.memory.buffer);
const IN = x.inPtr(), OUT = x.outPtr(), S0 = x.statePtr(0);
parentPort.on("message", (job) => {
  let done = 0;
  try {
    const ctrl = new Int32Array(job.ctrl);
    const L = job.log2, U = 1024 << L;
    const cvs = new Uint8Array(job.cvs);
    if (job.key) mem.set(job.key, x.keyPtr());
    x.hasherInit(S0, job.flags, job.key ? 1 : 0);
    if (job.queue) {
      // Queue job: the caller copies the units it hands out into a small ring of slots (cache-sized), one queue
      // position per unit; AVAIL counts published positions, TOTAL is -1 until the caller has published its last.
      const queue = new Int32Array(job.queue), busy = new Int32Array(job.busy), ring = new Uint8Array(job.data);
      const R = busy.length;
      for (;;) {
        const k = Atomics.add(ctrl, ${NEXT}, 1);
        let a;
        while ((a = Atomics.load(ctrl, ${AVAIL})) <= k && Atomics.load(ctrl, ${TOTAL}) < 0) Atomics.wait(ctrl, ${AVAIL}, a, 100);
        if (k >= Atomics.load(ctrl, ${AVAIL})) break;
        const u = queue[k], sl = k % R;
        mem.set(ring.subarray(sl * U, (sl + 1) * U), IN);
        Atomics.store(busy, sl, 0);
        x.groupCVs(S0, U, job.counter + u * (1 << L), L);
        cvs.set(mem.subarray(OUT, OUT + 32), u * 32);
        done++;
      }
      parentPort.postMessage({ id: job.id, done });
      return;
    }
    const src = job.fd === undefined ? new Uint8Array(job.data, job.off, job.units * U) : null;
    for (;;) {
      const u = Atomics.add(ctrl, ${NEXT}, 1);
      if (u >= Atomics.load(ctrl, ${TOTAL})) break;
      if (src === null) {
        // File job: positional reads straight into this thread's wasm memory (no shared staging, no copy).
        let got = 0;
        while (got < U) {
          const n = readSync(job.fd, mem, IN + got, U - got, job.pos + u * U + got);
          if (n === 0) throw new Error("${FILE_SHRANK}");
          got += n;
        }
      } else {
        let a;
        while ((a = Atomics.load(ctrl, ${AVAIL})) <= u && u < Atomics.load(ctrl, ${TOTAL})) Atomics.wait(ctrl, ${AVAIL}, a, 100);
        if (u >= Atomics.load(ctrl, ${TOTAL})) break;
        mem.set(src.subarray(u * U, (u + 1) * U), IN);
      }
      x.groupCVs(S0, U, job.counter + u * (1 << L), L);
      cvs.set(mem.subarray(OUT, OUT + 32), u * 32);
      done++;
    }
    parentPort.postMessage({ id: job.id, done });
  } catch (e) {
    parentPort.postMessage({ id: job.id, error: String(e && e.stack || e) });
  }
});
`;

export interface Slot {
  worker: Worker;
  /** Jobs posted and not yet answered; the worker is ref'd while this is non-zero. */
  pending: number;
}

interface JobReply {
  id: number;
  done?: number;
  error?: string;
}

let slots: Slot[] | null = null;
let nextId = 1;
const waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void; slot: Slot }>();

function poolSize(): number {
  return Math.max(1, Math.min(availableParallelism() - 1, 15));
}

/** The worker pool, started on first use (workers are unref'd while idle). */
export function ensurePool(): Slot[] {
  if (slots) return slots;
  const module = blake3Module();
  slots = [];
  for (let i = 0; i < poolSize(); i++) {
    // No execArgv option: the worker inherits the process's (the permission model of the appliance build, then
    // narrowed by the drop at the top of WORKER_CODE). execArgv: [] would start it without any restriction.
    const worker = new Worker(WORKER_CODE, { eval: true, workerData: { module } });
    worker.unref();
    const slot: Slot = { worker, pending: 0 };
    worker.on("message", (m: JobReply) => {
      const w = waiting.get(m.id);
      if (!w) return;
      waiting.delete(m.id);
      finishJob(w.slot);
      if (m.error !== undefined) w.reject(new Error(`hash worker failed: ${m.error}`));
      else w.resolve();
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

export interface Segment {
  /** Unit size: 2^log2 chunks (10: 1 MiB). */
  log2: number;
  /** Shared input (null for file jobs, whose workers read the file themselves). */
  data: SharedArrayBuffer | null;
  off: number;
  units: number;
  ctrl: SharedArrayBuffer;
  cvs: SharedArrayBuffer;
  counter: number;
  mode: HashMode;
  /** File jobs: the descriptor workers read units from with positional reads, and the byte offset of unit 0. */
  fd?: number;
  pos?: number;
  /** Queue jobs: unit index per queue position, and one busy flag per ring slot (data is the ring). */
  queue?: SharedArrayBuffer;
  busy?: SharedArrayBuffer;
}

/** Posts one job to a worker; resolves when the worker has claimed all it could of the segment. */
export function startJob(slot: Slot, seg: Segment): Promise<void> {
  const id = nextId++;
  if (slot.pending++ === 0) slot.worker.ref(); // keep the process alive while a result is owed
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject, slot });
    slot.worker.postMessage({
      id, log2: seg.log2, data: seg.data, off: seg.off, units: seg.units, ctrl: seg.ctrl, cvs: seg.cvs, counter: seg.counter,
      flags: seg.mode.flags, key: seg.mode.key, fd: seg.fd, pos: seg.pos, queue: seg.queue, busy: seg.busy,
    });
  });
}

/** Hashes one unit of 2^log2 chunks on this thread (state S0 prepared for the mode). */
export function localUnit(e: Engine, unit: Uint8Array, counter: number, out: Uint8Array, at: number, log2 = 10): void {
  e.mem.set(unit, e.IN);
  localUnitHashed(e, unit.length, counter, out, at, log2);
}

/** Like localUnit for a unit of `len` bytes already in the engine's input buffer. */
export function localUnitHashed(e: Engine, len: number, counter: number, out: Uint8Array, at: number, log2 = 10): void {
  e.x.groupCVs(e.S0, len, counter, log2);
  out.set(e.mem.subarray(e.OUT, e.OUT + 32), at);
}

let queue: Promise<unknown> = Promise.resolve();
/** Shared input buffer of the streaming hashers. */
let streamBuf: Uint8Array | null = null;

/** Runs `fn` after every earlier pool user finished (one user of the pool at a time). */
export function serialize<T>(fn: () => Promise<T>): Promise<T> {
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
    // Whole units strictly before the last byte go to subtrees; the tail (>= 1 byte) goes through the hasher.
    // Smaller inputs use 256 KiB units so the threads' shares stay even.
    const log2 = data.length < 16 * MiB ? 8 : 10;
    const U = 1024 << log2;
    const units = Math.floor((data.length - 1) / U);
    h.pushSubtreeCVs(await unitCVs(data.subarray(0, units * U), 0, PLAIN, log2), 1 << log2);
    h.update(data.subarray(units * U));
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
 * written, 0 at the end. Workers hash each 1 MiB unit as soon as it has been read (and more input follows it); the
 * calling thread reads, then helps with what is left of each 64 MiB segment.
 */
export function hashReaderParallel(read: (into: Uint8Array) => Promise<number>, hasher: Blake3Hasher): Promise<Blake3Hasher> {
  if (!(hasher instanceof Blake3Hasher)) return Promise.reject(new TypeError("hashReaderParallel: hasher must be a Blake3Hasher"));
  if (typeof read !== "function") return Promise.reject(new TypeError("hashReaderParallel: read must be a function"));
  return serialize(async () => {
    const mode = hasher.mode();
    const cap = SEGMENT_UNITS * MiB;
    // Reused across calls (a fresh buffer costs a page fault per 4 KiB); released by closeHashPool.
    streamBuf ??= new Uint8Array(new SharedArrayBuffer(cap));
    const buf = streamBuf;
    const e = getEngine();
    let len = 0;
    let counter = 0;
    // Small inputs never start the pool: read past the first unit before involving workers.
    while (len <= MiB) {
      const n = await read(buf.subarray(len));
      if (!Number.isInteger(n) || n < 0 || n > cap - len) throw new RangeError(`hashReaderParallel: read returned ${n}`);
      if (n === 0) {
        hasher.update(buf.subarray(0, len));
        return hasher;
      }
      len += n;
    }
    const pool = ensurePool();
    for (;;) {
      const ctrlBuf = new SharedArrayBuffer(12);
      const ctrl = new Int32Array(ctrlBuf);
      Atomics.store(ctrl, TOTAL, SEGMENT_UNITS);
      const cvBuf = new SharedArrayBuffer(SEGMENT_UNITS * 32);
      const seg: Segment = { log2: 10, data: buf.buffer as SharedArrayBuffer, off: 0, units: SEGMENT_UNITS, ctrl: ctrlBuf, cvs: cvBuf, counter, mode };
      const jobs = pool.map((slot) => startJob(slot, seg));
      for (const j of jobs) j.catch(() => undefined); // awaited below unless read() throws first
      const publish = (avail: number, total?: number) => {
        if (total !== undefined) Atomics.store(ctrl, TOTAL, total);
        Atomics.store(ctrl, AVAIL, avail);
        Atomics.notify(ctrl, AVAIL);
      };
      let eof = false;
      let units = 0;
      let extra = -1;
      try {
        if (len > 0) publish(Math.floor((len - 1) / MiB));
        while (len < cap) {
          const n = await read(buf.subarray(len));
          if (!Number.isInteger(n) || n < 0 || n > cap - len) throw new RangeError(`hashReaderParallel: read returned ${n}`);
          if (n === 0) {
            eof = true;
            break;
          }
          len += n;
          // A unit is final only once at least one byte follows it.
          publish(Math.floor((len - 1) / MiB));
        }
        if (!eof) {
          const one = new Uint8Array(1);
          if ((await read(one)) === 0) eof = true;
          else extra = one[0]!;
        }
        units = eof ? (len > 0 ? Math.floor((len - 1) / MiB) : 0) : SEGMENT_UNITS;
      } finally {
        // Always release the workers, even when read failed.
        publish(units, units);
      }
      // Help with the units no worker has claimed yet.
      if (mode.key) e.mem.set(mode.key, e.KEY);
      e.x.hasherInit(e.S0, mode.flags, mode.key ? 1 : 0);
      const cvs = new Uint8Array(cvBuf);
      for (let u = Atomics.add(ctrl, NEXT, 1); u < units; u = Atomics.add(ctrl, NEXT, 1)) {
        localUnit(e, buf.subarray(u * MiB, (u + 1) * MiB), counter + u * 1024, cvs, u * 32);
      }
      await Promise.all(jobs);
      if (units > 0) hasher.pushSubtreeCVs(cvs.slice(0, units * 32), 1024);
      if (eof) {
        hasher.update(buf.subarray(units * MiB, len));
        return hasher;
      }
      buf[0] = extra;
      len = 1;
      counter += SEGMENT_UNITS * 1024;
    }
  });
}

/** Units handed out and not yet claimed, per worker, that the caller keeps queued. */
const QUEUE_DEPTH = 2;
/** Ring slots per worker (each one unit); the ring is small enough to stay in cache between copy-in and copy-out. */
const RING_PER_WORKER = 4;
let ring: SharedArrayBuffer | null = null;

/**
 * CVs of the whole subtrees of 2^log2 chunks in `data` (length a multiple of the unit, first chunk `counter`), across the
 * pool, one 64 MiB segment at a time.
 */
async function unitCVs(data: Uint8Array, counter: number, mode: HashMode, log2 = 10): Promise<Uint8Array> {
  const U = 1024 << log2;
  const units = data.length / U;
  const perSegment = (SEGMENT_UNITS * MiB) / U;
  const out = new Uint8Array(units * 32);
  for (let s0 = 0; s0 < units; s0 += perSegment) {
    const n = Math.min(perSegment, units - s0);
    const part = data.subarray(s0 * U, (s0 + n) * U);
    const cvs = data.buffer instanceof SharedArrayBuffer
      ? await sharedSegmentCVs(part, counter + s0 * (1 << log2), mode, log2)
      : await queuedSegmentCVs(part, counter + s0 * (1 << log2), mode, log2);
    out.set(cvs, s0 * 32);
  }
  return out;
}

/** Input already in shared memory: workers and this thread claim units straight from it. */
async function sharedSegmentCVs(data: Uint8Array, counter: number, mode: HashMode, log2: number): Promise<Uint8Array> {
  const U = 1024 << log2;
  const units = data.length / U;
  const pool = ensurePool();
  const ctrlBuf = new SharedArrayBuffer(12);
  const ctrl = new Int32Array(ctrlBuf);
  Atomics.store(ctrl, TOTAL, units);
  Atomics.store(ctrl, AVAIL, units);
  const cvBuf = new SharedArrayBuffer(units * 32);
  const cvs = new Uint8Array(cvBuf);
  const seg: Segment = { log2, data: data.buffer as SharedArrayBuffer, off: data.byteOffset, units, ctrl: ctrlBuf, cvs: cvBuf, counter, mode };
  const jobs = pool.map((slot) => startJob(slot, seg));
  const e = getEngine();
  if (mode.key) e.mem.set(mode.key, e.KEY);
  e.x.hasherInit(e.S0, mode.flags, mode.key ? 1 : 0);
  for (let u = Atomics.add(ctrl, NEXT, 1); u < units; u = Atomics.add(ctrl, NEXT, 1)) {
    localUnit(e, data.subarray(u * U, (u + 1) * U), counter + u * (1 << log2), cvs, u * 32, log2);
  }
  await Promise.all(jobs);
  return cvs.slice();
}

/**
 * Plain input: this thread walks the units in order and either hashes the next one in place (from the caller's bytes)
 * or, while the workers' queue is short, copies it into a free ring slot and hands it out. Each unit is copied once,
 * by whoever hashes it, plus once more for the units the workers take; the ring stays in cache.
 */
async function queuedSegmentCVs(data: Uint8Array, counter: number, mode: HashMode, log2: number): Promise<Uint8Array> {
  const U = 1024 << log2;
  const units = data.length / U;
  const pool = ensurePool();
  const R = RING_PER_WORKER * pool.length;
  if (!ring || ring.byteLength < R * MiB) ring = new SharedArrayBuffer(R * MiB); // reused: a fresh buffer page-faults
  const slots = new Uint8Array(ring, 0, R * U);
  const ctrlBuf = new SharedArrayBuffer(12);
  const ctrl = new Int32Array(ctrlBuf);
  Atomics.store(ctrl, TOTAL, -1);
  const queueBuf = new SharedArrayBuffer(units * 4);
  const queue = new Int32Array(queueBuf);
  const busyBuf = new SharedArrayBuffer(R * 4);
  const busy = new Int32Array(busyBuf);
  const cvBuf = new SharedArrayBuffer(units * 32);
  const cvs = new Uint8Array(cvBuf);
  const seg: Segment = { log2, data: ring, off: 0, units, ctrl: ctrlBuf, cvs: cvBuf, counter, mode, queue: queueBuf, busy: busyBuf };
  const jobs = pool.map((slot) => startJob(slot, seg));
  for (const j of jobs) j.catch(() => undefined); // awaited below
  const e = getEngine();
  if (mode.key) e.mem.set(mode.key, e.KEY);
  e.x.hasherInit(e.S0, mode.flags, mode.key ? 1 : 0);
  const depth = QUEUE_DEPTH * pool.length;
  let pub = 0;
  try {
    for (let u = 0; u < units; u++) {
      const waiting = pub - Math.min(pub, Atomics.load(ctrl, NEXT));
      const sl = pub % R;
      // Hand out while the queue is short, the slot is free, and more units are left than are queued (no long tail).
      if (waiting < depth && Atomics.load(busy, sl) === 0 && units - u > waiting) {
        Atomics.store(busy, sl, 1);
        slots.set(data.subarray(u * U, (u + 1) * U), sl * U);
        queue[pub] = u;
        Atomics.store(ctrl, AVAIL, ++pub);
        Atomics.notify(ctrl, AVAIL);
      } else {
        localUnit(e, data.subarray(u * U, (u + 1) * U), counter + u * (1 << log2), cvs, u * 32, log2);
      }
    }
  } finally {
    Atomics.store(ctrl, TOTAL, pub); // no more positions: idle workers return
    Atomics.notify(ctrl, AVAIL);
  }
  await Promise.all(jobs);
  return cvs.slice();
}

/** Terminates the worker pool (it is re-created on the next large hash). */
export async function closeHashPool(): Promise<void> {
  const s = slots;
  slots = null;
  streamBuf = null;
  ring = null;
  if (!s) return;
  await Promise.all(s.map((slot) => slot.worker.terminate()));
}

/** Number of worker threads the pool uses (0 before first use). */
export function hashPoolSize(): number {
  return slots?.length ?? 0;
}
