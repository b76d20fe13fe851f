// The independent Reed-Solomon implementation the tests and the bench compare against: the Rust reed-solomon-erasure
// crate compiled to WASM (@subspace/reed-solomon-erasure.wasm), same matrix construction as ours.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { ReedSolomonErasure } from "@subspace/reed-solomon-erasure.wasm";

const require = createRequire(import.meta.url);
const PKG = "@subspace/reed-solomon-erasure.wasm";
const { ReedSolomonErasure: Oracle } = require(PKG) as { ReedSolomonErasure: typeof ReedSolomonErasure };
const OK = Oracle.RESULT_OK;

let bytes: Uint8Array<ArrayBuffer> | null = null;
let oracle: ReedSolomonErasure | null = null;

/** A new instance of the oracle module (its reconstruct works once per instance). */
export function rsOracleFresh(): ReedSolomonErasure {
  bytes ??= readFileSync(join(dirname(require.resolve(PKG)), "reed_solomon_erasure_bg.wasm"));
  return Oracle.fromBytes(bytes);
}

/** The oracle instance used for encoding (one per process; its encode can be called any number of times). */
export function rsOracle(): ReedSolomonErasure {
  oracle ??= rsOracleFresh();
  return oracle;
}

/** The oracle's parity for `data` (k shards of one length): m new arrays. */
export function oracleParity(data: readonly Uint8Array[], m: number): Uint8Array[] {
  const k = data.length;
  const n = data[0]!.length;
  const all = new Uint8Array(n * (k + m));
  data.forEach((d, i) => all.set(d, i * n));
  const rc = rsOracle().encode(all, k, m);
  if (rc !== OK) throw new Error(`reed-solomon-erasure.wasm encode(k=${k}, m=${m}, len=${n}) failed with code ${rc}`);
  return Array.from({ length: m }, (_, i) => all.slice((k + i) * n, (k + i + 1) * n));
}

/** The oracle's data shards rebuilt from `shards` (null = missing; parity not rebuilt). */
export function oracleReconstructData(shards: ReadonlyArray<Uint8Array | null>, k: number): Uint8Array[] {
  const m = shards.length - k;
  const n = shards.find((s) => s)!.length;
  const all = new Uint8Array(n * (k + m));
  shards.forEach((s, i) => s && all.set(s, i * n));
  // Version 0.2.5's reconstruct leaves its allocator broken (later calls fail or trap), so each call gets a fresh instance.
  const rc = rsOracleFresh().reconstruct(all, k, m, shards.map((s) => s !== null));
  if (rc !== OK) throw new Error(`reed-solomon-erasure.wasm reconstruct(k=${k}, m=${m}) failed with code ${rc}`);
  return Array.from({ length: k }, (_, i) => all.slice(i * n, (i + 1) * n));
}
