// Self-rebalancing on a miner: pull (or rebuild) every shard placed on it, and delete orphans after their grace.
import type { Logger } from "../node/logger.ts";
import type { BlobMeta, BlobStore } from "../store/types.ts";
import { BusyError } from "../store/errors.ts";
import { ShardUnavailableError } from "./errors.ts";
import { PIN_TAG, SHARD_TAG, type ShardKeeper } from "./keeper.ts";
import type { StripeRecord } from "./layout.ts";
import type { ClusterMap } from "./map.ts";
import type { Peer, RebalanceFigures, ShardFetcher, ValidatorLink } from "./net.ts";
import type { ShardIndex } from "./shards.ts";
import type { MinerStats } from "./stats.ts";
import { placeOne, type PlacementCache, type PlacementTable } from "./table.ts";
import type { MapHolder } from "./view.ts";

/** PGs asked for per QueryPgFilesBatch call, and stripes per page. */
const PG_BATCH = 512;
const PAGE = 500;

/** What the rebalancer needs. */
export interface RebalancerDeps {
  self: string;
  view: MapHolder;
  link: ValidatorLink;
  keeper: ShardKeeper;
  index: ShardIndex;
  store: BlobStore;
  fetcher: ShardFetcher;
  placement: PlacementCache;
  /** cluster.epoch_lookback. */
  lookback: number;
  /** cluster.orphan_grace. */
  graceMs: number;
  /** tuning.pull_concurrency. */
  concurrency: number;
  stats: MinerStats;
  log: Logger;
  now?: () => number;
}

function emptyFigures(epoch: number, gcDeleted: number): RebalanceFigures {
  return { epoch, wanted: 0, missing: 0, pulled: 0, failed: 0, bytes: 0, complete: false, orphans: 0, gcDeleted };
}

/**
 * One pass: compute this miner's PGs in the current epoch, ask the validator which stripes live there, pull each placed
 * shard it lacks from its holders in this and up to `lookback` earlier epochs (or rebuild it from k others), at most
 * `concurrency` at a time; placed shards are pinned by the cluster. When the pass saw every PG, orphan GC runs: a
 * tagged shard placed nowhere on this miner loses the cluster's pin once its placed holders prove they hold it, and is
 * deleted `graceMs` later unless someone pinned it meanwhile (and only after the holders prove it again).
 */
export class Rebalancer {
  readonly #d: RebalancerDeps;
  readonly #now: () => number;
  #figures: RebalanceFigures;
  #again = false;
  #wake: (() => void) | undefined;
  #gcDeleted = 0;
  #held = 0;

  constructor(deps: RebalancerDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
    this.#figures = emptyFigures(0, 0);
  }

