// The validator role: registry and epochs, map distribution, gateway uploads and reads, health, and the seams for
// storage proofs (markFaulty, shard enumeration, the ClusterView of its own map).
import type { RootDatabase } from "lmdb";
import type { Logger } from "../node/logger.ts";
import { backoffDelay, sleep } from "../cluster/backoff.ts";
import type { ClusterMap, SignedMap } from "../cluster/map.ts";
import type { Peer, RebalanceFigures, RegisterAnswer, ShardFetcher } from "../cluster/net.ts";
import type { StripeRecord } from "../cluster/layout.ts";
import type { ValidatorStats } from "../cluster/stats.ts";
import { PlacementCache, type PlacementTable } from "../cluster/table.ts";
import { MapHolder, type ClusterView } from "../cluster/view.ts";
import { Semaphore } from "../store/semaphore.ts";
import { isBlobId } from "../wasm/index.ts";
import { BadRequestError, FileNotFoundError, WatchersFullError } from "./errors.ts";
import { Health, type HealthSummary, type PlacedShard, type ShardState } from "./health.ts";
import { ManifestStore, type FileRecord } from "./manifests.ts";
import type { MinerLink } from "./net.ts";
import { FileReader, MAX_PROOF_RANGE } from "./reader.ts";
import { Registry, type ClusterParams, type MemberStatus, type Registration } from "./registry.ts";
import { Uploader, type UploadHeader, type UploadResult } from "./upload.ts";

/** Most WatchClusterMap streams open at once. */
export const MAX_WATCHERS = 1024;
/** Most PGs one QueryPgFilesBatch may name. */
export const MAX_QUERY_PGS = 4096;

/** Settings of the validator role (from the `cluster.*` config). */
export interface ValidatorSettings {
  params: ClusterParams;
  families: readonly string[];
  memberTimeoutMs: number;
  epochHistory: number;
  stripeSize: number;
  maxFileSize: number;
  pushConcurrency: number;
  pushRetries: number;
  maxBackoffMs: number;
  lookback: number;
  /** Scan for under-replicated stripes every tickMs. */
  scan: boolean;
  tickMs: number;
  /** Wardens listed in the map (the validator itself, proofs.wardens); absent: the stored list is kept. */
  wardens?: readonly string[];
}

/** What the validator needs. */
export interface ValidatorDeps {
  nodeId: string;
  secretKey: Uint8Array;
  root: RootDatabase;
  settings: ValidatorSettings;
  link: MinerLink;
  fetcher: ShardFetcher;
  stats: ValidatorStats;
  log: Logger;
}

/** What `GetClusterStatus` reports. */
export interface ClusterStatus {
  epoch: number;
  validatorId: string;
  pgCount: number;
  dataShards: number;
  parityShards: number;
  wardens: string[];
  members: (MemberStatus & { pgPositions: number })[];
  files: number;
  stripes: number;
  health: HealthSummary;
}

/** The validator. */
export class Validator {
  readonly registry: Registry;
  readonly manifests: ManifestStore;
  readonly health: Health;
  /** This validator's own verified view of its maps (the same interface miners' components use). */
  readonly view: ClusterView;
  readonly #d: ValidatorDeps;
  readonly #holder: MapHolder;
  readonly #placement = new PlacementCache();
  readonly #uploader: Uploader;
  readonly #reader: FileReader;
  readonly #calls = new Semaphore("validator-calls", 8, 3_600_000);
  #watchers = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #stopping = new AbortController();

