// The Blossom component: ownership tables in the node's LMDB environment, the Blossom routes on the public listener
// (paid through the node's gates), and the background SHA-256 migration of blobs stored before the index.
import { join } from "node:path";
import type { RootDatabase } from "lmdb";
import { BlossomOwners } from "../blossom/owners.ts";
import { BlossomService, type BlossomSettings } from "../blossom/service.ts";
import { blossomRoutes } from "../http/blossom.ts";
import type { ReadGate } from "../http/paygate.ts";
import type { Gate } from "../pay/gate.ts";
import { openLmdb } from "../store/lmdb-native.ts";
import { SHARD_TAG } from "../cluster/keeper.ts";
import { migrateSha256 } from "../store/sha256-index.ts";
import type { BlobStore } from "../store/types.ts";
import type { Config } from "../config/schema.ts";
import type { Component, NodeBase } from "./node.ts";

/** What the Blossom component needs from others. */
export interface BlossomNeeds {
  /** The blob store Blossom blobs live in (and whose blobs the migration indexes). */
  store: BlobStore;
  /** The pay gate (paid uploads, BUD-07); absent: uploads are never paid. */
  gate?: Gate;
  /** The read gate of blob bodies (the one /blobs uses); absent: reads are free. */
  readGate?: ReadGate;
}

/** The `blossom.*` keys (and whether paid uploads are on) as service settings. */
export function blossomSettings(config: Config, canPay: boolean): BlossomSettings {
  return {
    allowedPubkeys: config["blossom.allowed_pubkeys"],
    openUploads: config["blossom.open_uploads"],
    quota: { bytes: config["blossom.quota_per_pubkey"], blobs: config["blossom.max_blobs_per_pubkey"] },
    maxUploadSize: config["blossom.max_upload_size"],
    allowedTypes: config["blossom.allowed_types"],
    paidUploads: canPay && config["pay.enabled"] && config["pay.pricing.content_upload"] > 0,
  };
}

/** Builds the Blossom component; provides the service (when blossom.enabled). */
export async function blossomComponent(ctx: NodeBase, needs: BlossomNeeds): Promise<Component & { service?: BlossomService }> {
  const { config, log, readiness } = ctx;
  if (!needs?.store) throw new TypeError("the Blossom component needs the blob store");
  const enabled = config["blossom.enabled"];
  readiness.register("blossom", { required: false, detail: enabled ? "starting" : "off (blossom.enabled is false)" });

  // Blobs stored before the index get their SHA-256 in the background once the node serves; reads and uploads go on.
  const stopMigration = new AbortController();
  const serving = () => (enabled ? "serving Blossom (BUD-01/02/04/06/07/11/12)" : "off (blossom.enabled is false)");
  let migration: Promise<unknown> | undefined;
  const migrate = () =>
    migrateSha256(needs.store, {
      signal: stopMigration.signal,
      // Cluster shards are stored without a SHA-256 (nothing addresses them by one; they are not Blossom blobs).
      skip: (m) => m.tags.includes(SHARD_TAG),
      log,
      onProgress: (p) => readiness.set("blossom", false, `indexing blobs stored before the SHA-256 index: ${p.indexed + p.skipped}/${p.total}`),
    }).then(
      () => readiness.set("blossom", enabled, serving()),
      (err: unknown) => {
        if (!stopMigration.signal.aborted) log.error({ err }, "sha256 index: the migration stopped; it resumes at the next start");
        readiness.set("blossom", false, "sha256 index migration stopped");
      },
    );

  let root: RootDatabase | undefined;
  let service: BlossomService | undefined;
  if (enabled) {
    root = await openLmdb({ path: join(ctx.dataDir, "db"), compression: false });
    service = new BlossomService({ store: needs.store, owners: new BlossomOwners(root), settings: blossomSettings(config, needs.gate !== undefined) });
  }
  const endpoint = config["node.public_endpoint"];
  const publicUrl = config["blossom.public_url"] || (endpoint ? new URL(endpoint).origin : "");
  return {
    name: "blossom",
    ...(service ? { service } : {}),
    routes: service
      ? blossomRoutes({
          service,
          ...(needs.gate ? { gate: needs.gate } : {}),
          ...(needs.readGate ? { readGate: needs.readGate } : {}),
          publicUrl,
          mirror: { hosts: config["blossom.mirror_hosts"], timeoutMs: config["blossom.mirror_timeout"] },
        })
      : [],
    afterListen() {
      readiness.set("blossom", false, "indexing blobs stored before the SHA-256 index");
      migration = migrate();
    },
    async stop() {
      stopMigration.abort();
      await migration;
      readiness.set("blossom", false, "closed");
      await root?.close();
    },
  };
}