  /** The running or last pass's figures. */
  figures(): RebalanceFigures {
    return { ...this.#figures };
  }

  /** Cluster shards held, as counted by the last orphan scan. */
  held(): number {
    return this.#held;
  }

  /** Asks for a pass as soon as possible (e.g. a new epoch). */
  trigger(): void {
    this.#again = true;
    this.#wake?.();
  }

  /** Runs passes every `tickMs` and on triggers until `signal` aborts. */
  async run(tickMs: number, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      this.#again = false;
      try {
        await this.pass(signal);
      } catch (err) {
        if (signal.aborted) return;
        this.#d.log.warn({ err: err instanceof Error ? err.message : String(err) }, "rebalance pass failed");
      }
      if (this.#again) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, tickMs);
        function done() {
          clearTimeout(t);
          signal.removeEventListener("abort", done);
          resolve();
        }
        this.#wake = done;
        signal.addEventListener("abort", done, { once: true });
      });
      this.#wake = undefined;
    }
  }

  /** One rebalance pass (see the class comment); returns its figures. */
  async pass(signal?: AbortSignal): Promise<RebalanceFigures> {
    const d = this.#d;
    const map = d.view.current();
    if (!map) return this.figures();
    const table = await d.placement.get(map);
    if (table.error) {
      this.#figures = { ...emptyFigures(map.epoch, this.#gcDeleted), complete: false };
      d.log.warn({ epoch: map.epoch, err: table.error.message }, "cannot rebalance: placement impossible");
      return this.figures();
    }
    const fig = emptyFigures(map.epoch, this.#gcDeleted);
    this.#figures = fig;
    const kept = new Set<string>();
    const pool = new Pool(d.concurrency);
    const peersFor = new LookbackPeers(d, map);
    let seenAll = true;
    const mine = table.pgsOf(d.self);
    try {
      for (let i = 0; i < mine.length; i += PG_BATCH) {
        const pgs = mine.slice(i, i + PG_BATCH);
        let after = "";
        do {
          signal?.throwIfAborted();
          const page = await d.link.pgStripes(pgs, after, PAGE, signal);
          for (const s of page.stripes) {
            const holders = table.holders(s.pg);
            for (let pos = 0; pos < holders.length; pos++) {
              if (holders[pos] !== d.self) continue;
              const hash = s.shards[pos];
              if (!hash) continue;
              kept.add(hash.slice(0, 16));
              fig.wanted++;
              if (s.pending) continue;
              if (await d.keeper.has(hash)) {
                await d.keeper.placed(hash);
                await d.index.addRef({ file: s.file, stripe: s.index, position: pos, pg: s.pg }, hash);
                continue;
              }
              fig.missing++;
              await pool.add(() => this.#fetchOne(s, pos, map, table, peersFor, fig, signal));
            }
          }
          after = page.next;
        } while (after);
      }
    } catch (err) {
      if (signal?.aborted) throw err;
      seenAll = false;
      d.log.warn({ err: err instanceof Error ? err.message : String(err) }, "rebalance could not list its placement groups; orphan GC skipped this pass");
    }
    await pool.drain();
    fig.complete = seenAll && fig.failed === 0 && fig.pulled >= fig.missing;
    if (seenAll) await this.#gc(kept, table, fig, signal);
    fig.gcDeleted = this.#gcDeleted;
    if (fig.missing > 0 || fig.orphans > 0) d.log.info({ ...fig }, "rebalance pass finished");
    return this.figures();
  }

  async #fetchOne(s: StripeRecord, pos: number, map: ClusterMap, table: PlacementTable, peers: LookbackPeers, fig: RebalanceFigures, signal?: AbortSignal): Promise<void> {
    const d = this.#d;
    const hash = s.shards[pos]!;
    const ref = { file: s.file, stripe: s.index, position: pos, pg: s.pg };
    let release: () => void;
    try {
      release = await d.store.limits.pull.acquire(signal);
    } catch (err) {
      if (err instanceof BusyError) {
        fig.failed++;
        return;
      }
      throw err;
    }
    try {
      try {
        // Earlier holders of this very position first: a moved shard is copied, not rebuilt.
        await d.keeper.pull(await peers.earlier(s.pg, pos), hash, s.shardSize, ref, signal);
      } catch (err) {
        if (!(err instanceof ShardUnavailableError)) throw err;
        await d.keeper.rebuild(s, pos, map.dataShards, map.parityShards, (p) => peers.now(table, s.pg, p), signal);
      }
      fig.pulled++;
      fig.bytes += s.shardSize;
    } catch (err) {
      if (signal?.aborted) throw err;
      fig.failed++;
      d.stats.pullFailures++;
      d.log.warn({ shard: hash, file: s.file, stripe: s.index, position: pos, err: err instanceof Error ? err.message : String(err) }, "could not pull or rebuild a placed shard");
    } finally {
      release();
    }
  }

  async #gc(kept: Set<string>, table: PlacementTable, fig: RebalanceFigures, signal?: AbortSignal): Promise<void> {
    const d = this.#d;
    const now = this.#now();
    let after: string | undefined;
    const live = new LiveStripes(d.link);
    let held = 0;
    do {
      const page = await d.store.list({ ...(after ? { after } : {}), limit: 1000 });
      for (const meta of page.items) {
        signal?.throwIfAborted();
        if (!meta.tags.includes(SHARD_TAG)) continue;
        held++;
        if (kept.has(meta.hash.slice(0, 16))) {
          await d.index.clearOrphan(meta.hash);
          continue;
        }
        fig.orphans++;
        if (meta.pinned && meta.tags.includes(PIN_TAG)) {
          // Still pinned by the cluster: once the placed holders prove they hold it, this copy is redundant and the
          // pin goes (the grace counts from then, and only an operator's pin made from then on keeps it).
          if (await this.#copiesElsewhere(meta, table, live, signal)) {
            await d.keeper.released(meta);
            await d.index.restartOrphan(meta.hash, now);
          }
          continue;
        }
        const since = await d.index.orphanSince(meta.hash, now);
        if (now - since < d.graceMs || now - meta.created < d.graceMs) continue;
        if (meta.pinned) {
          d.stats.orphansPinned++;
          continue;
        }
        if (!(await this.#copiesElsewhere(meta, table, live, signal))) continue;
        if (await d.keeper.drop(meta.hash, "orphan: no longer placed on this miner")) {
          this.#gcDeleted++;
          d.stats.shardsGcd++;
          fig.orphans--;
          held--;
        }
      }
      after = page.next;
    } while (after);
    this.#held = held;
  }

  /** True when every live stripe position this shard fills has its placed holder proving it holds the shard. */
  async #copiesElsewhere(meta: BlobMeta, table: PlacementTable, live: LiveStripes, signal?: AbortSignal): Promise<boolean> {
    const d = this.#d;
    for (const ref of d.index.refsOf(meta.hash)) {
      const s = await live.get(ref.pg, ref.file, ref.stripe, signal);
      if (!s || s.shards[ref.position] !== meta.hash) continue; // the file is gone: no copy is needed for it
      const holder = table.holder(ref.pg, ref.position);
      if (holder === d.self) return false;
      const m = table.map.members.find((x) => x.id === holder);
      if (!m) return false;
      let ok = false;
      try {
        ok = await d.fetcher.probe({ nodeId: m.id, endpoint: m.endpoint }, meta.hash, meta.size, signal);
      } catch {
        ok = false;
      }
      if (!ok) return false;
    }
    return true;
  }
}