  private constructor(d: ValidatorDeps, registry: Registry, manifests: ManifestStore) {
    this.#d = d;
    this.registry = registry;
    this.manifests = manifests;
    this.#holder = new MapHolder(d.nodeId, d.settings.epochHistory);
    this.view = this.#holder;
    this.#holder.offer(registry.current().signed);
    registry.onEpoch((map, signed) => {
      this.#holder.offer(signed);
      void this.#placement.get(map);
      void this.#distribute(signed, map.members.map((m) => ({ nodeId: m.id, endpoint: m.endpoint })));
    });
    this.health = new Health({ manifests, registry, placement: this.#placement, link: d.link, log: d.log });
    const s = d.settings;
    this.#uploader = new Uploader({
      manifests,
      registry,
      placement: this.#placement,
      link: d.link,
      stripeSize: s.stripeSize,
      maxFileSize: s.maxFileSize,
      pushConcurrency: s.pushConcurrency,
      pushRetries: s.pushRetries,
      maxBackoffMs: s.maxBackoffMs,
      stats: d.stats,
      log: d.log,
      onCommitted: (f, unacked) => this.health.noteCommitted(f, unacked),
    });
    this.#reader = new FileReader({
      manifests,
      registry,
      placement: this.#placement,
      fetcher: d.fetcher,
      lookback: Math.max(s.lookback, s.epochHistory - 1),
      stats: d.stats,
      log: d.log,
      onCorrupt: (c) => this.#corrupt(c.member, c.hash, c),
    });
  }

  /** Opens the registry and manifests in the node's LMDB environment. */
  static async open(d: ValidatorDeps): Promise<Validator> {
    const manifests = await ManifestStore.open(d.root);
    const registry = await Registry.open(d.root, {
      nodeId: d.nodeId,
      secretKey: d.secretKey,
      params: d.settings.params,
      families: d.settings.families,
      memberTimeoutMs: d.settings.memberTimeoutMs,
      epochHistory: d.settings.epochHistory,
      hasFiles: () => manifests.counts().files > 0,
      stats: d.stats,
      log: d.log,
      ...(d.settings.wardens ? { wardens: d.settings.wardens } : {}),
    });
    return new Validator(d, registry, manifests);
  }

  /** Starts the liveness sweep and the health scans. */
  start(): void {
    this.registry.start();
    if (this.#d.settings.scan) {
      this.#timer = setInterval(() => {
        if (!this.health.needsScan()) return;
        this.health.scan(this.#stopping.signal).catch((err) => this.#d.log.warn({ err: err instanceof Error ? err.message : String(err) }, "health scan failed"));
      }, this.#d.settings.tickMs);
      this.#timer.unref();
    }
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    if (this.#timer) clearInterval(this.#timer);
    await this.registry.stop();
  }

  /** Sends a new map to its members (best effort: they also learn it from heartbeats and WatchClusterMap). */
  async #distribute(signed: SignedMap, to: Peer[]): Promise<void> {
    await Promise.all(
      to.map((p) =>
        this.#calls
          .run(() => this.#d.link.sendMap(p, signed, undefined, 5000))
          .catch((err) => this.#d.log.debug({ miner: p.nodeId, err: err instanceof Error ? err.message : String(err) }, "could not push the new map")),
      ),
    );
  }

  #corrupt(member: Peer, hash: string, where: { file: string; stripe: number; position: number; got: string }): void {
    const faults = this.registry.addFault(member.nodeId);
    this.#d.stats.corruptShards++;
    this.health.markCorrupt(member.nodeId, hash);
    this.#d.log.warn({ miner: member.nodeId, shard: hash, got: where.got, file: where.file, stripe: where.stripe, position: where.position, faults }, "corrupt shard: failed verification on read; the miner's fault count rises");
    // Its copy is useless: have it dropped (a few tries), so that its next rebalance pass rebuilds it from the others.
    void (async () => {
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          if (await this.#calls.run(() => this.#d.link.delete(member, hash, "corrupt: failed verification on read", undefined, 10_000))) {
            this.health.clearCorrupt(member.nodeId, hash);
            return;
          }
        } catch (err) {
          if (attempt === 2) this.#d.log.warn({ miner: member.nodeId, shard: hash, err: err instanceof Error ? err.message : String(err) }, "could not ask the miner to drop a corrupt shard");
        }
        await sleep(backoffDelay(attempt, 500, 5000), this.#stopping.signal).catch(() => undefined);
        if (this.#stopping.signal.aborted) return;
      }
    })();
  }

  register(signer: string, r: Registration): Promise<RegisterAnswer> {
    return this.registry.register(signer, r);
  }

  heartbeat(signer: string, hb: { availableBytes: number; shardsStored: number; rebalance?: RebalanceFigures }): { known: boolean; epoch: number; wardens: string[] } {
    return this.registry.heartbeat(signer, hb);
  }

  /** The signed map of an epoch (0: current). */
  map(epoch: number): SignedMap {
    return epoch === 0 ? this.registry.current().signed : this.registry.signedAt(epoch);
  }

  /** The current map (if newer than `after`), then every new one, until `signal` aborts. */
  async *watch(after: number, signal: AbortSignal): AsyncGenerator<SignedMap> {
    if (this.#watchers >= MAX_WATCHERS) throw new WatchersFullError(MAX_WATCHERS);
    this.#watchers++;
    const queue: SignedMap[] = [];
    let wake: (() => void) | undefined;
    const off = this.registry.onEpoch((_m, signed) => {
      if (queue.length < 16) queue.push(signed);
      else queue.splice(0, queue.length, signed);
      wake?.();
    });
    const onAbort = () => wake?.();
    signal.addEventListener("abort", onAbort);
    this.#stopping.signal.addEventListener("abort", onAbort);
    try {
      const cur = this.registry.current();
      if (cur.map.epoch > after) yield cur.signed;
      while (!signal.aborted && !this.#stopping.signal.aborted) {
        if (queue.length === 0) {
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
          continue;
        }
        yield queue.shift()!;
      }
    } finally {
      off();
      signal.removeEventListener("abort", onAbort);
      this.#stopping.signal.removeEventListener("abort", onAbort);
      this.#watchers--;
    }
  }

  /** One page of the stripes in a set of PGs. */
  pgStripes(pgs: number[], after: string, limit: number): { stripes: StripeRecord[]; next: string; epoch: number } {
    if (pgs.length > MAX_QUERY_PGS) throw new BadRequestError("pgs", `at most ${MAX_QUERY_PGS} per call`);
    const max = this.registry.current().map.pgCount;
    for (const pg of pgs) if (!Number.isInteger(pg) || pg < 0 || pg >= max) throw new BadRequestError("pgs", `${pg} is not a PG (0..${max - 1})`);
    const lim = limit === 0 ? 500 : limit;
    if (lim < 1 || lim > 1000) throw new BadRequestError("limit", "must be 1..1000 (0 means 500)");
    return { ...this.manifests.pgStripes(pgs, after, lim), epoch: this.registry.current().map.epoch };
  }

  /** A committed manifest; throws FileNotFoundError. */
  manifest(hash: string): FileRecord {
    if (!isBlobId(hash)) throw new BadRequestError("hash", "must be 64 lowercase hex characters (BLAKE3)");
    const f = this.manifests.get(hash);
    if (!f) throw new FileNotFoundError(hash);
    return f;
  }

  /** Uploads a file (see Uploader). */
  put(header: UploadHeader, data: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<UploadResult> {
    return this.#uploader.put(header, data, signal);
  }

  /** The served range of a read (clamped to the file). */
  range(hash: string, offset: number, length: number | undefined): { file: FileRecord; offset: number; length: number } {
    const file = this.manifest(hash);
    return { file, ...FileReader.clamp(file, offset, length) };
  }

  /** Streams a range of a file. */
  read(hash: string, offset: number, length: number | undefined, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    return this.#reader.read(hash, offset, length, signal);
  }

  /** The Bao slice of a range (at most 16 MiB) against the file's hash. */
  slice(file: FileRecord, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    if (length > MAX_PROOF_RANGE) throw new BadRequestError("length", `a range with proof may be at most ${MAX_PROOF_RANGE} bytes`);
    return this.#reader.slice(file, offset, length, signal);
  }

  /** A file's stripes, holders and the state of each shard, checked with the holders now. */
  async stat(hash: string, signal?: AbortSignal): Promise<{ file: FileRecord; epoch: number; stripes: { holders: string[]; families: string[]; states: ShardState[] }[] }> {
    const file = this.manifest(hash);
    return { file, ...(await this.health.fileStatus(file, signal)) };
  }

  /** Removes a file's manifest, then asks its placed holders to delete the shards. */
  async delete(hash: string): Promise<{ deleted: boolean; shardsDeleted: number }> {
    if (!isBlobId(hash)) throw new BadRequestError("hash", "must be 64 lowercase hex characters (BLAKE3)");
    const f = await this.manifests.delete(hash);
    if (!f) return { deleted: false, shardsDeleted: 0 };
    this.#d.log.info({ file: hash, stripes: f.stripes.length }, "file deleted");
    const { map } = this.registry.current();
    const table = await this.#placement.get(map);
    let shardsDeleted = 0;
    if (!table.error) {
      const members = new Map(map.members.map((m) => [m.id, m]));
      await Promise.all(
        f.stripes.flatMap((s) =>
          table.holders(s.pg).map((h, p) => {
            const m = members.get(h)!;
            return this.#calls
              .run(() => this.#d.link.delete({ nodeId: m.id, endpoint: m.endpoint }, s.shards[p]!, "file deleted", undefined, 10_000))
              .then((ok) => void (ok && shardsDeleted++))
              .catch(() => undefined);
          }),
        ),
      );
    }
    return { deleted: true, shardsDeleted };
  }

  /** Epoch, members with placement spread, files, health. */
  async status(): Promise<ClusterStatus> {
    const { map } = this.registry.current();
    const table = await this.#placement.get(map);
    const spread = table.spread();
    const counts = this.manifests.counts();
    return {
      epoch: map.epoch,
      validatorId: this.#d.nodeId,
      pgCount: map.pgCount,
      dataShards: map.dataShards,
      parityShards: map.parityShards,
      wardens: map.wardens,
      members: this.registry.members().map((m) => ({ ...m, pgPositions: spread.get(m.id) ?? 0 })),
      files: counts.files,
      stripes: counts.stripes,
      health: this.health.summary(),
    };
  }

  /** Marks a member faulty: in the next epoch its weight is 0 and rebalancing moves its shards away. */
  markFaulty(nodeId: string, reason: string): Promise<void> {
    return this.registry.markFaulty(nodeId, reason);
  }

  /** Every committed shard with its placed holder now (optionally of one member): (member, shard hash, size, ...). */
  shards(member?: string): AsyncGenerator<PlacedShard> {
    return this.health.shards(member);
  }

  /**
   * The placed shards their holders can be expected to prove now (what a warden draws from): a holder is asked for a
   * shard only if it was that shard's placed holder already in the epoch of its last complete rebalance report, or in
   * the epoch that was current `graceMs` ago. A shard that just moved is thus not challenged before its new holder
   * has pulled it (or has had `graceMs` to), so honest miners are not failed for a rebalance in progress.
   */
  /** A kept epoch's map: from the view's history, else from the registry (verified into the history). */
  #mapAt(epoch: number): ClusterMap | undefined {
    let m = this.#holder.at(epoch);
    if (!m) {
      try {
        this.#holder.offer(this.registry.signedAt(epoch), { history: true });
        m = this.#holder.at(epoch);
      } catch {
        m = undefined;
      }
    }
    return m;
  }

  async *provable(graceMs: number, now = Date.now()): AsyncGenerator<PlacedShard> {
    const { map } = this.registry.current();
    const table = await this.#placement.get(map);
    if (table.error) return;
    // The epoch that was current graceMs ago (the newest kept one created by then).
    let past: number | undefined;
    for (let e = map.epoch; e >= 1 && e > map.epoch - this.#d.settings.epochHistory; e--) {
      const m = this.#mapAt(e);
      if (!m) break;
      if (m.created <= now - graceMs) {
        past = e;
        break;
      }
    }
    const tables = new Map<number, PlacementTable | null>([[map.epoch, table]]);
    const tableAt = async (epoch: number): Promise<PlacementTable | null> => {
      if (!tables.has(epoch)) {
        const m = this.#mapAt(epoch);
        const t = m ? await this.#placement.get(m) : undefined;
        tables.set(epoch, t && !t.error ? t : null);
      }
      return tables.get(epoch)!;
    };
    const refs = new Map<string, (PlacementTable | null)[]>();
    for await (const s of this.health.shards()) {
      let ts = refs.get(s.member);
      if (!ts) {
        const settled = this.registry.settledEpoch(s.member);
        ts = [settled > 0 ? await tableAt(settled) : null, past !== undefined ? await tableAt(past) : null];
        refs.set(s.member, ts);
      }
      if (ts.some((t) => t !== null && t.holder(s.pg, s.position) === s.member)) yield s;
    }
  }
}
