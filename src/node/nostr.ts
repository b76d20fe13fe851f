// The Nostr component: the node's Nostr key, the relay pool (nostr.relays), and the adverts it publishes: kind 10021
// (prices), kind 30081 (seeded blobs) and NIP-53 kind 30311 for each live path.
import { Counter, Gauge } from "prom-client";
import type { Config } from "../config/schema.ts";
import type { MediaEvent } from "../media/watcher.ts";
import { LiveAnnouncer, NodePublisher, tollgateFromPricing } from "../nostr/adverts.ts";
import { DEFAULT_EVENT_LIMITS, type Signer } from "../nostr/events.ts";
import { loadOrCreateNostrKey, type NostrKey } from "../nostr/keys.ts";
import { RelayPool } from "../nostr/pool.ts";
import type { Pricing } from "../pay/pricing.ts";
import type { BlobStore } from "../store/types.ts";
import type { Component, NodeBase } from "./node.ts";

/** Blobs carrying this tag are listed in the node's seed advert. */
export const SEED_TAG = "seed";

/** What the Nostr component needs: the prices and accepted mints (10021), the store (30081), the live path events (30311). */
export interface NostrNeeds {
  pricing: Pricing;
  acceptedMints: () => string[];
  unit: string;
  store: BlobStore;
  /** MediaMTX path events ("event" with a MediaEvent). */
  live?: { on(event: "event", listener: (e: MediaEvent) => void): unknown };
}

/** What it provides to later components. */
export interface NostrParts {
  key: NostrKey;
  signer: Signer;
  /** Undefined when nostr.relays is empty. */
  pool: RelayPool | undefined;
  publisher: NodePublisher | undefined;
  /** Re-reads the seeded blobs and publishes the seed advert again. */
  advertiseSeeds(): Promise<void>;
}

/** The pool options from the config. */
export function poolOptions(config: Config, log: NodeBase["log"], hooks: { onReject?: (reason: string) => void; onPublish?: (ok: boolean) => void } = {}) {
  return {
    relays: config["nostr.relays"],
    timeoutMs: config["nostr.timeout"],
    maxFrameBytes: config["nostr.max_event_size"],
    maxEventsPerSubscription: config["nostr.max_events"],
    maxSubscriptions: 64,
    limits: { ...DEFAULT_EVENT_LIMITS, maxFieldChars: config["nostr.max_event_size"] },
    backoffMinMs: 500,
    backoffMaxMs: 60_000,
    log,
    ...(hooks.onReject ? { onReject: (reason: string) => hooks.onReject!(reason) } : {}),
    ...(hooks.onPublish ? { onPublish: (_relay: string, ok: boolean) => hooks.onPublish!(ok) } : {}),
  };
}

/** Hashes of the blobs tagged `seed`, at most `max` (scans the store by pages, at most 200 pages). */
export async function seededHashes(store: BlobStore, max: number): Promise<string[]> {
  const out: string[] = [];
  let after: string | undefined;
  for (let page = 0; page < 200 && out.length < max; page++) {
    const p = await store.list({ limit: 1000, ...(after ? { after } : {}) });
    for (const m of p.items) if (m.tags.includes(SEED_TAG) && out.length < max) out.push(m.hash);
    if (!p.next) break;
    after = p.next;
  }
  return out;
}

/** Builds the Nostr component (key at once; the pool and adverts once the listeners are up). */
export async function nostrComponent(ctx: NodeBase, needs: NostrNeeds): Promise<Component & { nostr: NostrParts }> {
  const { config, log, identity, readiness } = ctx;
  const { key, created } = loadOrCreateNostrKey(ctx.dataDir);
  if (created) log.info({ nostr_pubkey: key.pubkey }, "created a new Nostr key");
  const signer: Signer = { key, nodeId: identity.nodeId, nodeSecret: identity.secretKey };
  const reg = ctx.metrics.registry;
  const rejected = new Counter({ name: "slowdrip_nostr_events_rejected_total", help: "Relay events and frames refused, by reason (size, shape, signature, binding, creator, future, count, trust).", labelNames: ["reason"], registers: [reg] });
  const published = new Counter({ name: "slowdrip_nostr_publish_total", help: "Relay answers to the node's events: ok, or failed (retried with back-off).", labelNames: ["result"], registers: [reg] });
  const connected = new Gauge({ name: "slowdrip_nostr_relays_connected", help: "Relays with an open connection.", registers: [reg] });
  const relays = config["nostr.relays"];
  readiness.register("nostr", { required: false, detail: relays.length === 0 ? "nostr.relays is empty" : "connecting" });
  let pool: RelayPool | undefined;
  let publisher: NodePublisher | undefined;
  let endpoint = config["node.public_endpoint"];
  let gauge: NodeJS.Timeout | undefined;
  let lastSeeds: string | undefined;
  const parts: NostrParts = {
    key,
    signer,
    get pool() {
      return pool;
    },
    get publisher() {
      return publisher;
    },
    async advertiseSeeds() {
      if (!publisher || !endpoint) return;
      const hashes = await seededHashes(needs.store, config["nostr.seed_max_hashes"]);
      const key = hashes.join(",");
      // Unchanged: the relays already hold it (the pool sends it again after reconnects).
      if (key === lastSeeds) return;
      lastSeeds = key;
      publisher.seeds(endpoint, hashes);
    },
  };
  return {
    name: "nostr",
    nostr: parts,
    async afterListen({ url }) {
      if (relays.length === 0) return;
      endpoint ||= url;
      pool = new RelayPool(poolOptions(config, log, { onReject: (reason) => rejected.inc({ reason }), onPublish: (ok) => published.inc({ result: ok ? "ok" : "failed" }) }));
      publisher = new NodePublisher(signer, pool);
      gauge = setInterval(() => {
        const up = pool!.status().filter((s) => s.connected).length;
        connected.set(up);
        readiness.set("nostr", up > 0, `${up} of ${relays.length} relays connected`);
      }, 1000);
      gauge.unref();
      const mints = needs.acceptedMints();
      if (needs.pricing.config.enabled && mints.length > 0) {
        const relay = config["films.relay"] && endpoint ? { endpoint: `${endpoint.replace(/\/+$/, "")}/relay`, ratePerMiB: needs.pricing.service("relay-bandwidth").rate } : undefined;
        publisher.tollgate(tollgateFromPricing({ ratePerMiB: needs.pricing.service("content-download").rate, unit: needs.unit, mints, ...(relay ? { relay } : {}) }));
      } else {
        log.info("nostr: no kind 10021 advert (pay.enabled is false or no mint is accepted)");
      }
      const live = new LiveAnnouncer(publisher, () => endpoint);
      needs.live?.on("event", (e: MediaEvent) => {
        if (e.type === "path-available") live.available(e.path, e.at);
        else if (e.type === "path-unavailable") live.unavailable(e.path, e.at);
      });
      await parts.advertiseSeeds().catch((err: unknown) => log.warn({ err }, "nostr: cannot list the seeded blobs"));
      log.info({ nostr_pubkey: key.pubkey, relays }, "nostr: publishing to the relays");
    },
    stop() {
      clearInterval(gauge);
      pool?.close();
    },
  };
}
