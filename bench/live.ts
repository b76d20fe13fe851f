// Live ingest bench: the real node (dist/slowdrip.mjs) with MediaMTX as its child and a 2 Mbit/s ffmpeg RTMP publish.
// Ingest latency = from MediaMTX finishing a segment (its runOnRecordSegmentComplete log timestamp) to the signed
// manifest listing that segment being served (GET /live/<path>/manifest.json completes right after the SEGMENT_SEALED
// event of StreamService.WatchEvents). Also the node's and MediaMTX's CPU share during the publish.
// Run: npm run bench -- live   (figures also in bench/results/live.json; BENCH_LIVE_SEGMENTS=N, default 120: the goal is stated over >= 120)
// BENCH_LIVE_DUMP=1 also prints the node's per-segment lines (file, duration, stage timings) and MediaMTX's hook launches.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { LiveEventType, StreamService } from "../src/gen/slowdrip/v1/stream_pb.ts";
import { liveNodeEnv, waitMediamtxReady } from "../test/media/peers.ts";

const root = process.cwd();
const SEGMENTS = Number(process.env.BENCH_LIVE_SEGMENTS ?? 120);
const work = fs.mkdtempSync(path.join(os.tmpdir(), "slowdrip-bench-live-"));
const NODE = path.join(root, "node_modules/.bin/node");

function lastLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { cwd: root, encoding: "utf8", timeout: 20 * 60_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout.trim().split("\n").pop()!;
}

/** utime+stime of a process in seconds (Linux /proc). */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

