// The store component: opens the LMDB blob store under <data_dir>/db and adds StorageService, /blobs, metrics, readiness.
import { join } from "node:path";
import { blobRoutes, storeHttpError } from "../http/blobs.ts";
import { blobPricedGate } from "../http/paygate.ts";
import { storageService, storeRpcError } from "../rpc/storage.ts";
import { LmdbBlobStore } from "../store/lmdb.ts";
import { registerStoreMetrics } from "../store/metrics.ts";
import type { Component, NodeBase } from "./node.ts";
import type { RpcService } from "../rpc/router.ts";
import { gateFetchBlob } from "../rpc/paygate.ts";
import type { PayGates } from "./pay.ts";

/** What the store component needs from others: the pay gates, when reads are sold. */
export interface StoreNeeds {
  gates?: PayGates;
}

/** StorageService with FetchBlob behind the RPC pay gate, when there is one. */
function gatedStorage(svc: RpcService, gates: PayGates | undefined, store: LmdbBlobStore): RpcService {
  if (!gates) return svc;
  return { ...svc, impl: gateFetchBlob(svc.impl as Parameters<typeof gateFetchBlob>[0], gates.rpc, store) };
}

/** Opens the blob store; provides it (`store`) and adds StorageService, /blobs, metrics and readiness. */
export async function storeComponent(ctx: NodeBase, needs: StoreNeeds = {}): Promise<Component & { store: LmdbBlobStore }> {
  const { config, readiness, log } = ctx;
  readiness.register("store", { required: true, detail: "opening" });
  const path = join(ctx.dataDir, "db");
  let store: LmdbBlobStore;
  try {
    store = await LmdbBlobStore.open({
      path,
      maxStorage: config["store.max_storage"],
      limits: {
        store: config["tuning.store_concurrency"],
        fetch: config["tuning.fetch_concurrency"],
        pull: config["tuning.pull_concurrency"],
        queueTimeoutMs: config["tuning.queue_timeout"],
      },
      cache: { maxBytes: config["store.cache_max_bytes"], maxBlob: config["store.cache_max_blob"] },
      gc: {
        intervalMs: config["store.gc_interval"],
        graceMs: config["store.gc_grace"],
        onRun: (r) => {
          const fields = { trigger: r.trigger, removed: r.removed, bytes: r.bytes, skipped: r.skipped, needed: r.needed, ms: r.ms };
          if (r.trigger === "space" && r.bytes < r.needed) log.warn(fields, "store gc: could not free the space an import needed (the rest is pinned or in use)");
          else if (r.trigger === "space") log.debug(fields, "store gc: made room for an import");
          else log.info(fields, "store gc: removed unpinned blobs");
        },
        onError: (err) => log.warn({ err }, "store gc: a run or a write of read times failed; the next run retries"),
      },
    });
  } catch (err) {
    readiness.set("store", false, `cannot open ${path}: ${err instanceof Error ? err.message : String(err)}`);
    throw err;
  }
  if (store.swept.imports > 0) log.warn({ ...store.swept, path }, "removed unfinished imports left by an earlier crash");
  registerStoreMetrics(ctx.metrics.registry, store);
  // Computed on every read of the readiness, so `slowdrip status` shows today's figures, not those of start-up.
  readiness.set("store", true, () => {
    const u = store.usage();
    return `open: ${u.blobCount} blobs, ${u.bytesUsed} bytes${u.maxBytes ? ` of ${u.maxBytes}` : ""}`;
  });
  return {
    name: "store",
    store,
    services: [gatedStorage(storageService({ store, maxMessageSize: config["api.max_message_size"] }), needs.gates, store)],
    routes: blobRoutes({
      store,
      adminToken: () => ctx.adminToken,
      // Live segments read by hash are sold at the live-view price, as through /live/.
      ...(needs.gates ? { gate: blobPricedGate(needs.gates.http, (hash) => store.stat(hash).catch(() => undefined)) } : {}),
    }),
    rpcErrors: [storeRpcError],
    httpErrors: [storeHttpError],
    storageTotals: () => {
      const x = store.usage();
      return { bytesUsed: x.bytesUsed, bytesMax: x.maxBytes, blobCount: x.blobCount };
    },
    async stop() {
      readiness.set("store", false, "closed");
      await store.close();
    },
  };
}
