// Where every committed shard should be and whether it is there: under-replication scans, per-file health, and the
// (member, shard, size) enumeration that storage proofs build on.
import type { Logger } from "../node/logger.ts";
import type { StripeRecord } from "../cluster/layout.ts";
import type { Peer } from "../cluster/net.ts";
import type { PlacementCache, PlacementTable } from "../cluster/table.ts";
import type { FileRecord, ManifestStore } from "./manifests.ts";
import type { MinerLink } from "./net.ts";
import type { Registry } from "./registry.ts";

/** Shard positions checked per round of CheckShards calls, and hashes per call. */
const SCAN_BATCH = 8192;
const CHECK_PAGE = 4096;

/** The result of the last scan. */
export interface HealthSummary {
  epoch: number;
  /** Unix ms of the scan (0: none yet). */
  at: number;
  stripes: number;
  /** Stripes with fewer than k + m shards on their live placed holders. */
  underReplicated: number;
  /** Stripes with fewer than k. */
  unreadable: number;
  /** Shards missing from their placed holders. */
  missing: number;
}

/** What one placed shard looks like now. */
export type ShardState = "ok" | "missing" | "holder-down" | "corrupt";

/** One placed shard, as enumerated for proofs. */
export interface PlacedShard {
  member: string;
  hash: string;
  size: number;
  file: string;
  stripe: number;
  position: number;
  pg: number;
}

/** What the health tracker needs. */
export interface HealthDeps {
  manifests: ManifestStore;
  registry: Registry;
  placement: PlacementCache;
  link: MinerLink;
  log: Logger;
  now?: () => number;
}

/** Tracks shard health: scans, corrupt marks, per-file status. */
export class Health {
  readonly #d: HealthDeps;
  readonly #now: () => number;
  #summary: HealthSummary = { epoch: 0, at: 0, stripes: 0, underReplicated: 0, unreadable: 0, missing: 0 };
  readonly #corrupt = new Set<string>();
  #dirty = true;
  #scanning: Promise<HealthSummary> | undefined;

  constructor(deps: HealthDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
  }

  summary(): HealthSummary {
    return { ...this.#summary };
  }

  /** True when a scan would tell something new (epoch changed, shards missing, corruption, new under-replicated files). */
  needsScan(): boolean {
    return this.#dirty || this.#summary.epoch !== this.#d.registry.current().map.epoch || this.#summary.underReplicated > 0;
  }

  /** Records that a member's copy of a shard failed verification. */
  markCorrupt(member: string, hash: string): void {
    if (this.#corrupt.size < 65_536) this.#corrupt.add(`${member}:${hash}`);
    this.#dirty = true;
  }

  /** The member deleted its corrupt copy: a copy it holds from now on was verified when stored. */
  clearCorrupt(member: string, hash: string): void {
    this.#corrupt.delete(`${member}:${hash}`);
  }

  /** A file was committed; stripes whose pushes were not all acknowledged count as under-replicated until the next scan. */
  noteCommitted(f: FileRecord, unacked: number[][]): void {
    const under = unacked.filter((u) => u.length > 0).length;
    this.#summary = { ...this.#summary, stripes: this.#summary.stripes + f.stripes.length, underReplicated: this.#summary.underReplicated + under, missing: this.#summary.missing + unacked.reduce((n, u) => n + u.length, 0) };
    this.#dirty = true;
  }

  async #table(): Promise<PlacementTable> {
    return this.#d.placement.get(this.#d.registry.current().map);
  }

  /** Which of `wanted` (by holder) the holders have: a holder that cannot be asked has none. */
  async #presence(table: PlacementTable, wanted: Map<string, string[]>, signal?: AbortSignal): Promise<Map<string, Set<string> | null>> {
    const out = new Map<string, Set<string> | null>();
    await Promise.all(
      [...wanted].map(async ([holder, hashes]) => {
        const m = table.map.members.find((x) => x.id === holder);
        if (!m) {
          out.set(holder, null);
          return;
        }
        const peer: Peer = { nodeId: m.id, endpoint: m.endpoint };
        const have = new Set<string>();
        try {
          for (let i = 0; i < hashes.length; i += CHECK_PAGE) {
            const page = hashes.slice(i, i + CHECK_PAGE);
            const present = await this.#d.link.check(peer, page, signal);
            page.forEach((h, j) => present[j] && have.add(h));
          }
          out.set(holder, have);
        } catch {
          out.set(holder, null);
        }
      }),
    );
    return out;
  }

