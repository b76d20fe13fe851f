// The validator's member registry in LMDB: registration policy, heartbeats, liveness, faults, and signed epoch maps.
import type { Database, RootDatabase } from "lmdb";
import type { Logger } from "../node/logger.ts";
import { SIGNATURE_WINDOW_MS } from "../identity/request-signing.ts";
import { MAP_LIMITS, openSignedMap, signMap, type ClusterMap, type MapMember, type SignedMap } from "../cluster/map.ts";
import type { RebalanceFigures, RegisterAnswer } from "../cluster/net.ts";
import type { ValidatorStats } from "../cluster/stats.ts";
import { BadRequestError, ClusterParamsError, EpochNotKeptError, NotAllowedError, RegistryFullError } from "./errors.ts";

/** A registered member as stored. */
export interface MemberRecord {
  id: string;
  endpoint: string;
  family: string;
  totalBytes: number;
  availableBytes: number;
  /** First registration, Unix ms. */
  registered: number;
  state: "up" | "down" | "faulty";
  faults: number;
  faultReason: string;
  /** Marked faulty (by the warden): it stays faulty when it returns after being down. */
  markedFaulty?: boolean;
}

/** A member with what the validator knows live (heartbeats). */
export interface MemberStatus extends MemberRecord {
  lastHeartbeat: number;
  weight: number;
  shardsStored: number;
  rebalance: RebalanceFigures | undefined;
}

/** A warden list as maps carry it: node ids, sorted, without repeats; throws RangeError on anything else. */
function checkWardens(ids: readonly string[]): string[] {
  for (const id of ids) if (typeof id !== "string" || !/^[0-9a-f]{64}$/.test(id)) throw new RangeError("warden ids must be node ids (64 lowercase hex)");
  const out = [...new Set(ids)].sort();
  if (out.length > MAP_LIMITS.maxWardens) throw new RangeError(`at most ${MAP_LIMITS.maxWardens} wardens, got ${out.length}`);
  return out;
}

/** Placement parameters every map carries. */
export interface ClusterParams {
  pgCount: number;
  dataShards: number;
  parityShards: number;
  allowFamilyReuse: boolean;
}

/** What the registry needs. */
export interface RegistryOptions {
  nodeId: string;
  secretKey: Uint8Array;
  params: ClusterParams;
  /** cluster.families: allowed families; empty allows any. */
  families: readonly string[];
  memberTimeoutMs: number;
  epochHistory: number;
  /** Files are stored (the placement parameters may then not change). */
  hasFiles: () => boolean;
  stats: ValidatorStats;
  log: Logger;
  now?: () => number;
  /** Membership changes within this window share one new epoch. */
  coalesceMs?: number;
  /** The wardens to list in the map (e.g. the validator itself and proofs.wardens); a changed list begins a new epoch. */
  wardens?: readonly string[];
}

/** The registration fields a miner sends (its id is the request's signer). */
export interface Registration {
  nodeId: string;
  endpoint: string;
  family: string;
  totalBytes: number;
  availableBytes: number;
  timestamp: number;
}

/** Most members the registry takes. */
export const MAX_MEMBERS = 4096;
/** Registrations one id may make in a burst, and how fast its allowance refills. */
export const REGISTER_BURST = 4;
export const REGISTER_REFILL_MS = 2000;

const FAMILY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const ENDPOINT = /^https?:\/\/[^\s/]+(\/[^\s]*)?$/;
const GiB = 1024 ** 3;

/** Placement weight of a member offering `totalBytes`: 1 per GiB, at least 1, at most 65535. */
export function weightOf(totalBytes: number): number {
  return Math.max(1, Math.min(65_535, Math.round(totalBytes / GiB)));
}

/**
 * Members, liveness and epochs. A new epoch begins when membership changes (a join, a member going down, a member
 * marked faulty, wardens set); changes within `coalesceMs` share one. Every epoch's map is signed with the validator key
 * and the last `epochHistory` are kept.
 */
