// The cluster components: the validator role and the miner role, built from the `cluster.*` config and wired here.
import { statfsSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/schema.ts";
import { registerMinerMetrics, registerValidatorMetrics, registerWardenMetrics } from "../cluster/metrics.ts";
import { ShardKeeper, SHARD_TAG } from "../cluster/keeper.ts";
import { MinerShards } from "../cluster/miner.ts";
import { Rebalancer } from "../cluster/rebalance.ts";
import { Registrar, type Membership } from "../cluster/registration.ts";
import { ShardIndex } from "../cluster/shards.ts";
import { MinerStats, ValidatorStats } from "../cluster/stats.ts";
import { PlacementCache } from "../cluster/table.ts";
import { MapHolder, type ClusterView } from "../cluster/view.ts";
import { PeerClients, validatorLink } from "../rpc/cluster-client.ts";
import { posChallenger } from "../rpc/proofs.ts";
import { Warden, type Holding } from "../proofs/warden.ts";
import { clusterRpcError, minerService } from "../rpc/cluster-miner.ts";
import { validatorRpcError, validatorService } from "../rpc/validator.ts";
import { openLmdb } from "../store/lmdb-native.ts";
import type { BlobStore } from "../store/types.ts";
import { Validator } from "../validator/validator.ts";
import type { Component, NodeBase } from "./node.ts";

/** A cluster config problem found at start (the message names the key). */
export class ClusterConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ClusterConfigError";
  }
}

/** `cluster.validator` ("<node id>@<URL>") split. */
export function parseValidator(spec: string): { nodeId: string; endpoint: string } {
  const at = spec.indexOf("@");
  const nodeId = spec.slice(0, at);
  const endpoint = spec.slice(at + 1).replace(/\/+$/, "");
  if (at < 0 || !/^[0-9a-f]{64}$/.test(nodeId) || !/^https?:\/\//.test(endpoint)) {
    throw new ClusterConfigError(`cluster.validator must be <node id>@<URL> (e.g. <64 hex>@http://10.0.0.2:8080), got "${spec}"`);
  }
  return { nodeId, endpoint };
}

/** The validator role: registry, epochs, placement, gateway, warden; provides the Validator, its ClusterView, the Warden. */
export async function validatorComponent(base: NodeBase): Promise<Component & { validator: Validator; view: ClusterView; warden: Warden }> {
  const { config, log, readiness } = base;
  readiness.register("cluster", { required: true, detail: "opening the registry" });
  const root = await openLmdb({ path: join(base.dataDir, "db"), compression: false });
  const stats = new ValidatorStats();
  const peers = new PeerClients(base.identity);
  const validator = await Validator.open({
    nodeId: base.identity.nodeId,
    secretKey: base.identity.secretKey,
    root,
    settings: {
      params: {
        pgCount: config["cluster.pg_count"],
        dataShards: config["cluster.data_shards"],
        parityShards: config["cluster.parity_shards"],
        allowFamilyReuse: config["cluster.allow_family_reuse"],
      },
      families: config["cluster.families"],
      memberTimeoutMs: config["cluster.member_timeout"],
      epochHistory: config["cluster.epoch_history"],
      stripeSize: config["cluster.stripe_size"],
      maxFileSize: config["cluster.max_file_size"],
      pushConcurrency: config["cluster.push_concurrency"],
      pushRetries: config["cluster.push_retries"],
      maxBackoffMs: config["tuning.max_backoff"],
      lookback: config["cluster.epoch_lookback"],
      scan: config["cluster.rebalance_enabled"],
      tickMs: config["cluster.rebalance_tick"],
      // The validator's own warden and proofs.wardens are named in every map, so miners accept their challenges.
      wardens: [base.identity.nodeId, ...config["proofs.wardens"]],
    },
    link: peers,
    fetcher: peers,
    stats,
    log: log.child({ component: "validator" }),
  });
  // Members' signed calls keep their own replay-cache room.
  base.nonces.addPrivileged((id) => validator.registry.isMember(id));
  const ready = () => {
    const { map } = validator.registry.current();
    readiness.set("cluster", true, `validator, epoch ${map.epoch}, ${map.members.length} members in ${new Set(map.members.map((m) => m.family)).size} families`);
  };
  validator.registry.onEpoch(ready);
  ready();
  registerValidatorMetrics(base.metrics.registry, {
    stats,
    epoch: () => validator.registry.current().map.epoch,
    members: () => {
      const n = { up: 0, down: 0, faulty: 0 };
      for (const m of validator.registry.members()) n[m.state]++;
      return n;
    },
    underReplicated: () => validator.health.summary().underReplicated,
    files: () => validator.manifests.counts().files,
  });
  validator.start();
  const warden = validatorWarden(base, validator);
  registerWardenMetrics(base.metrics.registry, warden);
  return {
    name: "validator",
    validator,
    view: validator.view,
    warden,
    services: [validatorService(validator, { proofs: (id) => warden.miner(id) })],
    rpcErrors: [validatorRpcError, clusterRpcError],
    afterListen() {
      warden.start();
    },
    async stop() {
      readiness.set("cluster", false, "stopped");
      await warden.stop();
      await validator.stop();
    },
  };
}

/** Most (member, shard) pairs one warden round draws from. */
const MAX_HOLDINGS = 200_000;

/**
 * The validator's own warden (proofs.*): challenges (member, shard) pairs of the current placement in proportion to
 * their bytes (those a holder can be expected to have: see Validator.provable and proofs.settle_grace), and marks a
 * member that keeps failing faulty, so that the next epoch moves its shards away.
 */