async function main(): Promise<void> {
  const binary = lastLine(NODE, [path.join(root, "scripts/mediamtx-install.mjs")]);
  lastLine("sh", [path.join(root, "test/peers/ffmpeg.sh")]);
  const { env, url: base, rtmp } = await liveNodeEnv({ SLOWDRIP_NODE_LOG_LEVEL: "debug", SLOWDRIP_MEDIAMTX_BINARY: binary });
  const dataDir = path.join(work, "data");
  const node: ChildProcess = spawn(NODE, [path.join(root, "dist/slowdrip.mjs"), "run", "--data-dir", dataDir], { env, stdio: ["ignore", "pipe", "inherit"] });
  const finished: number[] = [];
  // The node's own stage timings per segment (its "live: segment ingested" debug line), by seq.
  type Stages = { receivedAtMs: number; waitMs: number; readMs: number; hashMs: number; commitMs: number; signMs: number; saveMs: number };
  const stages = new Map<number, Stages>();
  let mtxPid = 0;
  let buf = "";
  node.stdout!.setEncoding("utf8").on("data", (c: string) => {
    buf += c;
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (process.env.BENCH_LIVE_DUMP && (line.includes("segment ingested") || line.includes("runOnRecordSegmentComplete"))) console.error(line.slice(0, 400));
      if (line.includes('"live: segment ingested"')) {
        try {
          const j = JSON.parse(line) as Stages & { seq: number; path: string };
          if (j.path === "live/bench") stages.set(j.seq, j);
        } catch {
          /* not JSON */
        }
        continue;
      }
      if (!line.includes("mediamtx")) continue;
      try {
        const j = JSON.parse(line) as { mediamtx?: string; mediamtx_time?: string; detail?: string };
        if (j.mediamtx?.includes("[path live/bench] runOnRecordSegmentComplete command launched") && j.mediamtx_time) {
          finished.push(Date.parse(j.mediamtx_time));
        }
        const m = /MediaMTX pid (\d+)/.exec(j.detail ?? "");
        if (m) mtxPid = Number(m[1]);
      } catch {
        /* not JSON */
      }
    }
  });
  await waitMediamtxReady(base, 60_000);
  const token = lastLine(NODE, [path.join(root, "dist/slowdrip.mjs"), "token", "issue", "--action", "publish", "--path", "live/bench", "--data-dir", dataDir]);

  const client = createClient(StreamService, createConnectTransport({ baseUrl: base, httpVersion: "1.1" }));
  const abort = new AbortController();
  const served: { seq: number; at: number }[] = [];
  const watching = (async () => {
    try {
      for await (const e of client.watchEvents({ path: "live/bench" }, { signal: abort.signal })) {
        if (e.type !== LiveEventType.SEGMENT_SEALED) continue;
        const seq = Number(e.segmentSeq);
        const r = await fetch(`${base}/live/live/bench/manifest.json`);
        const j = (await r.json()) as { manifest: { segments: { seq: number }[] } };
        if (j.manifest.segments.some((s) => s.seq === seq)) served.push({ seq, at: Date.now() });
        if (served.length >= SEGMENTS + 2) break;
      }
    } catch (e) {
      if (!abort.signal.aborted) throw e;
    }
  })();

  const ffmpeg = spawn("ffmpeg", [
    "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
    "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
    "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p", "-g", "30", "-keyint_min", "30", "-sc_threshold", "0",
    "-b:v", "1900k", "-maxrate", "1900k", "-bufsize", "1900k", "-c:a", "aac", "-b:a", "96k",
    "-f", "flv", `rtmp://127.0.0.1:${rtmp}/live/bench?token=${token}`,
  ], { stdio: ["ignore", "ignore", "inherit"] });

  // CPU window: from the first sealed segment to the last measured one.
  while (served.length < 1) await new Promise((r) => setTimeout(r, 50));
  const nodePid = node.pid!;
  const cpu0 = { node: cpuSeconds(nodePid), mtx: mtxPid ? cpuSeconds(mtxPid) : 0, ff: cpuSeconds(ffmpeg.pid!), t: performance.now() };
  const limit = Date.now() + (SEGMENTS + 60) * 1500;
  while (served.length < SEGMENTS + 2 && Date.now() < limit) await new Promise((r) => setTimeout(r, 100));
  const cpu1 = { node: cpuSeconds(nodePid), mtx: mtxPid ? cpuSeconds(mtxPid) : 0, ff: cpuSeconds(ffmpeg.pid!), t: performance.now() };
  ffmpeg.kill("SIGINT");
  abort.abort();
  await watching;

  // Pair each served segment with the latest MediaMTX "segment complete" before it (segments are 1 s apart, so a
  // skipped notice - e.g. an empty first segment - cannot shift the pairing); skip the stream's first segment.
  const lat: number[] = [];
  const STAGES = ["hook (MediaMTX runs it, post arrives)", "reorder wait", "read file", "hashes", "store commit", "sign", "save manifest", "publish (event + manifest GET)"] as const;
  const perStage = new Map<string, number[]>(STAGES.map((n) => [n, []]));
  const perSegment: { seq: number; ms: number; stages?: number[] }[] = [];
  let k = 0;
  for (const s of served) {
    while (k + 1 < finished.length && finished[k + 1]! <= s.at) k++;
    const f = finished[k];
    if (s.seq === 0 || f === undefined || f > s.at) continue;
    lat.push(s.at - f);
    k++;
    const st = stages.get(s.seq);
    perSegment.push({ seq: s.seq, ms: s.at - f });
    if (!st) continue;
    const inNode = st.waitMs + st.readMs + st.hashMs + st.commitMs + st.signMs + st.saveMs;
    const parts = [st.receivedAtMs - f, st.waitMs, st.readMs, st.hashMs, st.commitMs, st.signMs, st.saveMs, s.at - st.receivedAtMs - inNode];
    parts.forEach((v, i) => perStage.get(STAGES[i]!)!.push(v));
    perSegment[perSegment.length - 1]!.stages = parts.map((v) => Number(v.toFixed(1)));
  }
  const wall = (cpu1.t - cpu0.t) / 1000;
  const results = {
    ingest_latency_ms: {
      segments: lat.length,
      p50: Number(pct(lat, 50).toFixed(1)),
      p95: Number(pct(lat, 95).toFixed(1)),
      max: Number(Math.max(...lat).toFixed(1)),
      target_p95: 50,
      target_max: 150,
    },
    cpu_share_percent_of_one_core: {
      node: Number((((cpu1.node - cpu0.node) / wall) * 100).toFixed(1)),
      mediamtx: Number((((cpu1.mtx - cpu0.mtx) / wall) * 100).toFixed(1)),
      ffmpeg_publisher: Number((((cpu1.ff - cpu0.ff) / wall) * 100).toFixed(1)),
      window_seconds: Number(wall.toFixed(1)),
      cores: os.cpus().length,
    },
  };
  console.log("| ingest latency (MediaMTX segment done -> signed manifest served) | segments | p50 ms | p95 ms | max ms | target p95 / max ms |");
  console.log("|---|---|---|---|---|---|");
  const l = results.ingest_latency_ms;
  console.log(`| 1 s segments, 2 Mbit/s RTMP | ${l.segments} | ${l.p50} | ${l.p95} | ${l.max} | ${l.target_p95} / ${l.target_max} |`);
  console.log("");
  console.log("| stage (ms; log and wall clocks, ±1 ms) | p50 | p95 | max |");
  console.log("|---|---|---|---|");
  const stageRows: Record<string, { p50: number; p95: number; max: number }> = {};
  for (const [name, xs] of perStage) {
    if (xs.length === 0) continue;
    const r = { p50: Number(pct(xs, 50).toFixed(1)), p95: Number(pct(xs, 95).toFixed(1)), max: Number(Math.max(...xs).toFixed(1)) };
    stageRows[name] = r;
    console.log(`| ${name} | ${r.p50} | ${r.p95} | ${r.max} |`);
  }
  console.log("");
  console.log("| CPU during a 2 Mbit/s publish (% of one core) | node | mediamtx | ffmpeg (publisher) | window s | cores |");
  console.log("|---|---|---|---|---|---|");
  const c = results.cpu_share_percent_of_one_core;
  console.log(`| live ingest | ${c.node} | ${c.mediamtx} | ${c.ffmpeg_publisher} | ${c.window_seconds} | ${c.cores} |`);
  fs.mkdirSync(path.join(root, "bench/results"), { recursive: true });
  fs.writeFileSync(path.join(root, "bench/results/live.json"), `${JSON.stringify({ node: process.version, load: os.loadavg(), results: { ...results, stages_ms: stageRows }, stage_names: STAGES, per_segment: perSegment }, null, 2)}\n`);

  const exited = new Promise((r) => node.once("exit", r));
  node.kill("SIGTERM");
  await exited;
  fs.rmSync(work, { recursive: true, force: true });
  if (lat.length < Math.min(SEGMENTS, 60)) {
    console.error(`only ${lat.length} segments measured`);
    process.exitCode = 1;
  }
}

await main();
