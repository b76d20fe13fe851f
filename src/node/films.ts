// The films component: the catalog of trusted creators' films, refreshed from the relays, cached in <data_dir>/films/.
import { join } from "node:path";
import { Counter } from "prom-client";
import type { Config } from "../config/schema.ts";
import { FilmCatalog } from "../films/catalog.ts";
import { FilmError } from "../films/errors.ts";
import { FilmFetcher } from "../films/fetcher.ts";
import type { ReadGate } from "../http/paygate.ts";
import type { PayWallet } from "../pay/wallet.ts";
import { FilmLibrary, filmBlobs, type FilmPublisher } from "../films/library.ts";
import { filmHttpErrors, filmRoutes } from "../http/films.ts";
import { FilmRelay } from "../films/relay.ts";
import { relayHttpErrors, relayRoutes } from "../http/relay.ts";
import { relayRpcError, relayService } from "../rpc/relay.ts";
import type { RpcReadGate } from "../rpc/paygate.ts";
import { bearerToken, tokenMatches } from "../rpc/auth.ts";
import type { BlobStore } from "../store/types.ts";
import { publicKeyFromDidKey } from "../identity/ed25519.ts";
import { hex } from "../identity/hex.ts";
import type { RelayPool } from "../nostr/pool.ts";
import type { Component, NodeBase } from "./node.ts";

/** The trusted creators' keys as 64 hex: films.trusted_publishers (hex or did:key) plus the node's own id. */
export function trustedPublishers(config: Config, nodeId: string): Set<string> {
  return new Set([nodeId, ...config["films.trusted_publishers"].map((k) => (k.startsWith("did:key:") ? hex(publicKeyFromDidKey(k)) : k))]);
}

/** What the films component needs: the relay pool and publisher (read when the listeners are up; undefined when Nostr
 * is off), the node's Nostr pubkey, and the store holding the films' blobs. */
export interface FilmsNeeds {
  pool: () => RelayPool | undefined;
  publisher: () => FilmPublisher | undefined;
  nostrPubkey: string;
  store: BlobStore;
  /** The wallet that pays holders answering 402 (absent: such holders are skipped). */
  wallet?: PayWallet;
  /** The node's own read gate for GET /api/film/ (its viewers pay it as for /blobs) and GET /relay/. */
  gate?: ReadGate;
  /** The RPC read gate for RelayService.Fetch. */
  rpcGate?: RpcReadGate;
  /** Called after every refresh (the seed advert is re-read then). */
  onRefresh?: () => void;
}

