// Measurement kernels shared by `slowdrip bench` and bench/: each runs one workload on this box for a time budget
// and returns its rate (MB/s or operations per second). One source of truth for what a figure means.
import { randomFillSync } from "node:crypto";
import { closeSync, fsyncSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { ReedSolomon, blake3, hashParallel, splitStripe } from "../wasm/index.ts";
import { signStatement } from "../stream/signing.ts";
import type { BlobStore } from "../store/types.ts";

const KiB = 1024;
const MiB = 1024 * 1024;

/** Random bytes (crypto-quality; incompressible). */
export function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) randomFillSync(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}

/** MB/s of one batch of calls of `fn` (each over `bytes` bytes) lasting at least `minMs`. */
export async function batchMBps(fn: () => unknown, bytes: number, minMs: number): Promise<number> {
  return ((await batchOps(fn, minMs)) * bytes) / 1e6;
}

/** Calls per second of one batch of calls of `fn` lasting at least `minMs` (async results are awaited one by one). */
export async function batchOps(fn: () => unknown, minMs: number): Promise<number> {
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  do {
    const x = fn();
    if (x instanceof Promise) await x;
    n++;
    t = performance.now();
  } while (t - t0 < minMs);
  return n / ((t - t0) / 1000);
}

/** Median of a non-empty list. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** BLAKE3 on the calling thread over `data`, MB/s (median of `rounds` batches of `ms`). */
export async function blake3SingleMBps(data: Uint8Array, ms: number, rounds = 3): Promise<number> {
  const r: number[] = [];
  for (let i = 0; i < rounds; i++) r.push(await batchMBps(() => blake3(data), data.length, ms));
  return median(r);
}

/** BLAKE3 on every core (the worker pool plus the calling thread) over `data`, MB/s (median of `rounds` batches). */
export async function blake3AllCoresMBps(data: Uint8Array, ms: number, rounds = 3): Promise<number> {
  await hashParallel(data); // starts the pool (worker start-up is not part of the figure)
  const r: number[] = [];
  for (let i = 0; i < rounds; i++) r.push(await batchMBps(() => hashParallel(data), data.length, ms));
  return median(r);
}

/** Reed-Solomon encode of `stripe` bytes into k data + m parity shards, MB/s of stripe data. */
export async function rsEncodeMBps(k: number, m: number, stripe: number, ms: number): Promise<number> {
  const rs = new ReedSolomon(k, m);
  const shards = splitStripe(randomBytes(stripe), k, m);
  return batchMBps(() => rs.encode(shards), stripe, ms);
}

/** Imports a batch into a store, each blob fed in 64 KiB pieces as a network upload arrives; returns the ms taken. */
export async function importBatch(store: BlobStore, blobs: Uint8Array[]): Promise<number> {
  const t0 = performance.now();
  for (const b of blobs) {
    const pieces: Uint8Array[] = [];
    for (let i = 0; i < b.length; i += 64 * KiB) pieces.push(b.subarray(i, i + 64 * KiB));
    await store.import(pieces, { size: b.length });
  }
  return performance.now() - t0;
}

/**
 * Store import (verified BLAKE3 + outboard + committed LMDB transaction per blob) of fresh random blobs of `size`
 * bytes for at least `ms`; MB/s and the hashes imported (for read kernels).
 */
export async function storeImportMBps(store: BlobStore, size: number, ms: number): Promise<{ mbps: number; hashes: string[] }> {
  const pool = Array.from({ length: 4 }, () => randomBytes(size));
  const hashes: string[] = [];
  let bytes = 0;
  let spent = 0;
  let i = 0;
  while (spent < ms) {
    // Vary one byte so every import is a new blob (a duplicate is not stored twice).
    const b = pool[i % pool.length]!;
    b[0] = i & 0xff;
    b[1] = (i >> 8) & 0xff;
    b[2] = (i >> 16) & 0xff;
    const t0 = performance.now();
    const r = await store.import([b], { size });
    spent += performance.now() - t0;
    hashes.push(r.hash);
    bytes += size;
    i++;
  }
  return { mbps: bytes / 1e6 / (spent / 1000), hashes };
}

/** Random verified reads of `len` bytes from the blobs `hashes` (each `size` bytes long) for `ms`; reads per second. */
export async function storeRandomReadsPerSec(store: BlobStore, hashes: string[], size: number, len: number, ms: number): Promise<number> {
  let x = 0x9e3779b9;
  const rnd = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  return batchOps(async () => {
    const h = hashes[Math.floor(rnd() * hashes.length)]!;
    const off = Math.floor(rnd() * (size - len));
    for await (const _ of await store.read(h, off, len)) void _;
  }, ms);
}

/**
 * What ingest does per segment, without the store: BLAKE3 and SHA-256 of a 1 MB segment, then an Ed25519 signature
 * over a manifest-sized statement. Segments per second.
 */
export async function hashSignPerSec(ms: number): Promise<number> {
  const segment = randomBytes(1_000_000);
  const secret = randomBytes(32);
  let version = 0;
  return batchOps(async () => {
    const b3 = blake3(segment);
    const sha = new Uint8Array(await crypto.subtle.digest("SHA-256", segment));
    signStatement("MANIFEST_ROOT", { stream: "bench", version: version++, blake3: Array.from(b3), sha256: Array.from(sha) }, secret);
  }, ms);
}

/**
 * Sequential writes in 1 MiB pieces to a new file in `dir` until `bytes` are written or `maxMs` have passed (a slow
 * card stops early), fsync'd at the end; MB/s. The file is removed.
 */
export function diskWriteMBps(dir: string, bytes: number, maxMs = 5000): number {
  const path = join(dir, "disk-write.bin");
  const piece = randomBytes(MiB);
  const t0 = performance.now();
  const fd = openSync(path, "w", 0o600);
  let written = 0;
  let ms: number;
  try {
    while (written < bytes && (written < 8 * MiB || performance.now() - t0 < maxMs)) {
      written += writeSync(fd, piece, 0, Math.min(MiB, bytes - written));
    }
    fsyncSync(fd);
    ms = performance.now() - t0;
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
  return written / 1e6 / (ms / 1000);
}
