// Browser bench: real Debian Chromium pages (playwright-core) in a network namespace against a real node with MediaMTX
// and an ffmpeg RTMP publish. Origin offload with 4 viewers of one stream (P2P on, against the same viewers with P2P
// off), startup (page open -> first frame, with and without P2P), time to verify one segment in the browser (BLAKE3
// WASM against SHA-256 WebCrypto), and the gzipped size of the player and the dashboard.
// Run: npm run bench -- web   (figures also in bench/results/web.json; BENCH_WEB_SECONDS=N measures N s, default 30)
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import type { Browser, Page } from "playwright-core";
import { buildWeb } from "../scripts/build-web.mjs";
import { WEB_ASSETS } from "../src/web/gen/assets.ts";
import { launchChromium, newPage, nodeIdOf, panelStats, playback, startLive, until, watchPlayback, type LiveSetup } from "../test/web/browser.ts";

const root = process.cwd();
const PATH = "live/bench";
const SECONDS = Number(process.env.BENCH_WEB_SECONDS ?? 30);
const VIEWERS = 4;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const kb = (n: number) => Number((n / 1024).toFixed(1));

interface Viewer {
  page: Page;
  close(): Promise<void>;
}

async function openViewer(browser: Browser, live: LiveSetup, creator: string, latency: number, p2p: boolean): Promise<Viewer> {
  const v = await newPage(browser);
  await v.page.goto(`${live.url}/watch/${PATH}?creator=${creator}&latency=${latency}${p2p ? "" : "&p2p=0"}`);
  await watchPlayback(v.page);
  await until(async () => (await playback(v.page)).played > 1, 60_000, `viewer (latency ${latency} s) to play\n${v.console.slice(-5).join("\n")}`);
  return { page: v.page, close: () => v.context.close() };
}

/** 4 viewers 3 s apart in latency; bytes from peers and from the origin over SECONDS once all play. */
async function offload(browser: Browser, live: LiveSetup, creator: string, p2p: boolean) {
  const viewers: Viewer[] = [];
  for (let i = 0; i < VIEWERS; i++) viewers.push(await openViewer(browser, live, creator, 4 + 3 * i, p2p));
  await new Promise((r) => setTimeout(r, 5000));
  const s0 = await Promise.all(viewers.map((v) => panelStats(v.page)));
  const o0 = await live.originBytes(PATH);
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const s1 = await Promise.all(viewers.map((v) => panelStats(v.page)));
  const o1 = await live.originBytes(PATH);
  const stalls = await Promise.all(viewers.map(async (v) => (await playback(v.page)).stallMs));
  const peer = s1.reduce((n, s, i) => n + s.peerBytes - s0[i]!.peerBytes, 0);
  const origin = s1.reduce((n, s, i) => n + s.originBytes - s0[i]!.originBytes, 0);
  const rejected = s1.reduce((n, s) => n + s.rejected, 0);
  return { viewers, peer, origin, nodeOrigin: o1 - o0, share: peer / Math.max(1, peer + origin), stallMaxMs: Math.round(Math.max(...stalls)), rejected };
}

/** Page open -> first video frame (ms), median of `runs` fresh pages. */
async function startup(browser: Browser, live: LiveSetup, creator: string, p2p: boolean, runs = 3): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const v = await newPage(browser);
    const t0 = Date.now();
    await v.page.goto(`${live.url}/watch/${PATH}?creator=${creator}${p2p ? "" : "&p2p=0"}`);
    await v.page.locator("video").evaluate((el) => new Promise<void>((resolve) => (el as HTMLVideoElement).requestVideoFrameCallback(() => resolve())));
    times.push(Date.now() - t0);
    await v.context.close();
  }
  return median(times);
}

