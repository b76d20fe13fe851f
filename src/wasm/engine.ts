// Loader for the BLAKE3 WebAssembly module built from wasm/assembly: one instance per thread, typed raw exports.
import { blake3WasmBase64 } from "./gen/blake3.wasm.ts";

/** Raw exports of wasm/assembly/blake3.ts (pointers are byte offsets into `memory`). */
export interface Blake3Exports {
  memory: WebAssembly.Memory;
  inPtr(): number;
  outPtr(): number;
  keyPtr(): number;
  inCap(): number;
  outCap(): number;
  stateSize(): number;
  statePtr(i: number): number;
  hasherInit(st: number, flags: number, keyed: number): void;
  hasherUpdate(st: number, ptr: number, len: number, more: number): void;
  hasherPushSubtree(st: number, cv: number, chunks: number): void;
  hasherCounter(st: number): number;
  hasherChunkLen(st: number): number;
  hasherFinalize(st: number, outLen: number, seek: number): void;
  hashOneShot(st: number, flags: number, keyed: number, len: number, outLen: number): void;
  groupCVs(st: number, len: number, counter: number, log2Chunks: number): number;
  parentLevel(st: number, n: number): number;
  chunkCV(st: number, len: number, counter: number, root: number): void;
  parentCV(st: number, root: number): void;
  merkleLeaves(st: number, count: number): void;
  merkleLevel(st: number, n: number): number;
  merkleSubtree(leafSt: number, nodeSt: number, count: number): void;
  baoSubtree(st: number, len: number, counter: number): number;
  baoVerifySubtree(st: number, encLen: number, dataLen: number, counter: number): number;
  verifyChunkPath(st: number, n: number, index: number, len: number): number;
  chunkSlices(st: number, count: number, size: number, digestLen: number): number;
  maxChunkSlices(): number;
  groupTree(st: number, len: number, counter: number): number;
  groupPath(rel: number): number;
  cvOutPtr(): number;
  cvExpectPtr(): number;
  dataPtr(): number;
}

/** BLAKE3 domain flags. */
export const FLAGS = {
  CHUNK_START: 1,
  CHUNK_END: 2,
  PARENT: 4,
  ROOT: 8,
  KEYED_HASH: 16,
  DERIVE_KEY_CONTEXT: 32,
  DERIVE_KEY_MATERIAL: 64,
} as const;

/** One instantiated module plus cached views and fixed buffer addresses. */
export interface Engine {
  x: Blake3Exports;
  mem: Uint8Array;
  IN: number;
  OUT: number;
  KEY: number;
  IN_CAP: number;
  OUT_CAP: number;
  /** State slot for one-shot work (always re-initialised before use). */
  S0: number;
  /** State slot shared by incremental hashers (swapped in and out). */
  S1: number;
  STATE_SIZE: number;
  CV_OUT: number;
  CV_EXPECT: number;
  DATA: number;
  /** The incremental hasher whose state currently occupies S1. */
  owner: { saveState(): void } | null;
}

let engine: Engine | null = null;
let moduleCache: WebAssembly.Module | null = null;

/** Decodes base64 without Node-only APIs. */
export function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The raw module bytes (for handing to worker threads). */
export function blake3WasmBytes(): Uint8Array<ArrayBuffer> {
  return decodeBase64(blake3WasmBase64);
}

/** The compiled module (compiled once per thread; synchronously unless initWasm ran first). */
export function blake3Module(): WebAssembly.Module {
  moduleCache ??= new WebAssembly.Module(blake3WasmBytes());
  return moduleCache;
}

/**
 * Compiles the module asynchronously. Optional in Node; browsers that refuse synchronous compilation on the main
 * thread should await it once before using the API.
 */
export async function initWasm(): Promise<void> {
  moduleCache ??= await WebAssembly.compile(blake3WasmBytes());
}

/** Returns this thread's engine, instantiating the module on first use. */
export function getEngine(): Engine {
  if (engine) return engine;
  const instance = new WebAssembly.Instance(blake3Module(), { env: { abort: wasmAbort } });
  const x = instance.exports as unknown as Blake3Exports;
  engine = {
    x,
    mem: new Uint8Array(x.memory.buffer),
    IN: x.inPtr(),
    OUT: x.outPtr(),
    KEY: x.keyPtr(),
    IN_CAP: x.inCap(),
    OUT_CAP: x.outCap(),
    S0: x.statePtr(0),
    S1: x.statePtr(1),
    STATE_SIZE: x.stateSize(),
    CV_OUT: x.cvOutPtr(),
    CV_EXPECT: x.cvExpectPtr(),
    DATA: x.dataPtr(),
    owner: null,
  };
  return engine;
}

function wasmAbort(): never {
  throw new Error("blake3 wasm module aborted");
}
