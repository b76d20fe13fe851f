// What a miner does when its validator calls it: store, delete, pull, take a new map, check shards. Inputs are bounded.
import type { Logger } from "../node/logger.ts";
import { isBlobId } from "../wasm/index.ts";
import { MAX_SHARD_SIZE, type ShardKeeper } from "./keeper.ts";
import type { ShardRef } from "./layout.ts";
import type { SignedMap } from "./map.ts";
import type { Peer } from "./net.ts";
import type { OfferResult } from "./view.ts";
import type { MapHolder } from "./view.ts";

/** Most sources one pull may name, and most hashes one check may carry. */
export const MAX_PULL_SOURCES = 16;
export const MAX_CHECK_HASHES = 4096;

const HEX64 = /^[0-9a-f]{64}$/;
const ENDPOINT = /^https?:\/\/[^\s/]+(\/[^\s]*)?$/;

function checkShard(hash: string, size: number): void {
  if (!isBlobId(hash)) throw new RangeError("shard hash must be 64 lowercase hex characters (BLAKE3)");
  if (!Number.isSafeInteger(size) || size < 1 || size > MAX_SHARD_SIZE) throw new RangeError(`shard size must be 1..${MAX_SHARD_SIZE} bytes, got ${size}`);
}

function checkRef(ref: ShardRef | undefined): void {
  if (!ref) return;
  if (!HEX64.test(ref.file)) throw new RangeError("ref.file_hash must be 64 lowercase hex characters");
  for (const [k, v] of [["stripe_index", ref.stripe], ["position", ref.position], ["pg", ref.pg]] as const) {
    if (!Number.isSafeInteger(v) || v < 0 || v > 0xffff_ffff) throw new RangeError(`ref.${k} must be a non-negative 32-bit integer`);
  }
  if (ref.position > 96) throw new RangeError("ref.position must be below 96");
}

function checkPeer(p: Peer): void {
  if (!HEX64.test(p.nodeId)) throw new RangeError("a source's node_id must be 64 lowercase hex characters");
  if (p.endpoint.length > 512 || !ENDPOINT.test(p.endpoint)) throw new RangeError(`source ${p.nodeId.slice(0, 12)}… has no valid http(s) endpoint`);
}

/** What the miner's handlers need. */
export interface MinerDeps {
  keeper: ShardKeeper;
  view: MapHolder;
  log: Logger;
  /** Asked for a rebalance pass (after a deletion of a corrupt copy, so it is rebuilt). */
  rebalance: () => void;
  stats: { shardsPushed: number; mapsRefused: number };
}

/** The miner side of MinerService. */
export class MinerShards {
  readonly #d: MinerDeps;

  constructor(deps: MinerDeps) {
    this.#d = deps;
  }

  /** Stores a pushed shard (`data`), or pulls it from `pullFrom`. */
  async store(h: { hash: string; size: number; ref?: ShardRef; pullFrom?: Peer }, data: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<{ created: boolean }> {
    checkShard(h.hash, h.size);
    checkRef(h.ref);
    if (h.pullFrom) {
      checkPeer(h.pullFrom);
      for await (const piece of data) if (piece.byteLength > 0) throw new RangeError("Store with pull_from carries no data");
      return this.#d.keeper.pull([h.pullFrom], h.hash, h.size, h.ref, signal);
    }
    const r = await this.#d.keeper.keep(data, h.hash, h.size, h.ref, `cluster:${this.#d.view.validatorId}`, signal);
    this.#d.stats.shardsPushed++;
    return r;
  }

  /** Deletes a cluster shard (kept when pinned); a corrupt copy is rebuilt by the next rebalance pass. */
  async delete(hash: string, reason: string): Promise<boolean> {
    if (!isBlobId(hash)) throw new RangeError("shard hash must be 64 lowercase hex characters (BLAKE3)");
    const why = reason.slice(0, 200) || "validator request";
    const before = await this.#d.keeper.describe(hash);
    const deleted = await this.#d.keeper.drop(hash, why);
    this.#d.log.info({ shard: hash, reason: why, deleted, ...(deleted ? {} : { kept: before }) }, "validator asked to delete a shard");
    this.#d.rebalance();
    return deleted;
  }

  /** Pulls a shard from the first of `sources` that has it. */
  async pull(hash: string, size: number, sources: Peer[], ref: ShardRef | undefined, signal?: AbortSignal): Promise<{ source: string; created: boolean }> {
    checkShard(hash, size);
    checkRef(ref);
    if (sources.length === 0 || sources.length > MAX_PULL_SOURCES) throw new RangeError(`PullFromPeer needs 1..${MAX_PULL_SOURCES} sources`);
    sources.forEach(checkPeer);
    return this.#d.keeper.pull(sources, hash, size, ref, signal);
  }

  /** Applies a new map if it is the validator's and newer; throws MapError otherwise. */
  updateMap(signed: SignedMap): OfferResult {
    try {
      return this.#d.view.offer(signed);
    } catch (err) {
      this.#d.stats.mapsRefused++;
      throw err;
    }
  }

  /** Which of the shards are held. */
  async check(hashes: string[]): Promise<boolean[]> {
    if (hashes.length > MAX_CHECK_HASHES) throw new RangeError(`CheckShards takes at most ${MAX_CHECK_HASHES} hashes`);
    for (const h of hashes) if (!isBlobId(h)) throw new RangeError("every hash must be 64 lowercase hex characters");
    return Promise.all(hashes.map((h) => this.#d.keeper.has(h)));
  }
}