async function main(): Promise<void> {
  const load0 = os.loadavg();
  const live = await startLive({ SLOWDRIP_LIVE_WINDOW_SEGMENTS: "30", SLOWDRIP_NODE_LOG_LEVEL: "info" });
  let browser: Browser | null = null;
  try {
    await live.publish(PATH, { bitrate: "2M" });
    const creator = await nodeIdOf(live.url);
    // WebCrypto (the SHA-256 row) exists in secure contexts only: the plain-HTTP test origin is declared one.
    browser = await launchChromium({ ns: live.ns, args: [`--unsafely-treat-insecure-origin-as-secure=${live.url}`] });

    const on = await offload(browser, live, creator, true);
    // Startup with P2P while the swarm is up (the 4 viewers still play).
    const startP2p = await startup(browser, live, creator, true);
    for (const v of on.viewers) await v.close();
    // Without P2P, under the same load: while the 4 origin-only viewers play.
    const off = await offload(browser, live, creator, false);
    const startHttp = await startup(browser, live, creator, false);
    for (const v of off.viewers) await v.close();

    // Verify one segment in the browser: a bench-only page runs the player's own check.
    const built = await buildWeb(root, { entries: { verifybench: path.join(root, "bench/_web-verify-page.ts") }, outDir: path.join(root, "build/bench/web-page"), embed: false });
    const b = await newPage(browser);
    await b.page.route(/\/assets\/player\.[0-9a-f]+\.js$/, (r) => r.fulfill({ status: 200, contentType: "text/javascript", body: built.verifybench!.body }));
    await b.page.goto(`${live.url}/watch/${PATH}`);
    const verify = (await b.page.evaluate(() => (window as unknown as { __bench: Promise<unknown> }).__bench)) as { bytes: number; blake3Ms: number; sha256Ms: number };
    await b.context.close();

    const gz = (s: string) => gzipSync(s, { level: 9 }).length;
    const hlsAlone = gz(fs.readFileSync(path.join(root, "node_modules/hls.js/dist/hls.light.min.js"), "utf8"));
    const sizes = { player: gz(WEB_ASSETS.player.body), dashboard: gz(WEB_ASSETS.dashboard.body), publish: gz(WEB_ASSETS.publish.body), index: gz(WEB_ASSETS.index.body), style: gz(WEB_ASSETS.style.body) };
    const load1 = os.loadavg();

    const results = {
      viewers: VIEWERS,
      window_seconds: SECONDS,
      offload: {
        p2p_on: { peer_bytes: on.peer, origin_bytes: on.origin, node_origin_bytes: on.nodeOrigin, peer_share: Number(on.share.toFixed(3)), longest_stall_ms: on.stallMaxMs, rejected: on.rejected },
        p2p_off: { peer_bytes: off.peer, origin_bytes: off.origin, node_origin_bytes: off.nodeOrigin, peer_share: Number(off.share.toFixed(3)), longest_stall_ms: off.stallMaxMs },
        origin_bytes_ratio_on_vs_off: Number((on.nodeOrigin / Math.max(1, off.nodeOrigin)).toFixed(3)),
        goal_peer_share: 0.6,
      },
      startup_first_frame_ms: { p2p_on: startP2p, p2p_off: startHttp, ratio_on_vs_off: Number((startP2p / startHttp).toFixed(2)) },
      verify_segment_ms: { bytes: verify.bytes, blake3_wasm: Number(verify.blake3Ms.toFixed(3)), sha256_webcrypto: Number(verify.sha256Ms.toFixed(3)), ratio_blake3_vs_sha256: Number((verify.blake3Ms / verify.sha256Ms).toFixed(2)) },
      bundle_gzip_bytes: { ...sizes, hls_light_alone: hlsAlone, dashboard_target: 30 * 1024 },
      load_average: { before: load0.map((x) => Number(x.toFixed(2))), after: load1.map((x) => Number(x.toFixed(2))), cores: os.cpus().length },
    };

    const row = (cells: (string | number)[]) => console.log(`| ${cells.join(" | ")} |`);
    row(["row", "value", "anchor (same run)", "ratio"]);
    row(["---", "---", "---", "---"]);
    row([`origin offload, ${VIEWERS} viewers, P2P on: share of segment bytes from peers`, `${(on.share * 100).toFixed(1)} %`, `P2P off: ${(off.share * 100).toFixed(1)} % (goal 60 %)`, "-"]);
    row([`origin segment bytes served in ${SECONDS} s (node counter)`, `${kb(on.nodeOrigin)} KiB with P2P`, `${kb(off.nodeOrigin)} KiB without`, `${results.offload.origin_bytes_ratio_on_vs_off} x`]);
    row(["longest stall of any viewer", `${on.stallMaxMs} ms with P2P`, `${off.stallMaxMs} ms without`, "-"]);
    row(["startup: page open -> first frame, 4 viewers playing (median of 3)", `${startP2p} ms with P2P`, `${startHttp} ms without`, `${results.startup_first_frame_ms.ratio_on_vs_off} x`]);
    row([`verify one ${kb(verify.bytes)} KiB segment in the browser (median of 9 batches of 20)`, `${verify.blake3Ms.toFixed(2)} ms BLAKE3 (WASM)`, `${verify.sha256Ms.toFixed(2)} ms SHA-256 (WebCrypto)`, `${results.verify_segment_ms.ratio_blake3_vs_sha256} x`]);
    row(["player bundle, gzipped", `${kb(sizes.player)} KiB`, `hls.js light alone ${kb(hlsAlone)} KiB`, `${(sizes.player / hlsAlone).toFixed(2)} x`]);
    row(["dashboard bundle, gzipped", `${kb(sizes.dashboard)} KiB`, "target 30 KiB", `${(sizes.dashboard / (30 * 1024)).toFixed(2)} x`]);
    console.log(`\nload average ${load0.map((x) => x.toFixed(2)).join(" ")} before, ${load1.map((x) => x.toFixed(2)).join(" ")} after (${os.cpus().length} cores)`);
    fs.mkdirSync(path.join(root, "bench/results"), { recursive: true });
    fs.writeFileSync(path.join(root, "bench/results/web.json"), `${JSON.stringify({ node: process.version, results }, null, 2)}\n`);
  } finally {
    await browser?.close();
    await live.stop();
  }
}

await main();
