// Reed-Solomon erasure code over GF(2^8): systematic, Backblaze/klauspost Vandermonde matrix, polynomial 0x11D, so
// shards are byte-identical to klauspost/reedsolomon and the reed-solomon-erasure crate. The WASM module multiplies.
import { rsWasmBase64 } from "./gen/rs.wasm.ts";
import { rsRelaxedWasmBase64 } from "./gen/rsRelaxed.wasm.ts";
import { decodeBase64 } from "./engine.ts";
import { encodingMatrix, matInvert, matMul, matRows, nibbleTables, type Matrix } from "./gf256.ts";

/** Raw exports of wasm/assembly/rs.ts (pointers are byte offsets into `memory`). */
interface RsExports {
  memory: WebAssembly.Memory;
  tablesPtr(): number;
  bufPtr(): number;
  bufCap(): number;
  maxCoefs(): number;
  mulMatrix(k: number, rows: number, stride: number, len: number, accumulate: number): void;
  isZero(off: number, len: number): number;
}

interface RsEngine {
  x: RsExports;
  mem: Uint8Array;
  TABLES: number;
  BUF: number;
  BUF_CAP: number;
  /** The coefficient tables currently in the module's table area (skips reloading them). */
  loaded: Uint8Array | null;
}

/** Bytes of each shard processed per kernel call (the working set stays in the L2 cache). */
const MAX_STRIDE = 32 * 1024;
/** Decode matrices kept per coder (one per erasure pattern seen recently). */
const DECODE_CACHE = 32;

/** Kernel builds: "relaxed" (i8x16.relaxed_swizzle, where the runtime has relaxed SIMD) and "standard" (i8x16.swizzle). */
export type RsKernel = "relaxed" | "standard";
const engines = new Map<RsKernel, RsEngine>();
let relaxedOk: boolean | null = null;
let chosen: RsKernel | null = null;

/** The kernel build in use: relaxed where the runtime validates it (both give the same bytes). */
export function rsKernel(): RsKernel {
  relaxedOk ??= WebAssembly.validate(decodeBase64(rsRelaxedWasmBase64));
  return chosen ?? (relaxedOk ? "relaxed" : "standard");
}

/** Pins the kernel build (tests run both); null restores the automatic choice. */
export function setRsKernel(kernel: RsKernel | null): void {
  if (kernel === "relaxed" && !(relaxedOk ??= WebAssembly.validate(decodeBase64(rsRelaxedWasmBase64)))) {
    throw new Error("setRsKernel: this runtime has no relaxed SIMD");
  }
  chosen = kernel;
}

function rsEngine(): RsEngine {
  const kernel = rsKernel();
  let e = engines.get(kernel);
  if (e) return e;
  const bytes = decodeBase64(kernel === "relaxed" ? rsRelaxedWasmBase64 : rsWasmBase64);
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {
    env: { abort: () => { throw new Error("rs wasm module aborted"); } },
  });
  const x = instance.exports as unknown as RsExports;
  e = { x, mem: new Uint8Array(x.memory.buffer), TABLES: x.tablesPtr(), BUF: x.bufPtr(), BUF_CAP: x.bufCap(), loaded: null };
  engines.set(kernel, e);
  return e;
}

/** The kernel processes 32 bytes per step. */
const roundUp32 = (n: number) => (n + 31) & ~31;

/**
 * outputs[r] = sum over c of M[r][c] * inputs[c] for the matrix whose nibble tables are `tables` (rows x k). With
 * `check`, outputs are compared instead of written: returns false at the first byte that differs.
 */
function apply(tables: Uint8Array, inputs: readonly Uint8Array[], outputs: readonly Uint8Array[], len: number, check: boolean): boolean {
  const e = rsEngine();
  const { x, mem, BUF } = e;
  if (e.loaded !== tables) {
    mem.set(tables, e.TABLES);
    e.loaded = tables;
  }
  const k = inputs.length;
  const rows = outputs.length;
  const stride = Math.min(MAX_STRIDE, Math.floor(e.BUF_CAP / (k + rows) / 32) * 32, roundUp32(len));
  for (let off = 0; off < len; off += stride) {
    const n = Math.min(stride, len - off);
    for (let c = 0; c < k; c++) mem.set(inputs[c]!.subarray(off, off + n), BUF + c * stride);
    if (check) for (let r = 0; r < rows; r++) mem.set(outputs[r]!.subarray(off, off + n), BUF + (k + r) * stride);
    x.mulMatrix(k, rows, stride, roundUp32(n), check ? 1 : 0);
    for (let r = 0; r < rows; r++) {
      const at = (k + r) * stride;
      if (!check) outputs[r]!.set(mem.subarray(BUF + at, BUF + at + n), off);
      else if (!x.isZero(at, n)) return false;
    }
  }
  return true;
}

/** Reed-Solomon coder for k data shards and m parity shards. */
export class ReedSolomon {
  readonly dataShards: number;
  readonly parityShards: number;
  readonly totalShards: number;
  readonly #matrix: Matrix;
  readonly #parityTables: Uint8Array;
  readonly #decode = new Map<string, Uint8Array>();