function validatorWarden(base: NodeBase, validator: Validator): Warden {
  const { config } = base;
  return new Warden({
    self: base.identity.nodeId,
    holdings: async () => {
      const out: Holding[] = [];
      for await (const s of validator.provable(config["proofs.settle_grace"])) {
        out.push({ node: s.member, shard: s.hash, size: s.size });
        if (out.length >= MAX_HOLDINGS) break;
      }
      return out;
    },
    challenge: posChallenger(base.identity, (node) => validator.view.member(node)?.endpoint),
    markFaulty: (node, reason) => {
      validator.markFaulty(node, reason).catch((err) => base.log.warn({ err, node }, "could not mark a member faulty"));
    },
    intervalMs: config["proofs.challenge_interval"],
    deadlineMs: config["proofs.deadline"],
    maxFailures: config["proofs.max_failures"],
    windowMs: config["proofs.failure_window"],
    chunks: config["proofs.chunks"],
    perRound: config["proofs.challenges_per_round"],
    log: base.log.child({ component: "warden" }),
  });
}

/** Bytes a miner offers and has free: store.max_storage when set, else the data directory's file system. */
function capacity(config: Config, dataDir: string, store: BlobStore): { total: number; available: number } {
  const max = config["store.max_storage"];
  if (max > 0) return { total: max, available: Math.max(0, max - store.usage().bytesUsed) };
  const fs = statfsSync(dataDir);
  return { total: fs.blocks * fs.bsize, available: fs.bavail * fs.bsize };
}

/** What the miner needs from other components. */
export interface MinerNeeds {
  store: BlobStore;
}

/** The miner role: registers with cluster.validator, keeps the shards placed on it; provides its ClusterView. */
export async function minerComponent(base: NodeBase, needs: MinerNeeds): Promise<Component & { view: ClusterView }> {
  const { config, readiness, identity } = base;
  const log = base.log.child({ component: "miner" });
  const validator = parseValidator(config["cluster.validator"]);
  const endpoint = config["node.public_endpoint"].replace(/\/+$/, "");
  if (!endpoint) throw new ClusterConfigError("cluster.role miner needs node.public_endpoint: the URL the validator and other miners reach this node at");
  if (validator.nodeId === identity.nodeId) throw new ClusterConfigError("cluster.validator names this node itself; a miner needs another node as its validator");
  const family = config["cluster.family"] || identity.nodeId.slice(0, 16);
  readiness.register("cluster", { required: true, detail: "unregistered: starting" });
  const root = await openLmdb({ path: join(base.dataDir, "db"), compression: false });
  const index = new ShardIndex(root);
  const lookback = config["cluster.epoch_lookback"];
  const view = new MapHolder(validator.nodeId, lookback + 1, () => {
    void index.saveMaps(view.signedHistory()).catch((err) => log.warn({ err }, "could not save the cluster map"));
  });
  for (const signed of index.maps()) {
    try {
      view.offer(signed, { history: true });
    } catch {
      // A saved map that no longer verifies (another validator) is ignored.
    }
  }
  base.nonces.addPrivileged((id) => id === validator.nodeId || view.member(id) !== undefined || view.wardens().includes(id));
  const stats = new MinerStats();
  const peers = new PeerClients(identity);
  const link = validatorLink(identity, validator);
  const keeper = new ShardKeeper({ self: identity.nodeId, store: needs.store, index, fetcher: peers, stats, log });
  const rebalancer = new Rebalancer({
    self: identity.nodeId,
    view,
    link,
    keeper,
    index,
    store: needs.store,
    fetcher: peers,
    placement: new PlacementCache(),
    lookback,
    graceMs: config["cluster.orphan_grace"],
    concurrency: config["tuning.pull_concurrency"],
    stats,
    log,
  });
  const miner = new MinerShards({ keeper, view, log, stats, rebalance: () => rebalancer.trigger() });
  const show = (m: Membership) => {
    if (m.state === "registered") readiness.set("cluster", true, `registered, epoch ${view.epoch()}`);
    else if (m.state === "rejected") readiness.set("cluster", false, `unregistered: ${m.reason}`);
    else readiness.set("cluster", false, `unregistered: ${m.detail}`);
  };
  const registrar = new Registrar({
    link,
    view,
    report: () => {
      const c = capacity(config, base.dataDir, needs.store);
      return { endpoint, family, totalBytes: c.total, availableBytes: c.available };
    },
    heartbeat: () => ({ availableBytes: capacity(config, base.dataDir, needs.store).available, shardsStored: rebalancer.held(), rebalance: rebalancer.figures() }),
    retryMs: config["cluster.registration_retry"],
    maxBackoffMs: config["tuning.max_backoff"],
    heartbeatMs: config["cluster.heartbeat_interval"],
    stats,
    log,
    onChange: show,
  });
  view.subscribe(() => {
    show(registrar.membership);
    if (config["cluster.rebalance_enabled"]) rebalancer.trigger();
  });
  registerMinerMetrics(base.metrics.registry, { stats, epoch: () => view.epoch(), shardsStored: () => rebalancer.held(), orphans: () => rebalancer.figures().orphans });
  const stopping = new AbortController();
  const loops: Promise<void>[] = [];
  return {
    name: "miner",
    view,
    services: [minerService(miner, validator.nodeId)],
    rpcErrors: [clusterRpcError],
    afterListen() {
      log.info({ validator: validator.nodeId, endpoint, family, tag: SHARD_TAG }, "miner starting: registering with the validator");
      loops.push(registrar.run(stopping.signal).catch((err) => log.error({ err }, "registration loop stopped")));
      if (config["cluster.rebalance_enabled"]) loops.push(rebalancer.run(config["cluster.rebalance_tick"], stopping.signal).catch((err) => log.error({ err }, "rebalance loop stopped")));
    },
    async stop() {
      stopping.abort();
      readiness.set("cluster", false, "stopped");
      await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 5000))]);
    },
  };
}
