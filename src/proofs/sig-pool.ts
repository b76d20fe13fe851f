// Ed25519 verification on worker threads, so that a warden checking many storage answers uses every core: the calling
// thread runs the answer checks and the slices (wasm), a worker the signature (node:crypto's OpenSSL, about half of a
// verification). Node-only. Signatures go to a worker in messages of up to 8 (one transferred buffer each; what is
// left at the end of an event-loop turn goes then), so the worker starts while this thread checks the next answers.
// Idle workers are unref'd and never keep a process alive. Where no worker can run, the calling thread verifies.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { ED25519_SPKI_PREFIX } from "../identity/ed25519.ts";
import { ed25519Verify } from "./sign.ts";
import { badSignature, checkAnswer, type PosAnswer, type PosChallenge } from "./storage.ts";

/** Most signatures in one message to a worker. */
const BATCH_MAX = 256;
/**
 * Signatures that go to a worker at once, without waiting for the end of the turn: the worker starts on them while this
 * thread checks the next answers (answers that arrive together would otherwise take turns: all checks, then all
 * signatures).
 */
const SEND_AT = 8;
/** Largest statement a batch carries (a POS_ANSWER statement is under 2 KiB); longer ones are verified here. */
const MESSAGE_MAX = 64 * 1024;

// Worker body: verifies each packed (u32 length, message, 64-byte signature, 32-byte key) and answers 1 or 0 per item.
const WORKER_CODE = `
// Under Node's permission model this thread gives up every right it inherited; it only computes.
if (process.permission) for (const s of ["fs", "child", "worker", "net", "addon", "wasi", "inspector"]) process.permission.drop(s);
const { parentPort, workerData } = require("node:worker_threads");
const crypto = require("node:crypto");
const SPKI = Buffer.from(workerData.spki);
const keys = new Map();
function key(pub) {
  const hex = pub.toString("hex");
  let k = keys.get(hex);
  if (k === undefined) {
    k = crypto.createPublicKey({ key: Buffer.concat([SPKI, pub]), format: "der", type: "spki" });
    if (keys.size >= 1024) keys.delete(keys.keys().next().value);
    keys.set(hex, k);
  }
  return k;
}
parentPort.on("message", ({ id, buf, count }) => {
  const b = Buffer.from(buf);
  const out = new Uint8Array(count);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const len = b.readUInt32BE(at);
    const msg = b.subarray(at + 4, at + 4 + len);
    const sig = b.subarray(at + 4 + len, at + 68 + len);
    const pub = b.subarray(at + 68 + len, at + 100 + len);
    at += 100 + len;
    try { out[i] = crypto.verify(null, msg, key(pub), sig) ? 1 : 0; } catch { out[i] = 0; }
  }
  parentPort.postMessage({ id, out }, [out.buffer]);
});
`;

interface Item {
  message: Uint8Array;
  signature: Uint8Array;
  publicKey: Uint8Array;
  resolve: (ok: boolean) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  /** Batches posted and not yet answered, by id; the worker is ref'd while there are any. */
  batches: Map<number, Item[]>;
  /** Signatures in those batches. */
  load: number;
}

let slots: Slot[] | null = null;
let started = false;
let queued: Item[] = [];
let flushing = false;
let nextId = 1;

function poolSize(): number {
  return Math.max(1, Math.min(availableParallelism() - 1, 15));
}

function ensurePool(): Slot[] | null {
  if (started) return slots;
  started = true;
  try {
    slots = [];
    for (let i = 0; i < poolSize(); i++) slots.push(startWorker());
  } catch {
    slots = null; // no worker threads here (e.g. a permission model without them): the calling thread verifies
  }
  return slots;
}

