// The player at /watch/<path>: verifies announce and manifest against the creator key, then plays with hls.js and
// p2p-media-loader (swarm per creator and stream, the node's own tracker), checking every segment - from a peer or the
// origin - against the signed manifest before hls.js gets it or any peer is offered it. Shows its figures on the page.
import Hls from "hls.js/light";
import type { HlsConfig, LoaderContext } from "hls.js";
import { HlsJsP2PEngine } from "p2p-media-loader-hlsjs";
import type { CoreConfig } from "p2p-media-loader-core";
import { initWasm } from "../../wasm/browser.ts";
import type { SegmentEntry } from "../../stream/manifest.ts";
import { bytes, el, encodePath } from "../dom.ts";
import { rpc } from "../rpc.ts";
import { verifyingLoader } from "./loader.ts";
import { Payment } from "./pay.ts";
import { ReceiptPoster } from "./receipts.ts";
import { trackersFor } from "./trackers.ts";
import { segmentHashOf, StreamTrust, type Refusal } from "./trust.ts";

/** Options of one player; the page entry passes its URL's, tests may add core overrides. */
export interface PlayerOptions {
  path: string;
  /** Pinned creator key (?creator=), or null to take the announce's. */
  creator: string | null;
  /** Peer-to-peer on (default) or off (?p2p=0). */
  p2p: boolean;
  /** Segment hash checked: BLAKE3 (WASM, default) or SHA-256 (WebCrypto) (?hash=sha256). */
  hash: "blake3" | "sha256";
  /** Seconds behind the live edge (?latency=); default three target durations. */
  latency?: number;
  /** ICE servers for peer connections (from the node's page config; none by default). */
  iceServers: RTCIceServer[];
  /** Overrides of p2p-media-loader's core config, applied last. */
  core?: Partial<CoreConfig>;
}

/** The figures the stats panel shows (also its data-* attributes). */
export interface PlayerStats {
  state: "verifying" | "verified" | "refused" | "payment-required";
  reason: string;
  peerBytes: number;
  originBytes: number;
  uploadedBytes: number;
  peers: number;
  verified: number;
  /** Of the verified segments, those that came from peers. */
  peerVerified: number;
  rejected: number;
  lastRejection: string;
  manifestVersion: number;
  receiptsAccepted: number;
}

