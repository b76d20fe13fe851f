// What cluster logic needs from the network, as plain interfaces; rpc/cluster-client.ts implements them over Connect.
import type { SignedMap } from "./map.ts";
import type { StripeRecord } from "./layout.ts";

/** A node shards can be fetched from. */
export interface Peer {
  nodeId: string;
  endpoint: string;
}

/** Shard reads between nodes (StorageService.FetchBlob underneath). Verification is the caller's job. */
export interface ShardFetcher {
  /** The whole shard's bytes; rejects when the peer fails, sends more or fewer than `size` bytes, or takes over `timeoutMs`. */
  fetch(peer: Peer, hash: string, size: number, signal?: AbortSignal, timeoutMs?: number): Promise<Uint8Array>;
  /** True when the peer proves it holds the shard: a Bao slice of a random small range verifies against `hash`. */
  probe(peer: Peer, hash: string, size: number, signal?: AbortSignal): Promise<boolean>;
}

/** What a registration is answered. */
export type RegisterAnswer =
  | { status: "ok"; epoch: number; wardens: string[] }
  | { status: "rate-limited"; retryAfterMs: number }
  | { status: "family-rejected"; reason: string };

/** What the miner reports about itself. */
export interface MinerReport {
  endpoint: string;
  family: string;
  totalBytes: number;
  availableBytes: number;
}

/** A rebalance pass's figures, as reported in heartbeats and cluster status. */
export interface RebalanceFigures {
  epoch: number;
  wanted: number;
  missing: number;
  pulled: number;
  failed: number;
  bytes: number;
  complete: boolean;
  orphans: number;
  gcDeleted: number;
}

/** The miner's link to its validator (signed peer calls). */
export interface ValidatorLink {
  register(report: MinerReport): Promise<RegisterAnswer>;
  heartbeat(hb: { availableBytes: number; epoch: number; shardsStored: number; rebalance: RebalanceFigures }): Promise<{ known: boolean; epoch: number; wardens: string[] }>;
  /** The signed map of an epoch (0: current). */
  map(epoch: number, signal?: AbortSignal): Promise<SignedMap>;
  /** The current map, then every newer one, until the signal aborts or the stream breaks. */
  watch(afterEpoch: number, signal: AbortSignal): AsyncIterable<SignedMap>;
  /** One page of the stripes stored in `pgs`. */
  pgStripes(pgs: number[], after: string, limit: number, signal?: AbortSignal): Promise<{ stripes: StripeRecord[]; next: string }>;
}
