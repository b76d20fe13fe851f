// What the validator needs from the network to drive miners, as a plain interface (rpc/cluster-client.ts implements it).
import type { ShardRef } from "../cluster/layout.ts";
import type { SignedMap } from "../cluster/map.ts";
import type { Peer } from "../cluster/net.ts";

/** Calls the validator makes on miners (signed; only the validator may make them). */
export interface MinerLink {
  /** Pushes one shard's bytes; resolves once the miner has verified and stored it. */
  push(miner: Peer, hash: string, bytes: Uint8Array, ref: ShardRef, signal?: AbortSignal, timeoutMs?: number): Promise<void>;
  /** Asks the miner to delete a shard; true when it did. */
  delete(miner: Peer, hash: string, reason: string, signal?: AbortSignal, timeoutMs?: number): Promise<boolean>;
  /** Which of the shards the miner holds (at most 4096 per call). */
  check(miner: Peer, hashes: string[], signal?: AbortSignal): Promise<boolean[]>;
  /** Hands the miner a new signed map. */
  sendMap(miner: Peer, map: SignedMap, signal?: AbortSignal, timeoutMs?: number): Promise<void>;
}