  /** 1 <= dataShards, 0 <= parityShards, dataShards + parityShards <= 256. */
  constructor(dataShards: number, parityShards: number) {
    if (!Number.isInteger(dataShards) || dataShards < 1 || dataShards > 256) {
      throw new RangeError(`ReedSolomon: dataShards must be an integer in 1..256, got ${dataShards}`);
    }
    if (!Number.isInteger(parityShards) || parityShards < 0 || dataShards + parityShards > 256) {
      throw new RangeError(`ReedSolomon: parityShards must be an integer in 0..${256 - dataShards} (at most 256 shards in all), got ${parityShards}`);
    }
    this.dataShards = dataShards;
    this.parityShards = parityShards;
    this.totalShards = dataShards + parityShards;
    this.#matrix = encodingMatrix(dataShards, parityShards);
    const parityRows = Array.from({ length: parityShards }, (_, i) => dataShards + i);
    this.#parityTables = nibbleTables(matRows(this.#matrix, parityRows));
  }

  /** Fills shards[k..k+m) (parity) from shards[0..k); all shards the same length. */
  encode(shards: Uint8Array[]): void {
    const len = this.#checkAll(shards, "encode");
    if (this.parityShards === 0 || len === 0) return;
    apply(this.#parityTables, shards.slice(0, this.dataShards), shards.slice(this.dataShards), len, false);
  }

  /**
   * Rebuilds every null entry in place from any k present shards (the first k present are read) and returns the
   * completed array; RangeError naming the missing shards when fewer than k are present.
   */
  reconstruct(shards: Array<Uint8Array | null>): Uint8Array[] {
    const what = "reconstruct";
    this.#checkCount(shards, what);
    const present: number[] = [];
    const missing: number[] = [];
    let len = -1;
    shards.forEach((s, i) => {
      if (s === null) return void missing.push(i);
      checkShard(s, i, what);
      if (len < 0) len = s.length;
      else if (s.length !== len) throw sizeError(what, i, s.length, present[0]!, len);
      present.push(i);
    });
    if (present.length < this.dataShards) {
      throw new RangeError(
        `${what}: ${present.length} of ${this.totalShards} shards present (missing ${missing.join(", ")}); need at least ${this.dataShards}`,
      );
    }
    if (missing.length === 0) return shards as Uint8Array[];
    const use = present.slice(0, this.dataShards);
    // One allocation for every rebuilt shard.
    const block = new Uint8Array(len * missing.length);
    const outputs = missing.map((_, j) => block.subarray(j * len, (j + 1) * len));
    if (len > 0) apply(this.#decodeTables(use, missing), use.map((i) => shards[i]!), outputs, len, false);
    missing.forEach((i, j) => (shards[i] = outputs[j]!));
    return shards as Uint8Array[];
  }

  /** True when the parity shards match the data shards. */
  verify(shards: Uint8Array[]): boolean {
    const len = this.#checkAll(shards, "verify");
    if (this.parityShards === 0 || len === 0) return true;
    return apply(this.#parityTables, shards.slice(0, this.dataShards), shards.slice(this.dataShards), len, true);
  }

  /** Tables of the rows that give the `missing` shards from the shards `use` (k of them): E[missing] x E[use]^-1. */
  #decodeTables(use: number[], missing: number[]): Uint8Array {
    const key = `${use.join(",")}/${missing.join(",")}`;
    let t = this.#decode.get(key);
    if (t) {
      this.#decode.delete(key);
    } else {
      const inv = matInvert(matRows(this.#matrix, use));
      t = nibbleTables(matMul(matRows(this.#matrix, missing), inv));
      if (this.#decode.size >= DECODE_CACHE) this.#decode.delete(this.#decode.keys().next().value!);
    }
    this.#decode.set(key, t);
    return t;
  }

  #checkCount(shards: unknown, what: string): asserts shards is unknown[] {
    if (!Array.isArray(shards)) throw new TypeError(`${what}: expected an array of ${this.totalShards} shards`);
    if (shards.length !== this.totalShards) {
      throw new RangeError(
        `${what}: expected ${this.totalShards} shards (${this.dataShards} data + ${this.parityShards} parity), got ${shards.length}`,
      );
    }
  }

  /** Checks that every shard is present and of one length; returns that length. */
  #checkAll(shards: Uint8Array[], what: string): number {
    this.#checkCount(shards, what);
    shards.forEach((s, i) => {
      checkShard(s, i, what);
      if (s.length !== shards[0]!.length) throw sizeError(what, i, s.length, 0, shards[0]!.length);
    });
    return shards[0]!.length;
  }
}

function checkShard(s: unknown, i: number, what: string): asserts s is Uint8Array {
  if (!(s instanceof Uint8Array)) throw new TypeError(`${what}: shard ${i} is not a Uint8Array`);
}

function sizeError(what: string, i: number, n: number, j: number, expected: number): RangeError {
  return new RangeError(`${what}: shard ${i} has ${n} bytes but shard ${j} has ${expected}; all shards must be the same length`);
}

/**
 * Splits `data` into k equal data shards (the last zero padded; each ceil(len / k) bytes) plus m zeroed parity
 * shards of the same length, all views of one new buffer.
 */
export function splitStripe(data: Uint8Array, k: number, m: number): Uint8Array[] {
  if (!(data instanceof Uint8Array)) throw new TypeError("splitStripe: data must be a Uint8Array");
  if (!Number.isInteger(k) || k < 1 || k > 256) throw new RangeError(`splitStripe: k must be an integer in 1..256, got ${k}`);
  if (!Number.isInteger(m) || m < 0 || k + m > 256) throw new RangeError(`splitStripe: m must be an integer in 0..${256 - k}, got ${m}`);
  const shardLen = Math.ceil(data.length / k);
  const buf = new Uint8Array(shardLen * (k + m));
  buf.set(data);
  return Array.from({ length: k + m }, (_, i) => buf.subarray(i * shardLen, (i + 1) * shardLen));
}
