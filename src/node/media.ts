// The live-edge component: renders mediamtx.yml, supervises/watches MediaMTX, ingests segments into signed manifests,
// serves hooks, JWKS and the /live/ origin, StreamService, readiness and per-path metrics.
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { Counter, Gauge, Histogram } from "prom-client";
import { splitHostPort } from "../config/fields.ts";
import type { Config } from "../config/schema.ts";
import { liveRoutes } from "../http/live.ts";
import { unhex } from "../identity/hex.ts";
import { MediaMtxApi } from "../media/api.ts";
import type { AuthPolicy } from "../media/auth.ts";
import { loadTemplate, parseIceServer, renderMediamtxConfig, SEGMENT_HOOK_SCRIPT, type MediaMtxOptions } from "../media/config.ts";
import { jwksDocument, permissionCovers } from "../media/jwt.ts";
import { IngestLatency } from "../media/latency.ts";
import { SEGMENT_DROP_REASONS, SegmentIntake } from "../media/segments.ts";
import { MediaSupervisor, type ManageMode, type MediaStatus } from "../media/supervisor.ts";
import { MediaWatcher, type MediaEvent } from "../media/watcher.ts";
import { streamService } from "../rpc/stream.ts";
import { StreamIngest, type SegmentSealed } from "../stream/ingest.ts";
import { checkDelegationShape, signDelegation, verifyDelegation, verifySignedAnnounce, type SignedAnnounce, type SignedDelegation } from "../stream/manifest.ts";
import { StoreManifestStore } from "../stream/persist.ts";
import type { ReadGate } from "../http/paygate.ts";
import type { BlobStore } from "../store/types.ts";
import type { Component, NodeBase } from "./node.ts";
import { announceTrackers } from "./web.ts";
import { warmIngestPaths } from "./warm-ingest.ts";

/** The MediaMTX release the installer pins (scripts/mediamtx-install.mjs PINNED_VERSION). */
export const MEDIAMTX_VERSION = "v1.21.0";

/** Where `npm run mediamtx:install` puts the binary. */
export function installedBinaryPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.length > 0 ? env.XDG_CACHE_HOME : join(homedir(), ".cache");
  return join(base, "slowdrip", "mediamtx", MEDIAMTX_VERSION, "mediamtx");
}

const listen = (v: string): string | null => (v === "" ? null : v);

