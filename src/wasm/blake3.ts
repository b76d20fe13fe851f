// BLAKE3 typed API over the WebAssembly core: one-shot hash / keyed hash / derive key, XOF output, incremental hasher.
import { FLAGS, getEngine, type Engine } from "./engine.ts";
import { toHex } from "./hex.ts";

/** Output length options: `length` bytes of extendable output (default 32). */
export interface HashOptions {
  length?: number;
}

/** Largest output one call may ask for. */
export const MAX_OUTPUT_LENGTH = 1 << 30;

/** Checks that `data` is a Uint8Array (TypeError otherwise). */
export function checkBytes(data: unknown, what: string): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array)) throw new TypeError(`${what}: expected a Uint8Array, got ${describe(data)}`);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "object") return (v as object).constructor?.name ?? "object";
  return typeof v;
}

function checkLength(length: unknown, what: string): number {
  if (length === undefined) return 32;
  if (typeof length !== "number") throw new TypeError(`${what}: length must be a number`);
  if (!Number.isInteger(length) || length < 0 || length > MAX_OUTPUT_LENGTH) {
    throw new RangeError(`${what}: length must be an integer in 0..${MAX_OUTPUT_LENGTH}, got ${length}`);
  }
  return length;
}

function checkKey(key: unknown, what: string): Uint8Array {
  checkBytes(key, what);
  if (key.length !== 32) throw new RangeError(`${what}: key must be 32 bytes, got ${key.length}`);
  return key;
}

/** Feeds `data` through the input buffer into state `st`; `more` promises input after `data` (one-shot callers: false). */
export function absorb(e: Engine, st: number, data: Uint8Array, more = false): void {
  const { x, mem, IN, IN_CAP } = e;
  for (let off = 0; off < data.length; off += IN_CAP) {
    const n = Math.min(IN_CAP, data.length - off);
    mem.set(data.subarray(off, off + n), IN);
    x.hasherUpdate(st, IN, n, more || off + n < data.length ? 1 : 0);
  }
}

/** Reads `length` bytes of root output of state `st` (non-destructive). */
export function squeeze(e: Engine, st: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const { x, mem, OUT, OUT_CAP } = e;
  for (let pos = 0; pos < length; pos += OUT_CAP) {
    const n = Math.min(OUT_CAP, length - pos);
    x.hasherFinalize(st, n, pos / 64);
    out.set(mem.subarray(OUT, OUT + n), pos);
  }
  return out;
}

function oneShot(flags: number, key: Uint8Array | null, data: Uint8Array, length: number): Uint8Array {
  const e = getEngine();
  if (key) e.mem.set(key, e.KEY);
  if (data.length <= e.IN_CAP && length <= e.OUT_CAP) {
    e.mem.set(data, e.IN);
    e.x.hashOneShot(e.S0, flags, key ? 1 : 0, data.length, length);
    return e.mem.slice(e.OUT, e.OUT + length);
  }
  e.x.hasherInit(e.S0, flags, key ? 1 : 0);
  absorb(e, e.S0, data);
  return squeeze(e, e.S0, length);
}

/** BLAKE3 hash of `data` (32 bytes unless `length` asks for more or less extendable output). */
export function blake3(data: Uint8Array, opts?: HashOptions): Uint8Array {
  checkBytes(data, "blake3");
  return oneShot(0, null, data, checkLength(opts?.length, "blake3"));
}

/**
 * BLAKE3-256 of the concatenation of `parts`, without building it: the parts are copied straight into the engine and
 * hashed in one call when they fit in its input buffer (1 MiB), else streamed.
 */
export function blake3Concat(parts: readonly Uint8Array[]): Uint8Array {
  if (!Array.isArray(parts)) throw new TypeError("blake3Concat: parts must be an array of Uint8Array");
  let total = 0;
  for (const p of parts) {
    checkBytes(p, "blake3Concat");
    total += p.length;
  }
  const e = getEngine();
  if (total > e.IN_CAP) {
    const h = new Blake3Hasher();
    for (const p of parts) h.update(p);
    return h.digest();
  }
  let at = e.IN;
  for (const p of parts) {
    e.mem.set(p, at);
    at += p.length;
  }
  e.x.hashOneShot(e.S0, 0, 0, total, 32);
  return e.mem.slice(e.OUT, e.OUT + 32);
}

/** BLAKE3-256 of `data` as 64 lowercase hex characters (a blob id). */
export function blake3Hex(data: Uint8Array): string {
  checkBytes(data, "blake3Hex");
  return toHex(oneShot(0, null, data, 32));
}

/** BLAKE3 keyed hash (MAC) of `data` under a 32-byte key. */
export function keyedHash(key: Uint8Array, data: Uint8Array, opts?: HashOptions): Uint8Array {
  checkKey(key, "keyedHash");
  checkBytes(data, "keyedHash");
  return oneShot(FLAGS.KEYED_HASH, key, data, checkLength(opts?.length, "keyedHash"));
}

function contextKey(context: string, what: string): Uint8Array {
  if (typeof context !== "string") throw new TypeError(`${what}: context must be a string`);
  return oneShot(FLAGS.DERIVE_KEY_CONTEXT, null, new TextEncoder().encode(context), 32);
}