  #state(holder: string, hash: string, presence: Map<string, Set<string> | null>): ShardState {
    const have = presence.get(holder);
    if (have === null || have === undefined) return "holder-down";
    if (this.#corrupt.has(`${holder}:${hash}`)) return "corrupt";
    return have.has(hash) ? "ok" : "missing";
  }

  /** Asks every placed holder which of its shards it has; updates the summary. One scan at a time. */
  scan(signal?: AbortSignal): Promise<HealthSummary> {
    this.#scanning ??= this.#scan(signal).finally(() => (this.#scanning = undefined));
    return this.#scanning;
  }

  async #scan(signal?: AbortSignal): Promise<HealthSummary> {
    this.#dirty = false;
    const table = await this.#table();
    const epoch = table.map.epoch;
    const sum: HealthSummary = { epoch, at: 0, stripes: 0, underReplicated: 0, unreadable: 0, missing: 0 };
    let batch: StripeRecord[] = [];
    let positions = 0;
    const flush = async () => {
      const wanted = new Map<string, string[]>();
      const holders = batch.map((s) => (table.error ? [] : table.holders(s.pg)));
      batch.forEach((s, i) => holders[i]!.forEach((h, p) => (wanted.get(h) ?? wanted.set(h, []).get(h)!).push(s.shards[p]!)));
      const presence = await this.#presence(table, wanted, signal);
      batch.forEach((s, i) => {
        const k = table.map.dataShards;
        const ok = holders[i]!.filter((h, p) => this.#state(h, s.shards[p]!, presence) === "ok").length;
        const width = s.shards.length;
        sum.stripes++;
        sum.missing += width - ok;
        if (ok < width) sum.underReplicated++;
        if (ok < k) sum.unreadable++;
      });
      batch = [];
      positions = 0;
    };
    for (const s of this.#d.manifests.allStripes()) {
      batch.push(s);
      positions += s.shards.length;
      if (positions >= SCAN_BATCH) await flush();
    }
    if (batch.length) await flush();
    sum.at = this.#now();
    this.#summary = sum;
    if (sum.underReplicated > 0) this.#d.log.info({ ...sum }, "health scan: stripes under-replicated");
    return sum;
  }

  /** Placement and state of every shard of one file, checked with its holders now. */
  async fileStatus(f: FileRecord, signal?: AbortSignal): Promise<{ epoch: number; stripes: { holders: string[]; families: string[]; states: ShardState[] }[] }> {
    const table = await this.#table();
    if (table.error) throw table.error;
    const holders = f.stripes.map((s) => table.holders(s.pg));
    const wanted = new Map<string, string[]>();
    f.stripes.forEach((s, i) => holders[i]!.forEach((h, p) => (wanted.get(h) ?? wanted.set(h, []).get(h)!).push(s.shards[p]!)));
    const presence = await this.#presence(table, wanted, signal);
    const fam = new Map(table.map.members.map((m) => [m.id, m.family]));
    return {
      epoch: table.map.epoch,
      stripes: f.stripes.map((s, i) => ({
        holders: holders[i]!,
        families: holders[i]!.map((h) => fam.get(h) ?? ""),
        states: holders[i]!.map((h, p) => this.#state(h, s.shards[p]!, presence)),
      })),
    };
  }

  /**
   * Every committed shard with its placed holder in the current epoch (only those of `member` when given): the
   * (member, shard hash, size) list that storage challenges are drawn from.
   */
  async *shards(member?: string): AsyncGenerator<PlacedShard> {
    const table = await this.#table();
    if (table.error) return;
    for (const s of this.#d.manifests.allStripes()) {
      const holders = table.holders(s.pg);
      for (let p = 0; p < holders.length; p++) {
        if (member !== undefined && holders[p] !== member) continue;
        yield { member: holders[p]!, hash: s.shards[p]!, size: s.shardSize, file: s.file, stripe: s.index, position: p, pg: s.pg };
      }
    }
  }
}
