// How a file is cut into stripes and each stripe into k data + m parity shards (Reed-Solomon from wasm/rs.ts).
import { ReedSolomon, splitStripe } from "../wasm/rs.ts";
import { blake3Hex } from "../wasm/index.ts";

/** One stripe of a file as manifests and placement see it. */
export interface StripeRecord {
  file: string;
  index: number;
  pg: number;
  /** Bytes of each shard. */
  shardSize: number;
  /** File bytes the stripe carries. */
  dataLength: number;
  /** BLAKE3 of each shard, data first. */
  shards: string[];
  /** True while its upload is in progress (not yet in a committed manifest). */
  pending?: boolean;
}

/** Where a shard sits: file, stripe, position and PG. */
export interface ShardRef {
  file: string;
  stripe: number;
  position: number;
  pg: number;
}

/** Number of stripes of a file of `size` bytes (0 for an empty file). */
export function stripeCount(size: number, stripeSize: number): number {
  return Math.ceil(size / stripeSize);
}

/** The stripes overlapping [offset, offset + length) of a file. */
export function stripesOfRange(offset: number, length: number, stripeSize: number): { first: number; last: number } {
  if (length <= 0) return { first: 0, last: -1 };
  return { first: Math.floor(offset / stripeSize), last: Math.floor((offset + length - 1) / stripeSize) };
}

const codecs = new Map<string, ReedSolomon>();

/** The Reed-Solomon codec for k + m (one instance per shape). */
export function codec(k: number, m: number): ReedSolomon {
  const key = `${k}+${m}`;
  let c = codecs.get(key);
  if (!c) {
    c = new ReedSolomon(k, m);
    codecs.set(key, c);
  }
  return c;
}

/**
 * Codes a stripe laid out as splitStripe lays it out (data shards first, each zero padded, then the parity shards, all
 * the same length): fills the parity in place and returns every shard's BLAKE3, data first.
 */
export function encodeShards(shards: Uint8Array[], k: number, m: number): string[] {
  codec(k, m).encode(shards);
  return shards.map((s) => blake3Hex(s));
}

/** The k + m shards of one stripe's bytes and their BLAKE3 hashes. */
export function encodeStripe(data: Uint8Array, k: number, m: number): { shards: Uint8Array[]; hashes: string[]; shardSize: number } {
  const shards = splitStripe(data, k, m);
  codec(k, m).encode(shards);
  return { shards, hashes: shards.map((s) => blake3Hex(s)), shardSize: shards[0]!.length };
}

/**
 * The stripe's file bytes from any k of its shards (null where missing). Missing data shards are rebuilt; when
 * `all` is set, missing parity too. Returns the data and the (now complete where rebuilt) shard list.
 */
export function decodeStripe(shards: (Uint8Array | null)[], k: number, m: number, dataLength: number): { data: Uint8Array; shards: (Uint8Array | null)[] } {
  if (shards.length !== k + m) throw new RangeError(`a stripe has ${k + m} shards, got ${shards.length}`);
  const have = shards.filter((s) => s !== null).length;
  if (have < k) throw new RangeError(`a stripe needs ${k} shards to rebuild, got ${have}`);
  let full = shards;
  if (shards.slice(0, k).some((s) => s === null)) {
    const copy = [...shards];
    codec(k, m).reconstruct(copy);
    full = copy;
  }
  const size = full[0]!.length;
  const data = new Uint8Array(dataLength);
  for (let i = 0; i < k && i * size < dataLength; i++) data.set(full[i]!.subarray(0, Math.min(size, dataLength - i * size)), i * size);
  return { data, shards: full };
}

/** Rebuilds one shard (data or parity) of a stripe from any k others. */
export function rebuildShard(shards: (Uint8Array | null)[], k: number, m: number, position: number): Uint8Array {
  const copy = [...shards];
  copy[position] = null;
  codec(k, m).reconstruct(copy);
  const out = copy[position];
  if (!out) throw new Error(`Reed-Solomon did not rebuild position ${position}`);
  return out;
}