/** BLAKE3 derive_key: a subkey from key material under a hard-coded, globally unique context string. */
export function deriveKey(context: string, material: Uint8Array, opts?: HashOptions): Uint8Array {
  const ck = contextKey(context, "deriveKey");
  checkBytes(material, "deriveKey");
  return oneShot(FLAGS.DERIVE_KEY_MATERIAL, ck, material, checkLength(opts?.length, "deriveKey"));
}

/**
 * Incremental BLAKE3 hasher: `update` any number of times with any sizes, then `digest` (non-destructive: more
 * updates may follow). Memory is bounded (about 2 KiB of state) whatever the stream length.
 */
export class Blake3Hasher {
  #flags: number;
  #key: Uint8Array | null;
  /** Saved copy of the wasm state while another hasher occupies the shared slot; null when never used. */
  #saved: Uint8Array | null = null;

  /** Prefer the factories createHasher / createKeyedHasher / createDeriveKeyHasher. */
  constructor(flags = 0, key: Uint8Array | null = null) {
    if (typeof flags !== "number" || ![0, FLAGS.KEYED_HASH, FLAGS.DERIVE_KEY_CONTEXT, FLAGS.DERIVE_KEY_MATERIAL].includes(flags)) {
      throw new RangeError("Blake3Hasher: unsupported flags");
    }
    if (key !== null) checkKey(key, "Blake3Hasher");
    this.#flags = flags;
    this.#key = key ? key.slice() : null;
  }

  /** Copies the shared wasm state slot into this hasher (called when another hasher takes the slot). */
  saveState(): void {
    const e = getEngine();
    this.#saved ??= new Uint8Array(e.STATE_SIZE);
    this.#saved.set(e.mem.subarray(e.S1, e.S1 + e.STATE_SIZE));
  }

  #activate(): Engine {
    const e = getEngine();
    if (e.owner === this) return e;
    e.owner?.saveState();
    e.owner = this;
    if (this.#saved) {
      e.mem.set(this.#saved, e.S1);
    } else {
      if (this.#key) e.mem.set(this.#key, e.KEY);
      e.x.hasherInit(e.S1, this.#flags, this.#key ? 1 : 0);
    }
    return e;
  }

  /** Absorbs `data`. */
  update(data: Uint8Array): this {
    checkBytes(data, "Blake3Hasher.update");
    const e = this.#activate();
    absorb(e, e.S1, data);
    return this;
  }

  /** The hash of everything absorbed so far (`length` bytes, default 32). */
  digest(length?: number): Uint8Array {
    const n = checkLength(length, "Blake3Hasher.digest");
    const e = this.#activate();
    return squeeze(e, e.S1, n);
  }

  /** The 32-byte digest as lowercase hex. */
  digestHex(): string {
    return toHex(this.digest(32));
  }

  /** Forgets all input (keeps the key / mode). */
  reset(): this {
    const e = getEngine();
    if (e.owner === this) e.owner = null;
    this.#saved = null;
    return this;
  }

  /** The hasher's mode (domain flags and key), for hashing its subtrees elsewhere. */
  mode(): { flags: number; key: Uint8Array | null } {
    return { flags: this.#flags, key: this.#key ? this.#key.slice() : null };
  }

  /**
   * Absorbs whole subtrees hashed elsewhere: `cvs` holds consecutive 32-byte non-root CVs of aligned subtrees of
   * `chunksEach` chunks (a power of two). Only valid on a chunk boundary aligned to the subtree size, and more input must
   * follow before `digest` (the last subtree cannot be the root).
   */
  pushSubtreeCVs(cvs: Uint8Array, chunksEach: number): this {
    checkBytes(cvs, "Blake3Hasher.pushSubtreeCVs");
    if (cvs.length % 32 !== 0) throw new RangeError("Blake3Hasher.pushSubtreeCVs: CVs must be 32 bytes each");
    if (!Number.isInteger(chunksEach) || chunksEach < 1 || (chunksEach & (chunksEach - 1)) !== 0) {
      throw new RangeError("Blake3Hasher.pushSubtreeCVs: chunksEach must be a power of two");
    }
    if (cvs.length === 0) return this;
    const e = this.#activate();
    if (e.x.hasherChunkLen(e.S1) !== 0 || e.x.hasherCounter(e.S1) % chunksEach !== 0) {
      throw new RangeError("Blake3Hasher.pushSubtreeCVs: not on an aligned subtree boundary");
    }
    for (let i = 0; i < cvs.length; i += 32) {
      e.mem.set(cvs.subarray(i, i + 32), e.IN);
      e.x.hasherPushSubtree(e.S1, e.IN, chunksEach);
    }
    return this;
  }
}

/** A new plain BLAKE3 hasher. */
export function createHasher(): Blake3Hasher {
  return new Blake3Hasher(0, null);
}

/** A new keyed BLAKE3 hasher (32-byte key). */
export function createKeyedHasher(key: Uint8Array): Blake3Hasher {
  checkKey(key, "createKeyedHasher");
  return new Blake3Hasher(FLAGS.KEYED_HASH, key);
}

/** A new derive-key hasher: feed key material, digest gives the derived key. */
export function createDeriveKeyHasher(context: string): Blake3Hasher {
  return new Blake3Hasher(FLAGS.DERIVE_KEY_MATERIAL, contextKey(context, "createDeriveKeyHasher"));
}