export class Registry {
  readonly #o: RegistryOptions;
  readonly #now: () => number;
  readonly #root: RootDatabase;
  readonly #members: Database<MemberRecord, string>;
  readonly #maps: Database<SignedMap, number>;
  readonly #state: Database<unknown, string>;
  readonly #cache = new Map<string, MemberRecord>();
  readonly #live = new Map<string, { lastHeartbeat: number; shardsStored: number; rebalance?: RebalanceFigures; settled?: number }>();
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #listeners = new Set<(map: ClusterMap, signed: SignedMap) => void>();
  #current!: { map: ClusterMap; signed: SignedMap };
  #wardens: string[] = [];
  #pending: NodeJS.Timeout | undefined;
  #building: Promise<void> = Promise.resolve();
  #sweeper: NodeJS.Timeout | undefined;

  private constructor(root: RootDatabase, o: RegistryOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#root = root;
    this.#members = root.openDB<MemberRecord, string>({ name: "cluster-members" });
    this.#maps = root.openDB<SignedMap, number>({ name: "cluster-maps" });
    this.#state = root.openDB<unknown, string>({ name: "cluster-state" });
  }

  /** Opens the registry in the node's LMDB environment; starts epoch 1 on first use. */
  static async open(root: RootDatabase, o: RegistryOptions): Promise<Registry> {
    const r = new Registry(root, o);
    await r.#load();
    return r;
  }