function startWorker(): Slot {
  const worker = new Worker(WORKER_CODE, { eval: true, workerData: { spki: ED25519_SPKI_PREFIX } });
  worker.unref();
  const slot: Slot = { worker, batches: new Map(), load: 0 };
  worker.on("message", (m: { id: number; out: Uint8Array }) => {
    const items = slot.batches.get(m.id);
    if (!items) return;
    finish(slot, m.id, items);
    items.forEach((it, i) => it.resolve(m.out[i] === 1));
  });
  const fail = (err: Error) => {
    slots = slots?.filter((s) => s !== slot) ?? null;
    if (slots?.length === 0) slots = null;
    // What the worker still owed is verified here rather than lost.
    for (const [id, items] of [...slot.batches]) {
      finish(slot, id, items);
      for (const it of items) verifyHere(it, err);
    }
  };
  worker.on("error", (err: unknown) => fail(err instanceof Error ? err : new Error(String(err))));
  worker.on("exit", (code) => fail(new Error(`signature worker exited with code ${code}`)));
  return slot;
}

function finish(slot: Slot, id: number, items: Item[]): void {
  slot.batches.delete(id);
  slot.load -= items.length;
  if (slot.batches.size === 0) slot.worker.unref();
}

function verifyHere(it: Item, cause?: Error): void {
  try {
    it.resolve(ed25519Verify(it.signature, it.message, it.publicKey));
  } catch (err) {
    it.reject(cause ?? (err as Error));
  }
}

/** Sends what is queued to the least loaded workers, in batches of at most BATCH_MAX. */
function flush(): void {
  if (queued.length === 0) return; // sent early (SEND_AT) after the end-of-turn flush was scheduled
  const items = queued;
  queued = [];
  const pool = ensurePool();
  if (!pool) {
    for (const it of items) verifyHere(it);
    return;
  }
  for (let at = 0; at < items.length; at += BATCH_MAX) {
    const batch = items.slice(at, at + BATCH_MAX);
    let size = 0;
    for (const it of batch) size += 100 + it.message.length;
    const buf = new Uint8Array(size);
    const view = new DataView(buf.buffer);
    let p = 0;
    for (const it of batch) {
      view.setUint32(p, it.message.length);
      buf.set(it.message, p + 4);
      buf.set(it.signature, p + 4 + it.message.length);
      buf.set(it.publicKey, p + 68 + it.message.length);
      p += 100 + it.message.length;
    }
    const slot = pool.reduce((a, b) => (b.load < a.load ? b : a));
    const id = nextId++;
    if (slot.batches.size === 0) slot.worker.ref(); // a result is owed: keep the process alive until it comes
    slot.batches.set(id, batch);
    slot.load += batch.length;
    slot.worker.postMessage({ id, buf: buf.buffer, count: batch.length }, [buf.buffer]);
  }
}

/**
 * True when `signature` is a valid Ed25519 signature of `message` by `publicKey`, checked on a worker thread (as
 * ed25519Verify: false for any malformed input). Calls made together share a message to the worker.
 */
export function ed25519VerifyParallel(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): Promise<boolean> {
  if (!(signature instanceof Uint8Array) || !(message instanceof Uint8Array) || !(publicKey instanceof Uint8Array)) return Promise.resolve(false);
  if (signature.length !== 64 || publicKey.length !== 32) return Promise.resolve(false);
  if (message.length > MESSAGE_MAX) return Promise.resolve(ed25519Verify(signature, message, publicKey));
  return new Promise((resolve, reject) => {
    queued.push({ message, signature, publicKey, resolve, reject });
    if (queued.length >= SEND_AT) {
      flush();
    } else if (!flushing) {
      flushing = true;
      queueMicrotask(() => {
        flushing = false;
        flush();
      });
    }
  });
}

/**
 * verifyAnswer with the signature checked on a worker thread: the answer checks and the slices run here, so a warden
 * with many answers to check keeps two cores busy. Rejects with PosVerifyError naming the first failure.
 */
export async function verifyAnswerParallel(ch: PosChallenge, a: PosAnswer, miner: string, challenger: string): Promise<{ size: number }> {
  const c = checkAnswer(ch, a, miner, challenger);
  if (!(await ed25519VerifyParallel(c.signature, c.statement, c.publicKey))) throw badSignature();
  return { size: c.size };
}

/** Stops the signature workers (the next call starts them again). */
export async function closeSignaturePool(): Promise<void> {
  const s = slots;
  slots = null;
  started = false;
  if (s) await Promise.all(s.map((slot) => slot.worker.terminate()));
}

/** Worker threads verifying signatures (0 before first use or where none can run). */
export function signaturePoolSize(): number {
  return slots?.length ?? 0;
}
