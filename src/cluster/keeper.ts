// A miner's shard keeping: store pushed shards, pull from peers, rebuild from k others — every byte verified first.
import { NotFoundError, PinnedError } from "../store/errors.ts";
import type { BlobMeta, BlobStore } from "../store/types.ts";
import type { Logger } from "../node/logger.ts";
import { blake3Hex } from "../wasm/index.ts";
import { sleep } from "./backoff.ts";
import { ShardNotHeldError, ShardUnavailableError } from "./errors.ts";
import { rebuildShard, type ShardRef, type StripeRecord } from "./layout.ts";
import type { Peer, ShardFetcher } from "./net.ts";
import type { ShardIndex } from "./shards.ts";
import type { MinerStats } from "./stats.ts";

/** The tag every shard a miner keeps for the cluster carries (orphan GC only ever removes tagged blobs). */
export const SHARD_TAG = "cluster-shard";

/**
 * The tag of a pin the cluster holds: a shard placed on the miner is pinned (so the store's GC of unpinned blobs never
 * takes it) and carries this tag; when it becomes an orphan the cluster releases its pin. A pin without this tag is
 * the operator's, and orphan GC keeps such a shard.
 */
export const PIN_TAG = "cluster-pin";

/** Largest shard a miner accepts (a 64 MiB stripe with k = 1). */
export const MAX_SHARD_SIZE = 64 * 1024 * 1024;

/** Longest one shard fetch from a peer may take. */
const FETCH_TIMEOUT_MS = 60_000;

/** What the keeper needs. */
export interface KeeperDeps {
  self: string;
  store: BlobStore;
  index: ShardIndex;
  fetcher: ShardFetcher;
  stats: MinerStats;
  log: Logger;
}

/** Pause before the one retry of a fetch that failed for another reason than the peer not holding the shard. */
const RETRY_MS = 250;

/**
 * A shard's bytes from one peer, asked once more after a short pause when the first try failed for a reason that may
 * pass (a reset connection, a busy peer); a peer that does not hold the shard is not asked again.
 */