  async #load(): Promise<void> {
    const now = this.#now();
    for (const { key, value } of this.#members.getRange()) {
      this.#cache.set(key, value);
      // Every member gets a full timeout from the validator's start to heartbeat again.
      this.#live.set(key, { lastHeartbeat: now, shardsStored: 0 });
    }
    this.#wardens = (this.#state.get("wardens") as string[] | undefined) ?? [];
    let wardensChanged = false;
    if (this.#o.wardens) {
      const want = checkWardens(this.#o.wardens);
      wardensChanged = want.join() !== this.#wardens.join();
      if (wardensChanged) {
        this.#wardens = want;
        await this.#state.put("wardens", want);
      }
    }
    const epoch = (this.#state.get("epoch") as number | undefined) ?? 0;
    const stored = this.#state.get("params") as ClusterParams | undefined;
    const p = this.#o.params;
    const changed = stored && (stored.pgCount !== p.pgCount || stored.dataShards !== p.dataShards || stored.parityShards !== p.parityShards);
    if (changed && this.#o.hasFiles()) {
      throw new ClusterParamsError(
        `cluster.pg_count/data_shards/parity_shards are ${p.pgCount}/${p.dataShards}/${p.parityShards} but the stored files were placed with ` +
          `${stored.pgCount}/${stored.dataShards}/${stored.parityShards}; restore those settings (they cannot change while files are stored)`,
      );
    }
    const signed = epoch > 0 ? this.#maps.get(epoch) : undefined;
    if (signed && stored && !changed && !wardensChanged && stored.allowFamilyReuse === p.allowFamilyReuse) {
      this.#current = { map: openSignedMap(signed, this.#o.nodeId), signed };
      return;
    }
    await this.#state.put("params", p);
    this.#current = { map: this.#build(epoch), signed: { json: "", signature: "" } };
    await this.#commitEpoch(this.#build(epoch + 1));
  }

  /** Starts the liveness sweep. */
  start(): void {
    const every = Math.max(100, Math.min(1000, Math.floor(this.#o.memberTimeoutMs / 4)));
    this.#sweeper = setInterval(() => this.sweep(), every);
    this.#sweeper.unref();
  }

  /** Stops timers; waits for an epoch being built. */
  async stop(): Promise<void> {
    if (this.#sweeper) clearInterval(this.#sweeper);
    if (this.#pending) {
      clearTimeout(this.#pending);
      this.#pending = undefined;
      await this.#newEpoch();
    }
    await this.#building;
  }

  /** The current epoch's map and its signed form. */
  current(): { map: ClusterMap; signed: SignedMap } {
    return this.#current;
  }

  /** The signed map of a kept epoch; throws EpochNotKeptError. */
  signedAt(epoch: number): SignedMap {
    const s = this.#maps.get(epoch);
    if (!s) {
      const cur = this.#current.map.epoch;
      throw new EpochNotKeptError(epoch, Math.max(1, cur - this.#o.epochHistory + 1), cur);
    }
    return s;
  }

  /** Calls `fn` with each new epoch's map. */
  onEpoch(fn: (map: ClusterMap, signed: SignedMap) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** True for a registered member that is not down (it may heartbeat, query PGs, be pulled from). */
  isMember(id: string): boolean {
    const m = this.#cache.get(id);
    return m !== undefined && m.state !== "down";
  }

  /** A member's stored record. */
  record(id: string): MemberRecord | undefined {
    return this.#cache.get(id);
  }

  /** Every registered member with its live figures, by family then id. */
  members(): MemberStatus[] {
    return [...this.#cache.values()]
      .map((m) => {
        const l = this.#live.get(m.id);
        return { ...m, lastHeartbeat: l?.lastHeartbeat ?? 0, weight: m.state === "faulty" ? 0 : weightOf(m.totalBytes), shardsStored: l?.shardsStored ?? 0, rebalance: l?.rebalance };
      })
      .sort((a, b) => (a.family === b.family ? (a.id < b.id ? -1 : 1) : a.family < b.family ? -1 : 1));
  }

  /** Current warden ids. */
  wardens(): string[] {
    return [...this.#wardens];
  }

  /** Replaces the warden list (listed in the next map and in heartbeat answers). */
  async setWardens(ids: string[]): Promise<void> {
    const want = checkWardens(ids);
    if (want.join() === this.#wardens.join()) return;
    this.#wardens = want;
    await this.#state.put("wardens", this.#wardens);
    this.#schedule();
  }

  /**
   * The newest epoch for which the member reported a complete rebalance pass (it then held every shard placed on it
   * in that epoch); 0 when it has not reported one since the validator started.
   */
  settledEpoch(id: string): number {
    return this.#live.get(id)?.settled ?? 0;
  }

  /** Spends one registration token of `id`; the wait until the next one when none is left. */
  #rateLimit(id: string, now: number): number {
    let b = this.#buckets.get(id);
    if (!b) {
      if (this.#buckets.size >= 65_536) this.#buckets.delete(this.#buckets.keys().next().value!);
      b = { tokens: REGISTER_BURST, at: now };
      this.#buckets.set(id, b);
    }
    b.tokens = Math.min(REGISTER_BURST, b.tokens + (now - b.at) / REGISTER_REFILL_MS);
    b.at = now;
    if (b.tokens < 1) return Math.ceil((1 - b.tokens) * REGISTER_REFILL_MS);
    b.tokens -= 1;
    return 0;
  }

  /**
   * Registers the signer. Checks the signed timestamp, the rate of registrations from this id, and the family policy
   * (allowed families; a member keeps its family). Joining, returning from down, or a changed endpoint or capacity
   * begins a new epoch.
   */
  async register(signer: string, r: Registration): Promise<RegisterAnswer> {
    const now = this.#now();
    if (r.nodeId !== signer) throw new NotAllowedError(`node_id ${r.nodeId.slice(0, 16)}… is not the request's signer ${signer.slice(0, 16)}…: a node registers only itself`);
    if (!Number.isSafeInteger(r.timestamp) || Math.abs(now - r.timestamp) > SIGNATURE_WINDOW_MS) {
      throw new BadRequestError("timestamp_unix_ms", `${r.timestamp} is more than ${SIGNATURE_WINDOW_MS / 1000} s from the validator's clock (${now})`);
    }
    if (typeof r.endpoint !== "string" || r.endpoint.length > 512 || !ENDPOINT.test(r.endpoint)) throw new BadRequestError("endpoint", "must be the miner's http(s) URL (node.public_endpoint)");
    if (!Number.isSafeInteger(r.totalBytes) || r.totalBytes < 1) throw new BadRequestError("total_bytes", "must be at least 1");
    if (!Number.isSafeInteger(r.availableBytes) || r.availableBytes < 0) throw new BadRequestError("available_bytes", "must be a non-negative integer");
    const wait = this.#rateLimit(signer, now);
    if (wait > 0) {
      this.#o.stats.registrations.rate_limited++;
      return { status: "rate-limited", retryAfterMs: wait };
    }
    const old = this.#cache.get(signer);
    const rejected = (reason: string): RegisterAnswer => {
      this.#o.stats.registrations.family_rejected++;
      this.#o.log.warn({ node: signer, family: r.family, reason }, "registration refused by the family policy");
      return { status: "family-rejected", reason };
    };
    if (!FAMILY.test(r.family)) return rejected(`"${r.family.slice(0, 80)}" is not a family name (1-64 letters, digits, '.', '_', '-')`);
    if (this.#o.families.length > 0 && !this.#o.families.includes(r.family)) return rejected(`family "${r.family}" is not one of cluster.families (${this.#o.families.join(", ")})`);
    if (old && old.family !== r.family) return rejected(`node is registered in family "${old.family}"; a member cannot change family`);
    if (!old && this.#cache.size >= MAX_MEMBERS) throw new RegistryFullError(MAX_MEMBERS);

    const next: MemberRecord = {
      id: signer,
      endpoint: r.endpoint,
      family: r.family,
      totalBytes: r.totalBytes,
      availableBytes: r.availableBytes,
      registered: old?.registered ?? now,
      // A member marked faulty stays faulty, also after it was down meanwhile (going silent clears nothing).
      state: old?.state === "faulty" || (old?.state === "down" && old.markedFaulty) ? "faulty" : "up",
      ...(old?.markedFaulty ? { markedFaulty: true } : {}),
      faults: old?.faults ?? 0,
      faultReason: old?.faultReason ?? "",
    };
    const changed = !old || old.state === "down" || old.endpoint !== next.endpoint || weightOf(old.totalBytes) !== weightOf(next.totalBytes);
    await this.#members.put(signer, next);
    this.#cache.set(signer, next);
    this.#live.set(signer, { ...this.#live.get(signer), lastHeartbeat: now, shardsStored: this.#live.get(signer)?.shardsStored ?? 0 });
    this.#o.stats.registrations.ok++;
    this.#o.log.info({ node: signer, family: r.family, endpoint: r.endpoint, rejoined: old?.state === "down", new_member: !old }, "member registered");
    if (changed) this.#schedule();
    return { status: "ok", epoch: this.#current.map.epoch, wardens: this.wardens() };
  }

  /** Records a heartbeat; `known` is false for ids that are not registered or are down (they must register again). */
  heartbeat(signer: string, hb: { availableBytes: number; shardsStored: number; rebalance?: RebalanceFigures }): { known: boolean; epoch: number; wardens: string[] } {
    const m = this.#cache.get(signer);
    const epoch = this.#current.map.epoch;
    if (!m || m.state === "down") return { known: false, epoch, wardens: this.wardens() };
    if (Number.isSafeInteger(hb.availableBytes) && hb.availableBytes >= 0) m.availableBytes = hb.availableBytes;
    // A complete pass is believed only for an epoch that exists (claiming one early would only invite challenges).
    let settled = this.#live.get(signer)?.settled ?? 0;
    const r = hb.rebalance;
    if (r?.complete && Number.isSafeInteger(r.epoch) && r.epoch > settled && r.epoch <= epoch) settled = r.epoch;
    this.#live.set(signer, { lastHeartbeat: this.#now(), shardsStored: hb.shardsStored, ...(r ? { rebalance: r } : {}), ...(settled ? { settled } : {}) });
    return { known: true, epoch, wardens: this.wardens() };
  }

  /** Any signed call from a live member shows it is alive (as a heartbeat does). */
  touch(id: string): void {
    const m = this.#cache.get(id);
    const l = this.#live.get(id);
    if (m && m.state !== "down" && l) l.lastHeartbeat = this.#now();
  }

  /** Marks members without a heartbeat for member_timeout as down (a new epoch follows). */
  sweep(): void {
    const now = this.#now();
    const gone: MemberRecord[] = [];
    for (const m of this.#cache.values()) {
      if (m.state === "down") continue;
      const last = this.#live.get(m.id)?.lastHeartbeat ?? 0;
      if (now - last > this.#o.memberTimeoutMs) gone.push(m);
    }
    if (gone.length === 0) return;
    for (const m of gone) {
      m.state = "down";
      void this.#members.put(m.id, m);
      this.#o.log.warn({ node: m.id, family: m.family, silent_ms: now - (this.#live.get(m.id)?.lastHeartbeat ?? 0) }, "member missed heartbeats for cluster.member_timeout: down");
    }
    this.#schedule();
  }

  /** Marks a member faulty: from the next epoch its weight is 0, so rebalancing moves its shards away. */
  async markFaulty(id: string, reason: string): Promise<void> {
    const m = this.#cache.get(id);
    if (!m) throw new BadRequestError("node_id", `${id} is not a registered member`);
    m.faultReason = reason.slice(0, 200) || "marked faulty";
    m.markedFaulty = true;
    if (m.state === "up") m.state = "faulty";
    await this.#members.put(id, m);
    this.#o.log.warn({ node: id, reason: m.faultReason }, "member marked faulty: its weight is 0 from the next epoch");
    this.#schedule();
  }

  /** Counts a fault (e.g. a corrupt shard) against a member. */
  addFault(id: string): number {
    const m = this.#cache.get(id);
    if (!m) return 0;
    m.faults++;
    void this.#members.put(id, m);
    return m.faults;
  }

  /** Waits until any scheduled epoch has been built (tests, shutdown). */
  async settle(): Promise<void> {
    if (this.#pending) {
      clearTimeout(this.#pending);
      this.#pending = undefined;
      await this.#newEpoch();
    }
    await this.#building;
  }

  #schedule(): void {
    if (this.#pending) return;
    this.#pending = setTimeout(() => {
      this.#pending = undefined;
      void this.#newEpoch();
    }, this.#o.coalesceMs ?? 200);
  }

  #newEpoch(): Promise<void> {
    this.#building = this.#building.then(() => this.#commitEpoch(this.#build(this.#current.map.epoch + 1))).catch((err) => {
      this.#o.log.error({ err }, "could not begin a new epoch");
    });
    return this.#building;
  }

  #build(epoch: number): ClusterMap {
    const members: MapMember[] = [...this.#cache.values()]
      .filter((m) => m.state !== "down")
      .map((m) => ({ id: m.id, endpoint: m.endpoint, family: m.family, weight: m.state === "faulty" ? 0 : weightOf(m.totalBytes), state: m.state === "faulty" ? "faulty" : "up" }) as MapMember)
      .sort((a, b) => (a.id < b.id ? -1 : 1));
    const p = this.#o.params;
    return {
      epoch,
      validator: this.#o.nodeId,
      pgCount: p.pgCount,
      dataShards: p.dataShards,
      parityShards: p.parityShards,
      allowFamilyReuse: p.allowFamilyReuse,
      members,
      wardens: this.wardens(),
      created: this.#now(),
    };
  }

  async #commitEpoch(map: ClusterMap): Promise<void> {
    const signed = signMap(map, this.#o.secretKey);
    const drop = map.epoch - this.#o.epochHistory;
    await this.#root.transaction(() => {
      this.#maps.put(map.epoch, signed);
      this.#state.put("epoch", map.epoch);
      for (const k of this.#maps.getKeys({ end: drop + 1 })) this.#maps.remove(k as number);
    });
    this.#current = { map, signed };
    this.#o.log.info({ epoch: map.epoch, members: map.members.length, families: new Set(map.members.map((m) => m.family)).size }, "new epoch");
    for (const l of this.#listeners) {
      try {
        l(map, signed);
      } catch (err) {
        this.#o.log.error({ err }, "epoch listener failed");
      }
    }
  }
}
