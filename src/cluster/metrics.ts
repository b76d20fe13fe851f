// Prometheus view of the cluster roles: members, epoch, under-replication, shards stored/pulled/GC'd, rebalance bytes,
// registrations by answer, the warden's challenges; values are read at scrape time.
import { Counter, Gauge, type Registry } from "prom-client";
import type { MinerStats, ValidatorStats } from "./stats.ts";

function counter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/** A counter with one label, its values read from a record at scrape time. */
function labeled(registry: Registry, name: string, help: string, label: string, read: () => Record<string, number>): void {
  new Counter({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      this.reset();
      for (const [v, n] of Object.entries(read())) this.inc({ [label]: v }, n);
    },
  });
}

function gauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

/** What a miner's metrics read. */
export interface MinerMetricsSource {
  stats: MinerStats;
  epoch: () => number;
  shardsStored: () => number;
  orphans: () => number;
}

/** Registers a miner's metrics. */
export function registerMinerMetrics(registry: Registry, s: MinerMetricsSource): void {
  gauge(registry, "slowdrip_cluster_epoch", "Epoch of the cluster map this node uses.", s.epoch);
  gauge(registry, "slowdrip_cluster_shards_stored", "Cluster shards this miner holds.", s.shardsStored);
  gauge(registry, "slowdrip_cluster_orphans", "Shards held that are no longer placed on this miner.", s.orphans);
  labeled(registry, "slowdrip_cluster_registrations_total", "Registration attempts by the validator's answer (ok, rate_limited, family_rejected, error).", "answer", () => s.stats.registrations);
  labeled(registry, "slowdrip_cluster_heartbeats_total", "Heartbeats by answer (ok, unknown, error).", "answer", () => s.stats.heartbeats);
  labeled(registry, "slowdrip_cluster_shards_received_total", "Shards stored by how they came (pushed by the validator, pulled from a peer, rebuilt from k others).", "how", () => ({
    pushed: s.stats.shardsPushed,
    pulled: s.stats.shardsPulled,
    rebuilt: s.stats.shardsRebuilt,
  }));
  counter(registry, "slowdrip_cluster_shards_pulled_total", "Shards pulled from peers or rebuilt by rebalancing.", () => s.stats.shardsPulled + s.stats.shardsRebuilt);
  counter(registry, "slowdrip_cluster_pull_failures_total", "Placed shards a rebalance pass could not pull or rebuild.", () => s.stats.pullFailures);
  counter(registry, "slowdrip_cluster_shards_gc_total", "Orphan shards deleted after cluster.orphan_grace.", () => s.stats.shardsGcd);
  counter(registry, "slowdrip_cluster_rebalance_bytes_total", "Bytes pulled or read to rebuild shards while rebalancing.", () => s.stats.rebalanceBytes);
  counter(registry, "slowdrip_cluster_maps_refused_total", "Cluster maps refused (bad signature, other validator, old epoch, malformed).", () => s.stats.mapsRefused);
}

/** What a validator's metrics read. */
export interface ValidatorMetricsSource {
  stats: ValidatorStats;
  epoch: () => number;
  members: () => Record<"up" | "down" | "faulty", number>;
  underReplicated: () => number;
  files: () => number;
}

/** Registers a validator's metrics. */
export function registerValidatorMetrics(registry: Registry, s: ValidatorMetricsSource): void {
  gauge(registry, "slowdrip_cluster_epoch", "Epoch of the cluster map this node uses.", s.epoch);
  new Gauge({
    name: "slowdrip_cluster_members",
    help: "Registered members by state (up, down, faulty).",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      for (const [state, n] of Object.entries(s.members())) this.set({ state }, n);
    },
  });
  gauge(registry, "slowdrip_cluster_under_replicated_stripes", "Stripes with fewer than k + m shards on live placed holders (last health scan).", s.underReplicated);
  gauge(registry, "slowdrip_cluster_files", "Committed files.", s.files);
  labeled(registry, "slowdrip_cluster_registrations_total", "Registrations answered, by answer (ok, rate_limited, family_rejected).", "answer", () => s.stats.registrations);
  labeled(registry, "slowdrip_cluster_pushes_total", "Shard pushes by result (ok, retried, failed).", "result", () => s.stats.pushes);
  counter(registry, "slowdrip_cluster_upload_bytes_total", "File bytes committed through PutFile.", () => s.stats.uploadBytes);
  counter(registry, "slowdrip_cluster_read_bytes_total", "File bytes served through GetFile.", () => s.stats.readBytes);
  counter(registry, "slowdrip_cluster_corrupt_shards_total", "Shards that failed verification when read (each raises the holder's fault count).", () => s.stats.corruptShards);
  counter(registry, "slowdrip_cluster_read_rebuilds_total", "Data shards rebuilt while reading (missing or corrupt).", () => s.stats.readRebuilds);
}

/** What the warden's metrics read (on the validator). */
export interface WardenMetricsSource {
  /** Challenges by result (pass, fail, timeout). */
  counts: Readonly<Record<string, number>>;
  /** Challenge rounds run. */
  rounds: number;
}

/** Registers the warden's metrics: challenges by result and rounds. */
export function registerWardenMetrics(registry: Registry, w: WardenMetricsSource): void {
  labeled(registry, "slowdrip_warden_challenges_total", "Storage challenges the warden sent, by result (pass, fail, timeout).", "result", () => ({ ...w.counts }));
  counter(registry, "slowdrip_warden_rounds_total", "Challenge rounds the warden ran (one per proofs.challenge_interval).", () => w.rounds);
}