/** Starts a player for `opts.path` in `root`. */
export async function startPlayer(root: HTMLElement, opts: PlayerOptions): Promise<void> {
  const base = new URL(`/live/${encodePath(opts.path)}/`, location.origin);
  const stats: PlayerStats = {
    state: "verifying",
    reason: "",
    peerBytes: 0,
    originBytes: 0,
    uploadedBytes: 0,
    peers: 0,
    verified: 0,
    peerVerified: 0,
    rejected: 0,
    lastRejection: "",
    manifestVersion: 0,
    receiptsAccepted: 0,
  };
  const title = el("h1", { id: "title" }, opts.path);
  const state = el("p", { id: "state", class: "state", "data-state": "verifying" }, "verifying the creator's signatures...");
  const creatorLine = el("p", { id: "creator", class: "hint" });
  const video = el("video", { id: "video", controls: true, autoplay: true, muted: true, playsinline: true });
  video.muted = true;
  const panel = el("dl", { id: "stats", class: "stats" });
  const log = el("ol", { id: "log", class: "log" });
  const payArea = el("div");
  root.append(title, state, creatorLine, payArea, video, panel, el("h2", {}, "Rejected segments"), log);

  const peers = new Set<string>();
  const render = () => {
    state.dataset.state = stats.state;
    const rows: [string, string, string][] = [
      ["verification", "state", stats.state === "verified" ? `verified (manifest v${stats.manifestVersion})` : stats.reason || stats.state],
      ["from peers", "peer-bytes", bytes(stats.peerBytes)],
      ["from the origin", "origin-bytes", bytes(stats.originBytes)],
      ["shared with peers", "uploaded-bytes", bytes(stats.uploadedBytes)],
      ["peers", "peers", String(stats.peers)],
      ["segments verified", "verified", `${stats.verified} (${stats.peerVerified} from peers)`],
      ["segments rejected", "rejected", String(stats.rejected)],
      ["receipts accepted", "receipts", String(stats.receiptsAccepted)],
    ];
    panel.replaceChildren(...rows.flatMap(([k, , v]) => [el("dt", {}, k), el("dd", {}, v)]));
    for (const [k, v] of Object.entries(stats)) panel.dataset[k] = String(v);
  };
  render();
  const refuse = (r: Refusal) => {
    stats.state = "refused";
    stats.reason = `${r.code}: ${r.message}`;
    state.textContent = `Refused to play: ${r.code}: ${r.message}`;
    console.error(`slowdrip player: refused to play ${opts.path}: ${r.code}: ${r.message}`);
    render();
  };

  await initWasm();
  const trust = new StreamTrust(base, opts.creator, opts.hash);
  const failed = await trust.start();
  if (failed) return refuse(failed);
  const manifest = trust.manifest!.manifest;
  stats.state = "verified";
  stats.manifestVersion = manifest.version;
  trust.onManifest = (m) => {
    stats.manifestVersion = m.manifest.version;
  };
  title.textContent = trust.announce!.announce.title || opts.path;
  state.textContent = `Signatures verified: creator ${trust.creator.slice(0, 16)}..., manifest v${manifest.version}`;
  creatorLine.textContent = trust.pinned
    ? `creator ${trust.creator} (pinned by this link)`
    : `creator ${trust.creator} (taken from the announce: add ?creator=<key> to pin it)`;
  render();

  // Paid origins: the price first, playback once a session is open.
  const pay = new Payment(opts.path);
  const newest = manifest.segments.at(-1);
  const pricing = await rpc<{ enabled?: boolean }>("slowdrip.v1.PaymentService/GetPricing").catch(() => ({ enabled: false }));
  if (pricing.enabled && newest) {
    const url = new URL(`${newest.blake3}.ts`, base).href;
    const price = await pay.probe(url);
    if (price) {
      stats.state = "payment-required";
      render();
      await new Promise<void>((resolve) => payArea.append(pay.panel(price, url, resolve)));
      stats.state = "verified";
      render();
    }
  }

  const receipts = new ReceiptPoster(base, opts.path, () => trust.manifest!.manifest.node);
  const reject = (url: string, why: Refusal, source: string) => {
    stats.rejected++;
    stats.lastRejection = `${why.code} from ${source}`;
    const hash = segmentHashOf(url) ?? url.slice(0, 80);
    console.warn(`slowdrip player: rejected segment ${hash} from ${source}: ${why.code}: ${why.message}`);
    log.prepend(el("li", { "data-code": why.code, "data-source": source }, `${new Date().toLocaleTimeString()} ${hash.slice(0, 16)}... from ${source}: ${why.code}: ${why.message}`));
    while (log.children.length > 50) log.lastElementChild!.remove();
  };
  const accept = (url: string, entry: SegmentEntry, source: "origin" | "peer") => {
    stats.verified++;
    if (source === "peer") stats.peerVerified++;
    if (source === "origin") receipts.record(url, entry);
  };
  const validate = (source: "origin" | "peer") => async (url: string, _range: unknown, data: ArrayBuffer) => {
    const r = await trust.check(url, new Uint8Array(data));
    if ("entry" in r) {
      accept(url, r.entry, source);
      return true;
    }
    reject(url, r, source === "peer" ? "a peer" : "the origin");
    return false;
  };

  const td = Math.max(1, manifest.targetDuration);
  const latency = opts.latency ?? 3 * td;
  const Loader = verifyingLoader(Hls.DefaultConfig.loader as unknown as new (c: HlsConfig) => import("hls.js").Loader<LoaderContext>, {
    check: (url, b) => trust.check(url, b),
    verified: (url, entry) => {
      stats.originBytes += entry.size;
      accept(url, entry, "origin");
    },
    refused: (url, why) => reject(url, why, "the origin"),
    paymentRequired: () => {
      stats.state = "payment-required";
      render();
    },
  });
  const HlsWithP2P = HlsJsP2PEngine.injectMixin(Hls);
  const core: Partial<CoreConfig> = {
    swarmId: `slowdrip:${trust.creator}:${manifest.stream}:${manifest.rendition}`,
    announceTrackers: trackersFor(trust.announce!.announce.trackers, opts.path, location.origin),
    rtcConfig: { iceServers: opts.iceServers },
    isP2PDisabled: !opts.p2p,
    // Live: segments near the play head come from the origin when no peer has them; the rest are asked of peers.
    // Until the first frame p2p-media-loader sees the play head at 0, before the live window: everything listed is
    // "near" then, so that startup does not wait on peers (narrowed at the first frame, below).
    highDemandTimeWindow: (manifest.segments.length + 2) * td,
    httpDownloadTimeWindow: 2 * td,
    p2pDownloadTimeWindow: Math.max(30, 10 * td),
    simultaneousP2PDownloads: 3,
    validateP2PSegment: validate("peer"),
    validateHTTPSegment: validate("origin"),
    httpRequestSetup: async (url, _byteRange, signal, range) => {
      const headers: Record<string, string> = { ...pay.headers() };
      if (range) headers.range = `bytes=${range.start}-${range.end ?? ""}`;
      return new Request(url, { headers, signal });
    },
    ...opts.core,
  };
  const hls = new HlsWithP2P({
    loader: Loader as unknown as HlsConfig["loader"],
    progressive: false,
    enableWorker: false,
    lowLatencyMode: false,
    liveSyncDuration: latency,
    liveMaxLatencyDuration: latency + 6 * td,
    maxBufferLength: Math.max(10, latency + 2 * td),
    xhrSetup: (xhr: XMLHttpRequest) => {
      for (const [k, v] of Object.entries(pay.headers())) xhr.setRequestHeader(k, v);
    },
    p2p: { core },
  });
  const engine = hls.p2pEngine;
  engine.addEventListener("onChunkDownloaded", (n, source) => {
    if (source === "p2p") stats.peerBytes += n;
    else stats.originBytes += n;
  });
  engine.addEventListener("onChunkUploaded", (n) => {
    stats.uploadedBytes += n;
  });
  engine.addEventListener("onPeerConnect", ({ peerId }) => {
    peers.add(peerId);
    stats.peers = peers.size;
  });
  engine.addEventListener("onPeerClose", ({ peerId }) => {
    peers.delete(peerId);
    stats.peers = peers.size;
  });
  engine.addEventListener("onSegmentError", ({ error, peerId }) => {
    // The validation failure itself was logged by the hook; p2p-media-loader drops that peer and retries elsewhere.
    if (error.type === "p2p-segment-validation-failed") console.warn(`slowdrip player: disconnected peer ${peerId ?? "?"} after a bad segment`);
  });
  hls.on(Hls.Events.ERROR, (_e, data) => {
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR) console.error(`slowdrip player: hls.js media error ${data.details}${data.fatal ? " (fatal)" : ""}`);
    if (!data.fatal) return;
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
    else setTimeout(() => hls.startLoad(), 1000);
  });
  setInterval(() => {
    stats.receiptsAccepted = receipts.counts.accepted;
    if (trust.lastRefusal) stats.reason = `${trust.lastRefusal.code}: ${trust.lastRefusal.message}`;
    render();
  }, 500);
  // Live manifests are re-fetched (and re-verified) about once per segment.
  if (!manifest.ended) setInterval(() => void trust.refresh(), td * 1000);
  video.addEventListener("playing", () => engine.applyDynamicConfig({ core: { highDemandTimeWindow: 2 * td } }), { once: true });
  hls.loadSource(new URL("index.m3u8", base).href);
  hls.attachMedia(video);
  video.play().catch(() => {});
}
