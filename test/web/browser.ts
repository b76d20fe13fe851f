// Test helpers for the browser tests: Debian's Chromium driven by playwright-core (nothing downloads a browser), run
// inside a network namespace (WebRTC between pages finds no path on loopback), a live node with real MediaMTX and an
// ffmpeg RTMP publisher, and the page's own figures read back from its stats panel.
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import type { PlayerStats } from "../../src/web/player/app.ts";
import { createNetNs, type NetNs } from "../helpers/netns.ts";
import { BIN, NODE, NodeProcess, ensureFfmpeg, freePort, installMediamtx, liveNodeEnv, rtmpPublishArgs, runCapture, runFfmpeg, until, waitMediamtxReady, type FfmpegRun } from "../media/peers.ts";

export { until };

/**
 * fetch with a bound: a request with no answer within `ms` fails naming its method and URL (a hung request otherwise
 * surfaces only as undici's 300 s HeadersTimeoutError, naming nothing: seen once in the dashboard's setup).
 */
export async function fetchWithin(url: string, init: RequestInit = {}, ms = 60_000): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(ms) });
  } catch (err) {
    throw new Error(`${init.method ?? "GET"} ${url}: ${(err as Error).name === "TimeoutError" ? `no answer within ${ms} ms` : (err as Error).message}`, { cause: err });
  }
}

/** Debian's Chromium binary. */
export const CHROMIUM = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"].find((p) => existsSync(p)) ?? "/usr/lib/chromium/chromium";

/** Flags of every test browser: headless, nothing phoning home, real local IPs in ICE candidates. */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-features=WebRtcHideLocalIpsWithMdns",
  "--autoplay-policy=no-user-gesture-required",
];

/** Flags for a fake camera and microphone that need no permission prompt. */
export const FAKE_MEDIA_FLAGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"];

/**
 * Launches Chromium (inside `ns` when given: a wrapper runs it under `ip netns exec`, playwright's pipe survives the
 * exec). Fails with a clear message when Debian's chromium package is missing.
 */
export async function launchChromium(opts: { ns?: NetNs; args?: string[] } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}: apt-get install chromium (.ci/run does)`);
  let executablePath = CHROMIUM;
  if (opts.ns) {
    const dir = mkdtempSync(join(tmpdir(), "slowdrip-chromium-"));
    executablePath = join(dir, "chromium-in-netns");
    writeFileSync(executablePath, `#!/bin/sh\nexec ip netns exec ${opts.ns.name} ${CHROMIUM} "$@"\n`);
    chmodSync(executablePath, 0o755);
  }
  return chromium.launch({ executablePath, headless: true, args: [...CHROMIUM_FLAGS, ...(opts.args ?? [])], timeout: 60_000 });
}

/** A page in its own browser context, its console collected. */
export async function newPage(browser: Browser): Promise<{ context: BrowserContext; page: Page; console: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  const lines: string[] = [];
  page.on("console", (m) => lines.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => lines.push(`pageerror: ${e.message}`));
  return { context, page, console: lines };
}

/** The player's figures, as its stats panel shows them (data-* attributes of #stats). */
export type PanelStats = PlayerStats;

/** Reads the stats panel of a player page. */
export async function panelStats(page: Page): Promise<PanelStats> {
  const d = await page.locator("#stats").evaluate((e) => ({ ...(e as HTMLElement).dataset }));
  const num = (k: string) => Number(d[k] ?? 0);
  return {
    state: (d.state ?? "verifying") as PanelStats["state"],
    reason: d.reason ?? "",
    peerBytes: num("peerBytes"),
    originBytes: num("originBytes"),
    uploadedBytes: num("uploadedBytes"),
    peers: num("peers"),
    verified: num("verified"),
    peerVerified: num("peerVerified"),
    rejected: num("rejected"),
    lastRejection: d.lastRejection ?? "",
    manifestVersion: num("manifestVersion"),
    receiptsAccepted: num("receiptsAccepted"),
  };
}

/**
 * Installs a sampler in the page recording the video's currentTime every 100 ms; `playback` then reports how far it
 * advanced since the first frame and the longest wall-clock interval in which it did not advance (a stall).
 */
export async function watchPlayback(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __pb: { start: number; t0: number; last: number; lastAt: number; stall: number; frames: number } };
    w.__pb = { start: -1, t0: 0, last: -1, lastAt: 0, stall: 0, frames: 0 };
    const v = document.querySelector("video")!;
    setInterval(() => {
      const pb = w.__pb;
      const now = performance.now();
      const t = v.currentTime;
      if (pb.start < 0) {
        if (t > 0 && !v.paused) {
          pb.start = t;
          pb.last = t;
          pb.lastAt = now;
        }
        return;
      }
      if (t > pb.last + 0.01) {
        pb.stall = Math.max(pb.stall, now - pb.lastAt);
        pb.last = t;
        pb.lastAt = now;
      }
    }, 100);
  });
}