/** Stripes of a few PGs fetched from the validator once per GC run. */
class LiveStripes {
  readonly #link: ValidatorLink;
  readonly #pgs = new Map<number, Promise<Map<string, StripeRecord>>>();
  constructor(link: ValidatorLink) {
    this.#link = link;
  }
  async get(pg: number, file: string, stripe: number, signal?: AbortSignal): Promise<StripeRecord | undefined> {
    let p = this.#pgs.get(pg);
    if (!p) {
      p = (async () => {
        const out = new Map<string, StripeRecord>();
        let after = "";
        do {
          const page = await this.#link.pgStripes([pg], after, PAGE, signal);
          for (const s of page.stripes) out.set(`${s.file}:${s.index}`, s);
          after = page.next;
        } while (after);
        return out;
      })();
      this.#pgs.set(pg, p);
    }
    return (await p).get(`${file}:${stripe}`);
  }
}

/** Holders of a position in the current and earlier epochs (maps fetched from the validator and verified if missing). */
class LookbackPeers {
  readonly #d: RebalancerDeps;
  readonly #map: ClusterMap;
  #maps: Promise<ClusterMap[]> | undefined;
  readonly #placed = new Map<string, string[] | null>();

  constructor(d: RebalancerDeps, map: ClusterMap) {
    this.#d = d;
    this.#map = map;
  }

  /** Maps of the `lookback` epochs before the current one that can still be had, newest first. */
  #earlierMaps(): Promise<ClusterMap[]> {
    this.#maps ??= (async () => {
      const out: ClusterMap[] = [];
      for (let e = this.#map.epoch - 1; e >= 1 && e >= this.#map.epoch - this.#d.lookback; e--) {
        let m = this.#d.view.at(e);
        if (!m) {
          try {
            this.#d.view.offer(await this.#d.link.map(e), { history: true });
            m = this.#d.view.at(e);
          } catch {
            m = undefined;
          }
        }
        if (m) out.push(m);
      }
      return out;
    })();
    return this.#maps;
  }

  #holders(map: ClusterMap, pg: number): string[] | null {
    const key = `${map.epoch}:${pg}`;
    if (!this.#placed.has(key)) {
      let h: string[] | null;
      try {
        h = placeOne(map, pg);
      } catch {
        h = null;
      }
      this.#placed.set(key, h);
    }
    return this.#placed.get(key)!;
  }

  #peer(id: string, maps: ClusterMap[]): Peer | undefined {
    for (const m of maps) {
      const x = m.members.find((y) => y.id === id);
      if (x) return { nodeId: x.id, endpoint: x.endpoint };
    }
    return undefined;
  }

  /** Holders of `position` in earlier epochs (not this miner), newest first. */
  async earlier(pg: number, position: number): Promise<Peer[]> {
    const maps = await this.#earlierMaps();
    const out: Peer[] = [];
    const seen = new Set<string>([this.#d.self]);
    for (const m of maps) {
      const id = this.#holders(m, pg)?.[position];
      if (!id || seen.has(id)) continue;
      seen.add(id);
      const p = this.#peer(id, [this.#map, m]);
      if (p) out.push(p);
    }
    return out;
  }

  /** The current holder of `position`, then its earlier holders (synchronous: earlier maps are loaded by `earlier`). */
  now(table: PlacementTable, pg: number, position: number): Peer[] {
    const out: Peer[] = [];
    const cur = table.holder(pg, position);
    const p = cur === this.#d.self ? undefined : this.#peer(cur, [this.#map]);
    if (p) out.push(p);
    const seen = new Set<string>([this.#d.self, cur]);
    for (let e = this.#map.epoch - 1; e >= 1 && e >= this.#map.epoch - this.#d.lookback; e--) {
      const m = this.#d.view.at(e);
      if (!m) continue;
      const id = this.#holders(m, pg)?.[position];
      if (!id || seen.has(id)) continue;
      seen.add(id);
      const q = this.#peer(id, [this.#map, m]);
      if (q) out.push(q);
    }
    return out;
  }
}

/** A bounded set of concurrent tasks: `add` waits while `size` are running. */
class Pool {
  readonly #size: number;
  readonly #running = new Set<Promise<void>>();
  constructor(size: number) {
    this.#size = Math.max(1, size);
  }
  async add(task: () => Promise<void>): Promise<void> {
    while (this.#running.size >= this.#size) await Promise.race(this.#running);
    const p: Promise<void> = task().catch(() => undefined).finally(() => this.#running.delete(p));
    this.#running.add(p);
  }
  async drain(): Promise<void> {
    while (this.#running.size > 0) await Promise.race(this.#running);
  }
}
