// The films component: the catalog of trusted creators' films, refreshed from the relays, cached in <data_dir>/films/.
import { join } from "node:path";
import { Counter } from "prom-client";
import type { Config } from "../config/schema.ts";
import { FilmCatalog } from "../films/catalog.ts";
import { filmRoutes } from "../http/films.ts";
import { publicKeyFromDidKey } from "../identity/ed25519.ts";
import { hex } from "../identity/hex.ts";
import type { RelayPool } from "../nostr/pool.ts";
import type { Component, NodeBase } from "./node.ts";

/** The trusted creators' keys as 64 hex: films.trusted_publishers (hex or did:key) plus the node's own id. */
export function trustedPublishers(config: Config, nodeId: string): Set<string> {
  return new Set([nodeId, ...config["films.trusted_publishers"].map((k) => (k.startsWith("did:key:") ? hex(publicKeyFromDidKey(k)) : k))]);
}

/** What the films component needs: the relay pool (read when the listeners are up; undefined when Nostr is off). */
export interface FilmsNeeds {
  pool: () => RelayPool | undefined;
  /** Called after every refresh (the seed advert is re-read then). */
  onRefresh?: () => void;
}

/** Builds the films component; provides the catalog. */
export async function filmsComponent(ctx: NodeBase, needs: FilmsNeeds): Promise<Component & { catalog: FilmCatalog }> {
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
    routes: filmRoutes({ catalog }),
    afterListen() {
      timer = setTimeout(() => void tick(), 200);
      timer.unref();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
