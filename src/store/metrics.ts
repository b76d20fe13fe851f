// Prometheus view of a blob store: totals, capacity, imports and reads by result, GC, cache and limit figures, read at scrape time.
import { Counter, Gauge, type Registry } from "prom-client";
import type { BlobStore } from "./types.ts";

/** Registers the store's metrics on `registry`; values are read from the store on every scrape. */
export function registerStoreMetrics(registry: Registry, store: BlobStore): void {
  if (!registry || typeof registry.registerMetric !== "function") throw new TypeError("registerStoreMetrics needs a prom-client Registry");
  const registers = [registry];
  new Gauge({
    name: "slowdrip_store_bytes_used",
    help: "Bytes of committed blob data.",
    registers,
    collect() {
      this.set(store.usage().bytesUsed);
    },
  });
  new Gauge({
    name: "slowdrip_store_blobs",
    help: "Committed blobs.",
    registers,
    collect() {
      this.set(store.usage().blobCount);
    },
  });
  new Gauge({
    name: "slowdrip_store_capacity_bytes",
    help: "store.max_storage; 0 means unlimited.",
    registers,
    collect() {
      this.set(store.usage().maxBytes);
    },
  });
  new Gauge({
    name: "slowdrip_store_reserved_bytes",
    help: "Bytes reserved by imports in progress.",
    registers,
    collect() {
      this.set(store.usage().reservedBytes);
    },
  });
  new Counter({
    name: "slowdrip_store_imports_total",
    help: "Blob imports by result (created, existing, mismatch, full, aborted, busy, error).",
    labelNames: ["result"],
    registers,
    collect() {
      this.reset();
      for (const [result, n] of Object.entries(store.stats().imports)) this.inc({ result }, n);
    },
  });
  new Counter({
    name: "slowdrip_store_reads_total",
    help: "Blob reads by result (ok, not_found, range, busy, error).",
    labelNames: ["result"],
    registers,
    collect() {
      this.reset();
      for (const [result, n] of Object.entries(store.stats().reads)) this.inc({ result }, n);
    },
  });
  new Counter({
    name: "slowdrip_store_bytes_imported_total",
    help: "Bytes received by imports.",
    registers,
    collect() {
      this.reset();
      this.inc(store.stats().bytesImported);
    },
  });
  new Counter({
    name: "slowdrip_store_bytes_read_total",
    help: "Bytes served by reads.",
    registers,
    collect() {
      this.reset();
      this.inc(store.stats().bytesRead);
    },
  });
  new Counter({
    name: "slowdrip_store_cache_hits_total",
    help: "Reads of small blobs served from the in-memory LRU.",
    registers,
    collect() {
      this.reset();
      this.inc(store.stats().cacheHits);
    },
  });
  new Counter({
    name: "slowdrip_store_cache_misses_total",
    help: "Reads of small blobs that had to load from storage.",
    registers,
    collect() {
      this.reset();
      this.inc(store.stats().cacheMisses);
    },
  });
  const gcCounter = (name: string, help: string, pick: (g: { runs: number; removed: number; bytes: number }) => number) =>
    new Counter({
      name,
      help,
      labelNames: ["trigger"],
      registers,
      collect() {
        this.reset();
        for (const [trigger, g] of Object.entries(store.stats().gc)) this.inc({ trigger }, pick(g));
      },
    });
  gcCounter("slowdrip_store_gc_runs_total", "Garbage collections by trigger (interval, space, manual).", (g) => g.runs);
  gcCounter("slowdrip_store_gc_removed_blobs_total", "Unpinned blobs removed by garbage collection, by trigger.", (g) => g.removed);
  gcCounter("slowdrip_store_gc_removed_bytes_total", "Bytes of unpinned blobs removed by garbage collection, by trigger.", (g) => g.bytes);
  new Gauge({
    name: "slowdrip_store_cache_bytes",
    help: "Bytes held by the blob LRU.",
    registers,
    collect() {
      this.set(store.stats().cacheBytes);
    },
  });
  new Gauge({
    name: "slowdrip_store_limit_in_use",
    help: "Slots in use per concurrency limit (store, fetch, pull).",
    labelNames: ["limit"],
    registers,
    collect() {
      for (const [limit, s] of Object.entries(store.limits)) this.set({ limit }, s.inUse);
    },
  });
  new Gauge({
    name: "slowdrip_store_limit_waiting",
    help: "Callers waiting for a slot per concurrency limit.",
    labelNames: ["limit"],
    registers,
    collect() {
      for (const [limit, s] of Object.entries(store.limits)) this.set({ limit }, s.waiting);
    },
  });
}