/** Builds the films component; provides the catalog and the node's own films. */
export async function filmsComponent(ctx: NodeBase, needs: FilmsNeeds): Promise<Component & { catalog: FilmCatalog; library: FilmLibrary }> {
  const { config, log } = ctx;
  const trusted = trustedPublishers(config, ctx.identity.nodeId);
  const rejected = new Counter({ name: "slowdrip_films_events_rejected_total", help: "Film events left out of the catalog, by reason (film, creator, trust).", labelNames: ["reason"], registers: [ctx.metrics.registry] });
  const catalog = new FilmCatalog({
    file: join(ctx.dataDir, "films", "catalog.json"),
    trusted: () => trusted,
    maxEntries: config["films.max_entries"],
    queryTimeoutMs: config["nostr.timeout"],
    log,
    onReject: (reason) => rejected.inc({ reason }),
  });
  catalog.load();
  const library = new FilmLibrary(join(ctx.dataDir, "films", "local.json"), config["films.max_entries"], config["nostr.max_event_size"]);
  const publisher = () => {
    const p = needs.publisher();
    if (!p) throw new FilmError("nostr.relays is empty: films cannot be published", "unavailable");
    return p;
  };
  const own = {
    add: async (raw: unknown) => {
      const r = await library.add(raw, needs.store, publisher);
      log.info({ film: r.film.film.id, title: r.film.film.title, event: r.event }, "films: film published");
      needs.onRefresh?.();
      return r;
    },
    list: () => library.list(),
    remove: async (id: string) => {
      const s = library.remove(id, needs.publisher(), needs.nostrPubkey);
      // Its blobs are no longer protected; GC may collect them.
      for (const h of filmBlobs(s)) await needs.store.unpin(h).catch(() => undefined);
      log.info({ film: id }, "films: film removed and its deletion published");
      needs.onRefresh?.();
      return s;
    },
    republish: (id: string) => library.publish(id, publisher()),
  };
  let selfUrl = "";
  const bad = new Counter({ name: "slowdrip_films_bad_holder_total", help: "Film blobs a holder sent with bytes that do not match the hash (the holder is dropped for that blob).", registers: [ctx.metrics.registry] });
  const served = new Counter({ name: "slowdrip_films_blobs_total", help: "Film blobs GET /api/film/ answered, by where they came from (local, peer, paid, origin).", labelNames: ["source"], registers: [ctx.metrics.registry] });
  const ranges = new Counter({ name: "slowdrip_films_ranges_total", help: "Verified ranges (Bao slices) of large film blobs fetched, by where they came from (peer, paid, origin).", labelNames: ["source"], registers: [ctx.metrics.registry] });
  const fetcher = new FilmFetcher({
    store: needs.store,
    catalog: () => catalog.snapshot(),
    holders: () => needs.pool(),
    self: () => [config["node.public_endpoint"], selfUrl].filter(Boolean),
    timeoutMs: config["films.fetch_timeout"],
    rangeSize: config["films.range_size"],
    rangeParallel: config["films.range_parallel"],
    relays: () => config["films.relay_via"],
    relayOnly: config["films.relay_only"],
    ...(needs.wallet ? { pay: { wallet: needs.wallet, budget: config["films.budget"], maxPricePerMiB: config["films.max_price_per_mib"], maxSwapFee: config["films.max_swap_fee"], logger: log } } : {}),
    counters: { served: (source) => served.inc({ source }), badHolder: () => bad.inc(), range: (source) => ranges.inc({ source }) },
    log,
  });
  const relayRefused = new Counter({ name: "slowdrip_films_relay_refused_total", help: "Relay requests refused, by reason (off, loop, scope, cap, unavailable).", labelNames: ["reason"], registers: [ctx.metrics.registry] });
  const relayBytes = new Counter({ name: "slowdrip_films_relay_bytes_total", help: "Bytes this node relayed for others (service relay-bandwidth; apart from content-download).", registers: [ctx.metrics.registry] });
  const relay = new FilmRelay({
    enabled: config["films.relay"],
    fetcher,
    store: needs.store,
    maxSessionBytes: config["films.relay_session_bytes"],
    maxPeerBytes: config["films.relay_peer_bytes"],
    windowMs: 3_600_000,
    counters: { refused: (reason) => relayRefused.inc({ reason }), bytes: (n) => relayBytes.inc(n) },
  });
  const authorized = (req: { headers: Record<string, string | string[] | undefined> }) => {
    const h = req.headers.authorization;
    const token = bearerToken(Array.isArray(h) ? h[0] : h);
    return token !== undefined && tokenMatches(token, ctx.adminToken);
  };
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const tick = async () => {
    const pool = needs.pool();
    if (!pool || stopped) return;
    let ok = false;
    try {
      ok = await catalog.refresh(pool);
      if (ok) log.info({ films: catalog.snapshot().films.length }, "films: catalog refreshed");
    } catch (err) {
      log.warn({ err }, "films: catalog refresh failed");
    }
    needs.onRefresh?.();
    if (stopped) return;
    // Until a relay has answered, try again soon; then every films.refresh.
    timer = setTimeout(() => void tick(), ok ? config["films.refresh"] : Math.min(config["films.refresh"], 2000));
    timer.unref();
  };
  return {
    name: "films",
    catalog,
    library,
    routes: [...filmRoutes({ catalog, films: own, authorized, fetcher, store: needs.store, ...(needs.gate ? { gate: needs.gate } : {}) }), ...relayRoutes({ relay, store: needs.store, ...(needs.gate ? { gate: needs.gate } : {}) })],
    httpErrors: [filmHttpErrors, relayHttpErrors],
    services: [relayService({ relay, store: needs.store, maxMessageSize: config["api.max_message_size"], ...(needs.rpcGate ? { gate: needs.rpcGate } : {}) })],
    rpcErrors: [relayRpcError],
    afterListen({ url }) {
      selfUrl = url;
      timer = setTimeout(() => void tick(), 200);
      timer.unref();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