/** MediaMTX render options from the node config and the URL of the node's (loopback) hooks listener. */
export function mediamtxOptions(config: Config, hooksUrl: string, dataDir: string): MediaMtxOptions {
  const u = new URL(hooksUrl);
  const hookBase = `http://${u.host}`;
  const jwksUrl = config["mediamtx.jwks_url"] || `${hookBase}/.well-known/jwks.json`;
  return {
    apiAddress: config["mediamtx.api"],
    metricsAddress: config["mediamtx.metrics"],
    auth: config["mediamtx.auth"] === "jwks" ? { mode: "jwks", jwksUrl } : { mode: "http", hookUrl: `${hookBase}/hooks/mediamtx/auth` },
    rtmp: listen(config["mediamtx.rtmp"]),
    rtsp: listen(config["mediamtx.rtsp"]),
    hls: listen(config["mediamtx.hls"]),
    webrtc: listen(config["mediamtx.webrtc"]),
    webrtcUdpAddress: config["mediamtx.webrtc_udp"],
    webrtcAdditionalHosts: config["mediamtx.webrtc_additional_hosts"],
    webrtcIceServers: config["mediamtx.webrtc_ice_servers"].map(parseIceServer),
    srt: listen(config["mediamtx.srt"]),
    recordDir: recordDirOf(config, dataDir),
    segmentSeconds: config["mediamtx.segment_duration"] / 1000,
    segmentHookUrl: `${hookBase}/hooks/mediamtx/segment`,
    // bash runs the hook script instead of curl; a data dir the command cannot quote keeps curl.
    ...(/^[^'"$\\\n\r]+$/.test(dataDir) ? { segmentHookScript: segmentHookScriptPath(dataDir) } : {}),
  };
}

/** Where the node writes SEGMENT_HOOK_SCRIPT: beside mediamtx.yml, readable by MediaMTX's group like it. */
export function segmentHookScriptPath(dataDir: string): string {
  return join(dataDir, "mediamtx-segment-hook.sh");
}

/** MediaMTX's own state directory under systemd/slowdrip-mediamtx.service (StateDirectory=mediamtx-slowdrip). */
export const SYSTEMD_RECORD_DIR = "/var/lib/mediamtx-slowdrip/segments";

/** Where MediaMTX records segments for the node: mediamtx.record_dir, else the systemd unit's or the data dir's. */
export function recordDirOf(config: Config, dataDir: string): string {
  if (config["mediamtx.record_dir"]) return config["mediamtx.record_dir"];
  return config["mediamtx.manage"] === "systemd" ? SYSTEMD_RECORD_DIR : join(dataDir, "mediamtx", "segments");
}

/** Loads a delegation file and checks it names this node and verifies under its creator. */
export function loadDelegation(file: string, nodeKey: string): SignedDelegation {
  const d = JSON.parse(readFileSync(file, "utf8")) as SignedDelegation;
  checkDelegationShape(d?.statement);
  verifyDelegation(d, d.statement.creator);
  if (d.statement.node !== nodeKey) throw new RangeError(`${file}: the delegation is for node ${d.statement.node}, this node is ${nodeKey}`);
  return d;
}

/** File name of a stream's announce in live.announce_dir. */
export function announceFileName(stream: string): string {
  return `${encodeURIComponent(stream)}.json`;
}

/** Reads a creator-signed announce for `stream` from `dir`; null (logged) when missing or not signed by `creator`. */
export function loadAnnounce(dir: string, stream: string, creator: string, log?: { warn(o: object, m: string): void }): SignedAnnounce | null {
  if (!dir) return null;
  const file = join(dir, announceFileName(stream));
  try {
    if (statSync(file).size > 64 * 1024) throw new RangeError("larger than 64 KiB");
    const a = JSON.parse(readFileSync(file, "utf8")) as SignedAnnounce;
    verifySignedAnnounce(a, creator);
    if (a.announce.stream !== stream) throw new RangeError(`announces stream '${a.announce.stream}'`);
    return a;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") log?.warn({ err, file }, "live: announce file refused");
    return null;
  }
}

/** What the live edge needs from other components: the blob store for segments, and the read gate when they are sold. */
export interface MediaNeeds {
  store: BlobStore;
  gate?: ReadGate;
}

/** Builds the live-edge component; provides the stream ingest (signed manifests) and the path watcher to later components. */
export async function mediaComponent(ctx: NodeBase, needs: MediaNeeds): Promise<Component & { ingest: StreamIngest; watcher: MediaWatcher }> {
  const { config, log, readiness, identity } = ctx;
  const { store } = needs;
  const mode = config["mediamtx.manage"] as ManageMode;
  const nodeKey = identity.nodeId;

  // Who may sign manifests: a creator's delegation file, or the node key acting as the creator.
  let selfDelegation: SignedDelegation | null = null;
  const external = config["live.delegation"] ? loadDelegation(config["live.delegation"], nodeKey) : null;
  const delegationFor = (stream: string): SignedDelegation | null => {
    if (external) return external.statement.stream === "*" || external.statement.stream === stream ? external : null;
    const now = Math.floor(Date.now() / 1000);
    if (!selfDelegation || selfDelegation.statement.notAfter - now < 86_400) {
      selfDelegation = signDelegation(
        { type: "STREAM_DELEGATION", v: 1, stream: "*", creator: nodeKey, node: nodeKey, notBefore: now - 300, notAfter: now + 365 * 86_400 },
        identity.secretKey,
      );
    }
    return selfDelegation;
  };
  if (external) log.info({ creator: external.statement.creator, stream: external.statement.stream, until: new Date(external.statement.notAfter * 1000).toISOString() }, "live: signing manifests under the creator's delegation");

  const keep = config["live.keep_recording"];
  const ingest = new StreamIngest({
    store,
    // Manifests live in the blob store, committed with each segment (one durable write); older nodes kept files here.
    persistence: new StoreManifestStore(store, join(ctx.dataDir, "manifests")),
    nodeSecret: identity.secretKey,
    ...(external ? { announceFor: (stream: string) => loadAnnounce(config["live.announce_dir"], stream, external.statement.creator, log) } : { creatorSecret: identity.secretKey }),
    delegationFor,
    windowSegments: config["live.window_segments"],
    keepRecording: (stream) => keep.some((p) => permissionCovers({ action: "read", path: p }, "read", stream)),
    origins: config["node.public_endpoint"] ? [config["node.public_endpoint"]] : [],
    trackers: announceTrackers(config),
  });
  const recordDir = recordDirOf(config, ctx.dataDir);
  // In systemd mode the directory belongs to MediaMTX's own StateDirectory and MediaMTX creates it.
  if (mode === "child") mkdirSync(recordDir, { recursive: true });

  const trusted = () => [identity.publicKey, ...config["node.operator_keys"].map((k) => unhex(k, 32))];
  // Tokens must be for this node (aud = node id): a token an operator key signed for another node is refused here.
  const policy = (): AuthPolicy => ({ trustedKeys: trusted(), openReadPaths: config["live.open_read_paths"], audience: nodeKey });

  // Metrics.
  const reg = ctx.metrics.registry;
  const mtxUp = new Gauge({ name: "slowdrip_mediamtx_up", help: "1 when MediaMTX answers its API.", registers: [reg] });
  const mtxRestarts = new Counter({ name: "slowdrip_mediamtx_restarts_total", help: "MediaMTX child restarts.", registers: [reg] });
  const pathAvailable = new Gauge({ name: "slowdrip_live_path_available", help: "1 while a path has a publisher.", labelNames: ["path"], registers: [reg] });
  const pathReaders = new Gauge({ name: "slowdrip_live_path_readers", help: "Readers of a path.", labelNames: ["path"], registers: [reg] });
  const pathIn = new Gauge({ name: "slowdrip_live_path_inbound_bytes", help: "Bytes MediaMTX received on a path.", labelNames: ["path"], registers: [reg] });
  const pathOut = new Gauge({ name: "slowdrip_live_path_outbound_bytes", help: "Bytes MediaMTX sent on a path.", labelNames: ["path"], registers: [reg] });
  const segments = new Counter({ name: "slowdrip_live_segments_total", help: "Segments ingested and signed.", labelNames: ["path"], registers: [reg] });
  const segBytes = new Counter({ name: "slowdrip_live_segment_bytes_total", help: "Segment bytes ingested.", labelNames: ["path"], registers: [reg] });
  const dropped = new Counter({ name: "slowdrip_live_segments_dropped_total", help: "Segments given up on (file deleted), by reason.", labelNames: ["reason"], registers: [reg] });
  for (const reason of SEGMENT_DROP_REASONS) dropped.inc({ reason }, 0);
  const retries = new Counter({ name: "slowdrip_live_segment_retries_total", help: "Failed segment ingests tried again (busy or full store, failed write).", registers: [reg] });
  const originBytes = new Counter({ name: "slowdrip_live_origin_bytes_total", help: "Segment bytes the /live/ origin served (complete answers).", labelNames: ["path"], registers: [reg] });
  const authDecisions = new Counter({ name: "slowdrip_live_auth_total", help: "MediaMTX hook auth decisions.", labelNames: ["action", "result"], registers: [reg] });
  const ingestSeconds = new Histogram({
    name: "slowdrip_live_ingest_seconds",
    help: "From the segment notice to the signed manifest listing it.",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2],
    registers: [reg],
  });
  const MAX_METRIC_PATHS = 256;
  const metricPaths = new Set<string>();
  const labelOk = (p: string) => metricPaths.has(p) || (metricPaths.size < MAX_METRIC_PATHS && metricPaths.add(p) !== undefined);

  const intake = new SegmentIntake({
    ingest,
    recordDir,
    onRetry: (attempt, delayMs, n, err) => {
      retries.inc();
      log.info({ path: n.path, file: n.file, attempt, retry_in_ms: delayMs, err: err instanceof Error ? err.message : String(err) }, "live: segment not ingested yet; the file is kept and tried again");
    },
    onDrop: (reason, n, err) => {
      dropped.inc({ reason });
      log.warn({ path: n.path, file: n.file, reason, err: err instanceof Error ? err.message : String(err) }, "live: segment dropped");
    },
  });

  const api = new MediaMtxApi({ baseUrl: `http://${config["mediamtx.api"]}` });
  const mtxDir = join(ctx.dataDir, "mediamtx");
  // <data_dir>/mediamtx.yml: systemd/slowdrip-mediamtx.service and .path read this file.
  const configPath = join(ctx.dataDir, "mediamtx.yml");
  const binary = config["mediamtx.binary"] || installedBinaryPath();
  const supervisor = new MediaSupervisor({
    mode,
    api,
    binary,
    configPath,
    cwd: mtxDir,
    onLog: (line) => {
      let msg = line;
      let level = "INF";
      let at: string | undefined;
      try {
        const j = JSON.parse(line) as { level?: string; message?: string; timestamp?: string };
        msg = j.message ?? line;
        level = j.level ?? level;
        at = j.timestamp;
      } catch {
        /* plain text line */
      }
      const fields = at ? { mediamtx: msg, mediamtx_time: at } : { mediamtx: msg };
      if (level === "ERR") log.error(fields, "mediamtx");
      else if (level === "WAR") log.warn(fields, "mediamtx");
      else log.debug(fields, "mediamtx");
    },
  });
  const watcher = new MediaWatcher({ api, pollMs: 1000 });
  readiness.register("mediamtx", { required: false, detail: mode === "off" ? "mediamtx.manage is off" : "waiting for the listener" });
  supervisor.on("state", (s: MediaStatus) => {
    readiness.set("mediamtx", s.state === "ready", `${s.mode}: ${s.state}: ${s.detail}`);
    mtxUp.set(s.state === "ready" ? 1 : 0);
    if (s.state === "not-installed") log.warn({ binary }, s.detail);
    else log.info({ state: s.state, detail: s.detail }, "mediamtx state");
  });
  supervisor.on("exit", () => {
    mtxRestarts.inc();
    // Every publisher was cut off: end the open manifests (a reconnect reopens them with a discontinuity).
    for (const stream of ingest.openStreams()) {
      void ingest.end(stream).catch((err: unknown) => log.warn({ err, path: stream }, "live: could not end the manifest"));
    }
  });
  watcher.on("event", (e: MediaEvent) => {
    log.info(e, "live event");
    if (e.type === "path-unavailable") {
      void ingest.end(e.path).catch((err: unknown) => log.warn({ err, path: e.path }, "live: could not end the manifest"));
      if (labelOk(e.path)) pathAvailable.set({ path: e.path }, 0);
    } else if (e.type === "path-available" && labelOk(e.path)) {
      pathAvailable.set({ path: e.path }, 1);
    }
  });
  let lastPollError = "";
  watcher.on("poll-error", (err: Error) => {
    if (err.message !== lastPollError) log.warn({ err: err.message }, "live: MediaMTX API poll failed");
    lastPollError = err.message;
  });
  watcher.on("snapshot", (snap: { ok: boolean; paths: { name: string; readers: unknown[]; inboundBytes: number; outboundBytes: number }[] }) => {
    if (!snap.ok) return;
    lastPollError = "";
    for (const p of snap.paths) {
      if (!labelOk(p.name)) continue;
      pathReaders.set({ path: p.name }, p.readers.length);
      pathIn.set({ path: p.name }, p.inboundBytes);
      pathOut.set({ path: p.name }, p.outboundBytes);
    }
  });
  ingest.on("sealed", (s: SegmentSealed) => {
    if (labelOk(s.stream)) {
      segments.inc({ path: s.stream });
      segBytes.inc({ path: s.stream }, s.entry.size);
    }
  });
  const latency = new IngestLatency();
  const timedIntake = {
    handle: async (n: Parameters<SegmentIntake["handle"]>[0]) => {
      const t = n.receivedAt ?? performance.now();
      const r = await intake.handle(n);
      const ms = performance.now() - t;
      ingestSeconds.observe(ms / 1000);
      latency.observe(r.stream, ms);
      const round = (v: number | undefined) => (v === undefined ? undefined : Math.round(v * 100) / 100);
      const s = r.timing;
      log.debug(
        {
          path: r.stream,
          seq: r.entry.seq,
          file: n.file,
          durationMs: n.durationMs,
          receivedAtMs: Math.round(Date.now() - ms),
          ms: round(ms),
          waitMs: round(s.waitMs),
          readMs: round(s.readMs),
          hashMs: round(s.hashMs),
          commitMs: round(s.commitMs),
          signMs: round(s.signMs),
          saveMs: round(s.saveMs),
        },
        "live: segment ingested",
      );
      return r;
    },
  } as SegmentIntake;

  return {
    name: "media",
    ingest,
    watcher,
    services: [streamService({ watcher, ingest, supervisor, signal: ctx.signal, latency })],
    routes: liveRoutes({
      ingest,
      intake: timedIntake,
      store,
      policy,
      jwks: () => jwksDocument(trusted()),
      log,
      onAuth: (allowed, action) => authDecisions.inc({ action, result: allowed ? "allow" : "deny" }),
      onSegmentServed: (path, n) => {
        if (labelOk(path)) originBytes.inc({ path }, n);
      },
      ...(needs.gate ? { gate: needs.gate } : {}),
    }),
    afterListen({ hooksUrl }) {
      if (mode === "off") {
        readiness.set("mediamtx", false, "mediamtx.manage is off");
        return;
      }
      void warmIngestPaths(identity.secretKey);
      if (mode === "systemd" || (mode === "child" && existsSync(binary))) {
        // systemd/slowdrip-mediamtx.service reads the same rendered file.
        mkdirSync(mtxDir, { recursive: true });
        try {
          // 0640: MediaMTX runs as another user of group slowdrip under systemd; the file holds no secrets.
          const rendered = mediamtxOptions(config, hooksUrl, ctx.dataDir);
          // The hook script first: the config that names it may be picked up (and a segment finish) at once.
          if (rendered.segmentHookScript) {
            writeFileSync(rendered.segmentHookScript, SEGMENT_HOOK_SCRIPT, { mode: 0o640 });
            chmodSync(rendered.segmentHookScript, 0o640);
          }
          writeFileSync(configPath, renderMediamtxConfig(loadTemplate(), rendered), { mode: 0o640 });
          // Explicitly, not through the umask: the node's unit runs with UMask=0077 so that nothing else is group-readable.
          chmodSync(configPath, 0o640);
        } catch (err) {
          readiness.set("mediamtx", false, `cannot render ${configPath}: ${(err as Error).message}`);
          log.error({ err, file: configPath }, "live: cannot render mediamtx.yml; MediaMTX not started");
          return;
        }
      }
      if (mode === "child" && !existsSync(binary)) {
        log.warn({ binary }, "MediaMTX is not installed: run `npm run mediamtx:install`, then set mediamtx.binary (SLOWDRIP_MEDIAMTX_BINARY) to the path it prints; the node runs without live streaming until then");
      }
      supervisor.start();
      // Without a child there is nothing of ours to watch (another MediaMTX may own the default API port).
      if (!(mode === "child" && !existsSync(binary))) watcher.start();
    },
    async stop() {
      watcher.stop();
      await supervisor.stop();
    },
  };
}
