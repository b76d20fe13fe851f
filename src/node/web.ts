// The web component: the pages (index, dashboard, player, publish) with their embedded assets, the WHIP/WHEP proxy to
// MediaMTX and the WebTorrent tracker at /tracker, with its metrics.
import { Counter, Gauge } from "prom-client";
import type { Config } from "../config/schema.ts";
import { trackerUrl, Tracker, type TrackerRefusal } from "../http/tracker.ts";
import { webRoutes, type PageConfig } from "../http/web.ts";
import { webrtcProxyRoutes, webrtcUpstream } from "../http/web-webrtc.ts";
import { parseIceServer } from "../media/config.ts";
import type { StreamIngest } from "../stream/ingest.ts";
import { WEB_ASSETS } from "../web/gen/assets.ts";
import type { Component, NodeBase } from "./node.ts";

/** The trackers a stream announce names: live.trackers, else this node's own tracker at node.public_endpoint. */
export function announceTrackers(config: Config): string[] {
  if (config["live.trackers"].length > 0) return config["live.trackers"].slice();
  if (config["web.tracker"] && config["node.public_endpoint"]) return [trackerUrl(config["node.public_endpoint"])];
  return [];
}

/** ICE servers for the pages, from mediamtx.webrtc_ice_servers. */
function pageConfig(config: Config): PageConfig {
  return {
    iceServers: config["mediamtx.webrtc_ice_servers"].map(parseIceServer).map((s) => (s.username !== undefined ? { urls: s.url, username: s.username, credential: s.password ?? "" } : { urls: s.url })),
  };
}

/** Origins of the WebSocket trackers the pages may reach besides their own node. */
function trackerOrigins(config: Config): string[] {
  const out = new Set<string>();
  for (const t of config["live.trackers"]) {
    try {
      const u = new URL(t);
      if (u.protocol === "ws:" || u.protocol === "wss:") out.add(u.origin.replace(/^http/, "ws"));
    } catch {
      /* not a URL: the player ignores it too */
    }
  }
  return [...out];
}

/** What the web component needs: the live ingest (which streams exist, for the tracker). */
export interface WebNeeds {
  ingest: StreamIngest;
}

/** Builds the web component. */
export async function webComponent(base: NodeBase, needs: WebNeeds): Promise<Component & { tracker: Tracker | null }> {
  const { config, log } = base;
  const reg = base.metrics.registry;
  let tracker: Tracker | null = null;
  if (config["web.tracker"]) {
    const refused = new Counter({ name: "slowdrip_tracker_refused_total", help: "Tracker connections and announces refused, by reason.", labelNames: ["reason"], registers: [reg] });
    tracker = new Tracker({
      maxPeersPerSwarm: config["web.tracker_max_peers"],
      maxSwarmsPerPath: config["web.tracker_max_swarms"],
      maxMessageBytes: config["web.tracker_max_message"],
      // Streams live on this node now (in memory: asking the ingest for an unknown name would load and keep state for it).
      knownPath: async (path) => needs.ingest.openStreams().includes(path),
      onRefuse: (reason: TrackerRefusal, detail: string) => {
        refused.inc({ reason });
        log.debug({ reason, detail }, "tracker: refused");
      },
    });
    const t = tracker;
    new Gauge({ name: "slowdrip_tracker_swarms", help: "Tracker swarms held.", registers: [reg], collect() { this.set(t.stats().swarms); } });
    new Gauge({ name: "slowdrip_tracker_peers", help: "Peers in the tracker's swarms.", registers: [reg], collect() { this.set(t.stats().peers); } });
  }
  const connect = trackerOrigins(config);
  const page = pageConfig(config);
  return {
    name: "web",
    tracker,
    routes: [...webRoutes({ assets: WEB_ASSETS, connectOrigins: () => connect, page: () => page }), ...webrtcProxyRoutes(webrtcUpstream(config["mediamtx.webrtc"]))],
    ...(tracker ? { upgrades: [tracker.route] } : {}),
    stop() {
      tracker?.close();
    },
  };
}