export async function fetchShard(fetcher: ShardFetcher, peer: Peer, hash: string, size: number, signal: AbortSignal | undefined, timeoutMs: number): Promise<Uint8Array> {
  try {
    return await fetcher.fetch(peer, hash, size, signal, timeoutMs);
  } catch (err) {
    if (err instanceof ShardNotHeldError || signal?.aborted) throw err;
    await sleep(RETRY_MS, signal);
    return fetcher.fetch(peer, hash, size, signal, timeoutMs);
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Stores, pulls, rebuilds and drops cluster shards in the node's blob store. */
export class ShardKeeper {
  readonly #d: KeeperDeps;

  constructor(deps: KeeperDeps) {
    this.#d = deps;
  }

  /** True when the shard is held. */
  has(hash: string): Promise<boolean> {
    return this.#d.store.has(hash);
  }

  /**
   * Stores a shard from a stream or bytes; the store checks the bytes against `hash` and `size` before anything is
   * visible (a mismatch stores nothing). Records `ref`. No SHA-256 is computed for it (a blob the node already held
   * keeps its own).
   */
  keep(source: AsyncIterable<Uint8Array> | Uint8Array, hash: string, size: number, ref: ShardRef | undefined, origin: string, signal?: AbortSignal): Promise<{ created: boolean }> {
    return this.#serial(hash, async () => {
      // A blob the operator pinned already keeps the operator's pin; otherwise the cluster pins it.
      const before = await this.#meta(hash);
      const operators = before !== undefined && before.pinned && !before.tags.includes(PIN_TAG);
      const r = await this.#d.store.import(source instanceof Uint8Array ? [source] : source, {
        expectedHash: hash,
        size,
        tags: operators ? [SHARD_TAG] : [SHARD_TAG, PIN_TAG],
        pin: !operators,
        source: origin,
        // Shards are named and checked by BLAKE3 alone: nothing looks one up by SHA-256 (they are not Blossom blobs).
        sha256: false,
        ...(signal ? { signal } : {}),
      });
      if (ref) await this.#d.index.addRef(ref, hash);
      return { created: r.created };
    });
  }

  async #meta(hash: string): Promise<BlobMeta | undefined> {
    // Most pushed shards are new: asking first spares building a NotFoundError (and its stack) for each of them.
    if (!(await this.#d.store.has(hash))) return undefined;
    try {
      return await this.#d.store.stat(hash);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  /** What the store holds under a shard hash ("not held", or whether it is pinned and how it is tagged), for logs. */
  async describe(hash: string): Promise<string> {
    const m = await this.#meta(hash);
    return m ? `${m.pinned ? "pinned" : "unpinned"}, tags ${m.tags.join(",") || "none"}` : "not held";
  }

  /**
   * Runs changes of one shard's pin and presence one at a time (a rebalance pass re-pinning a placed shard must not
   * slip between a deletion's release and its delete).
   */
  async #serial<T>(hash: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(hash) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.then(() => undefined, () => undefined);
    this.#locks.set(hash, tail);
    try {
      return await run;
    } finally {
      if (this.#locks.get(hash) === tail) this.#locks.delete(hash);
    }
  }

  readonly #locks = new Map<string, Promise<void>>();

  /** A held shard that is placed here (again): the cluster pins it unless someone else already did. */
  placed(hash: string): Promise<void> {
    return this.#serial(hash, async () => {
      const m = await this.#meta(hash);
      if (!m || m.pinned) return;
      await this.#d.store.pin(hash);
      await this.#tags(hash, [...m.tags.filter((t) => t !== PIN_TAG), SHARD_TAG, PIN_TAG]);
    });
  }

  /** A held shard that is no longer placed here: the cluster's pin (if it holds one) is released. */
  released(meta: BlobMeta): Promise<BlobMeta> {
    return this.#serial(meta.hash, () => this.#release(meta.hash));
  }

  async #release(hash: string): Promise<BlobMeta> {
    const meta = await this.#d.store.stat(hash);
    if (!meta.pinned || !meta.tags.includes(PIN_TAG)) return meta;
    await this.#d.store.unpin(hash);
    return this.#tags(hash, meta.tags.filter((t) => t !== PIN_TAG));
  }

  #tags(hash: string, tags: string[]): Promise<BlobMeta> {
    return this.#d.store.setTags(hash, [...new Set(tags)]);
  }

  /** A shard's verified bytes from the first peer that has it; throws ShardUnavailableError naming each failure. */
  async fetchVerified(peers: readonly Peer[], hash: string, size: number, signal?: AbortSignal): Promise<{ bytes: Uint8Array; peer: Peer }> {
    const tried: string[] = [];
    for (const peer of peers) {
      if (peer.nodeId === this.#d.self) continue;
      signal?.throwIfAborted();
      try {
        const bytes = await fetchShard(this.#d.fetcher, peer, hash, size, signal, FETCH_TIMEOUT_MS);
        const got = blake3Hex(bytes);
        if (got !== hash) {
          tried.push(`${peer.nodeId.slice(0, 12)}: sent bytes hashing to ${got.slice(0, 16)}…`);
          continue;
        }
        return { bytes, peer };
      } catch (err) {
        if (signal?.aborted) throw err;
        tried.push(`${peer.nodeId.slice(0, 12)}: ${describe(err)}`);
      }
    }
    throw new ShardUnavailableError(hash, tried);
  }

  /** Pulls a shard from the first of `peers` that has it (skipping the fetch when it is already held) and stores it. */
  async pull(peers: readonly Peer[], hash: string, size: number, ref: ShardRef | undefined, signal?: AbortSignal): Promise<{ source: string; created: boolean }> {
    if (await this.has(hash)) {
      await this.#tagHeld(hash, ref);
      return { source: "", created: false };
    }
    const { bytes, peer } = await this.fetchVerified(peers, hash, size, signal);
    const r = await this.keep(bytes, hash, size, ref, `peer:${peer.nodeId}`, signal);
    this.#d.stats.shardsPulled++;
    this.#d.stats.rebalanceBytes += bytes.length;
    return { source: peer.nodeId, created: r.created };
  }

  /** Tags an already-held blob as a cluster shard (pinned by the cluster unless pinned already) and records its ref. */
  async #tagHeld(hash: string, ref: ShardRef | undefined): Promise<void> {
    const meta = await this.#d.store.stat(hash);
    if (!meta.tags.includes(SHARD_TAG)) await this.#tags(hash, [...meta.tags, SHARD_TAG]);
    await this.placed(hash);
    if (ref) await this.#d.index.addRef(ref, hash);
  }

  /**
   * Rebuilds position `position` of a stripe from k other shards (each fetched from the first candidate that has it
   * and verified against its hash), checks the rebuilt shard's hash, and stores it.
   */
  async rebuild(stripe: StripeRecord, position: number, k: number, m: number, sourcesFor: (pos: number) => Peer[], signal?: AbortSignal): Promise<void> {
    const want = stripe.shards[position]!;
    const shards: (Uint8Array | null)[] = new Array(k + m).fill(null);
    const tried: string[] = [];
    let have = 0;
    // Data shards first (cheapest to decode from), then parity; fetch k at a time until k verified arrived.
    const order = [...Array(k + m).keys()].filter((p) => p !== position);
    let next = 0;
    while (have < k && next < order.length) {
      const batch = order.slice(next, next + (k - have));
      next += batch.length;
      const results = await Promise.allSettled(batch.map((p) => this.fetchVerified(sourcesFor(p), stripe.shards[p]!, stripe.shardSize, signal)));
      results.forEach((r, i) => {
        const p = batch[i]!;
        if (r.status === "fulfilled") {
          shards[p] = r.value.bytes;
          have++;
        } else {
          tried.push(`position ${p}: ${describe(r.reason)}`);
        }
      });
    }
    signal?.throwIfAborted();
    if (have < k) throw new ShardUnavailableError(want, [`only ${have} of the ${k} shards needed to rebuild it could be read`, ...tried]);
    const rebuilt = rebuildShard(shards, k, m, position);
    const got = blake3Hex(rebuilt);
    if (got !== want) throw new ShardUnavailableError(want, [`rebuilt shard hashes to ${got}, not the manifest's hash`]);
    await this.keep(rebuilt, want, stripe.shardSize, { file: stripe.file, stripe: stripe.index, position, pg: stripe.pg }, "rebuilt", signal);
    this.#d.stats.shardsRebuilt++;
    this.#d.stats.rebalanceBytes += rebuilt.length * k;
  }

  /**
   * Deletes a cluster shard unless the operator pinned it (then it is kept and false returned); the cluster's own pin
   * is released first. Blobs that are not cluster shards are never deleted here.
   */
  drop(hash: string, reason: string): Promise<boolean> {
    return this.#serial(hash, async () => {
      let meta = await this.#meta(hash);
      if (!meta) {
        await this.#d.index.forget(hash);
        return false;
      }
      if (!meta.tags.includes(SHARD_TAG)) return false;
      meta = await this.#release(hash);
      if (meta.pinned) return false;
      try {
        const deleted = await this.#d.store.delete(hash);
        await this.#d.index.forget(hash);
        if (deleted) this.#d.log.info({ shard: hash, reason }, "deleted cluster shard");
        return deleted;
      } catch (err) {
        if (err instanceof PinnedError) return false;
        throw err;
      }
    });
  }
}
