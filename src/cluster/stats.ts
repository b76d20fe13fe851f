// Counters of the cluster roles (plain numbers; node/cluster.ts exports them as Prometheus metrics at scrape time).

/** Counters kept by a miner. */
export class MinerStats {
  /** Registration attempts by answer: ok, rate_limited, family_rejected, error. */
  readonly registrations: Record<"ok" | "rate_limited" | "family_rejected" | "error", number> = { ok: 0, rate_limited: 0, family_rejected: 0, error: 0 };
  heartbeats = { ok: 0, unknown: 0, error: 0 };
  /** Shards received by push from the validator. */
  shardsPushed = 0;
  /** Shards pulled from a peer. */
  shardsPulled = 0;
  /** Shards rebuilt from k others. */
  shardsRebuilt = 0;
  /** Pulls and rebuilds that failed. */
  pullFailures = 0;
  /** Orphans deleted by GC. */
  shardsGcd = 0;
  /** Orphans kept past their grace because they are pinned. */
  orphansPinned = 0;
  /** Bytes pulled or rebuilt by rebalancing. */
  rebalanceBytes = 0;
  /** Maps refused (bad signature, other validator, stale, malformed). */
  mapsRefused = 0;
}

/** Counters kept by a validator. */
export class ValidatorStats {
  readonly registrations: Record<"ok" | "rate_limited" | "family_rejected", number> = { ok: 0, rate_limited: 0, family_rejected: 0 };
  /** Shard pushes by result. */
  readonly pushes = { ok: 0, retried: 0, failed: 0 };
  uploads = { ok: 0, failed: 0 };
  uploadBytes = 0;
  readBytes = 0;
  /** Shards that failed verification when read. */
  corruptShards = 0;
  /** Shards rebuilt while reading (missing or corrupt). */
  readRebuilds = 0;
}