/** Seconds played since the first frame and the longest stall so far (ms), from watchPlayback's sampler. */
export async function playback(page: Page): Promise<{ played: number; stallMs: number; corrupted: number; decoded: number }> {
  return page.evaluate(() => {
    const pb = (window as unknown as { __pb: { start: number; last: number; lastAt: number; stall: number } }).__pb;
    const v = document.querySelector("video")!;
    const q = v.getVideoPlaybackQuality();
    const open = pb.start < 0 ? 0 : performance.now() - pb.lastAt;
    return { played: pb.start < 0 ? 0 : pb.last - pb.start, stallMs: Math.max(pb.stall, open), corrupted: q.corruptedVideoFrames, decoded: q.totalVideoFrames };
  });
}

/** A live node reachable from a network namespace, with real MediaMTX, publishing a test pattern by RTMP. */
export interface LiveSetup {
  ns: NetNs;
  node: NodeProcess;
  dir: string;
  /** The node's public URL as the namespace sees it. */
  url: string;
  adminUrl: string;
  rtmp: number;
  ffmpeg: FfmpegRun | null;
  /** Publishes `path` by RTMP with a token (ffmpeg, test pattern). */
  publish(path: string, o?: { bitrate?: string }): Promise<FfmpegRun>;
  /** A token for `action` on `path`, issued by the node's key. */
  token(action: "publish" | "read", path: string): Promise<string>;
  /** The counter `slowdrip_live_origin_bytes_total` of `path` from /metrics. */
  originBytes(path: string): Promise<number>;
  stop(): Promise<void>;
}

/** Starts the live setup: namespace with a default route, node on its host address, MediaMTX, ffmpeg ready. */
export async function startLive(extraEnv: NodeJS.ProcessEnv = {}): Promise<LiveSetup> {
  const binary = installMediamtx();
  const ffmpegBin = ensureFfmpeg();
  const ns = createNetNs({ defaultRoute: true });
  const dir = mkdtempSync(join(tmpdir(), "slowdrip-web-"));
  const port = await freePort();
  const admin = await freePort();
  const live = await liveNodeEnv({
    SLOWDRIP_MEDIAMTX_BINARY: binary,
    SLOWDRIP_API_LISTEN: `${ns.hostAddr}:${port}`,
    SLOWDRIP_API_ADMIN_LISTEN: `${ns.hostAddr}:${admin}`,
    SLOWDRIP_NODE_PUBLIC_ENDPOINT: `http://${ns.hostAddr}:${port}`,
    SLOWDRIP_LIVE_WINDOW_SEGMENTS: "24",
    SLOWDRIP_NODE_LOG_LEVEL: "debug",
    ...extraEnv,
  });
  const url = `http://${ns.hostAddr}:${port}`;
  const adminUrl = `http://${ns.hostAddr}:${admin}`;
  const node = new NodeProcess(join(dir, "data"), live.env);
  const runs: FfmpegRun[] = [];
  const setup: LiveSetup = {
    ns,
    node,
    dir,
    url,
    adminUrl,
    rtmp: live.rtmp,
    ffmpeg: null,
    async token(action, path) {
      const t = await runCapture(NODE, [BIN, "token", "issue", "--action", action, "--path", path, "--ttl", "1h", "--data-dir", join(dir, "data")], 60_000);
      if (t.code !== 0) throw new Error(`token issue failed: ${t.stderr}`);
      return t.stdout.trim();
    },
    async publish(path, o = {}) {
      const tok = await setup.token("publish", path);
      const run = runFfmpeg(rtmpPublishArgs(`rtmp://127.0.0.1:${live.rtmp}/${path}?token=${tok}`, { gop: 30, ...(o.bitrate ? { bitrate: o.bitrate } : {}) }), ffmpegBin);
      runs.push(run);
      setup.ffmpeg = run;
      await until(async () => {
        const r = await fetchWithin(`${url}/live/${path}/manifest.json`, {}, 10_000).catch(() => null);
        return r?.status === 200 && ((await r.json()) as { manifest: { count: number } }).manifest.count >= 4;
      }, 90_000, `4 segments of ${path} ingested`);
      return run;
    },
    async originBytes(path) {
      const text = await (await fetchWithin(`${adminUrl}/metrics`)).text();
      const m = new RegExp(`^slowdrip_live_origin_bytes_total\\{path="${path.replace(/[/.]/g, "\\$&")}"\\} (\\d+)`, "m").exec(text);
      return m ? Number(m[1]) : 0;
    },
    async stop() {
      await Promise.all(runs.map((r) => r.stop()));
      await node.stop();
      ns.remove();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitMediamtxReady(url, 90_000);
  } catch (e) {
    await setup.stop();
    throw new Error(`${(e as Error).message}\n${node.logs.slice(-4000)}`);
  }
  return setup;
}

/** The node id (the default creator) of a running node. */
export async function nodeIdOf(url: string): Promise<string> {
  return ((await (await fetchWithin(`${url}/healthz`)).json()) as { node_id: string }).node_id;
}
