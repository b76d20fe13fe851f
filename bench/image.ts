// The appliance image (npm run bench -- image): build time and size per arch, then boots under TCG of the x64 image
// against a minimal Debian image with the same kernel serving one static file (image/minimal.mjs), same run,
// alternating; idle memory of the booted node. Not part of a plain `npm run bench`: it takes some 15 minutes.
//
// Options (after --): --boot-arch=x64|arm64 (default x64), BENCH_IMAGE_ROUNDS (default 2), BENCH_IMAGE_ARCHES
// (default "x64,arm64": the arches built).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { freePorts, Vm, waitOk, type Forwards } from "../test/image/vm.ts";

const root = process.cwd();
const out = path.join(root, "build/bench-image");
const ROUNDS = Number(process.env.BENCH_IMAGE_ROUNDS ?? 2);
const ARCHES = (process.env.BENCH_IMAGE_ARCHES ?? "x64,arm64").split(",") as ("x64" | "arm64")[];
const bootArch = (process.argv.find((a) => a.startsWith("--boot-arch="))?.slice("--boot-arch=".length) ?? "x64") as "x64" | "arm64";
if (bootArch !== "x64" && bootArch !== "arm64") throw new Error(`--boot-arch must be x64 or arm64, not ${bootArch}`);
const BOOT_MS = 20 * 60_000;

const load = () => fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const log = (s: string) => process.stderr.write(`[bench image] ${s}\n`);

interface Build { image: string; raw: string; version: string; kernel: string; rootfsCached: boolean; rootfsBuiltSeconds?: number; sizes: { compressed: number; uncompressed: number }; seconds: { total: number } }

/** Run one of image/'s scripts; its last stdout line is its JSON result. */
function script(file: string, args: string[]): Record<string, unknown> {
  const r = spawnSync(process.execPath, [path.join(root, "image", file), ...args], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 60 * 60_000 });
  if (r.status !== 0) throw new Error(`image/${file} ${args.join(" ")} failed (exit ${r.status})`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

// 1. Builds. The test image (--debug-shell) is the product image plus a root shell on a serial port, the bench's
// channel for the memory figures; it boots the same units.
const builds: Partial<Record<"x64" | "arm64", Build>> = {};
for (const arch of ARCHES) {
  log(`building the ${arch} image (load ${load()})`);
  builds[arch] = script("build.mjs", ["--arch", arch, "--raw", "--debug-shell", "--out", path.join(out, arch)]) as unknown as Build;
}
if (!builds[bootArch]) builds[bootArch] = script("build.mjs", ["--arch", bootArch, "--raw", "--debug-shell", "--out", path.join(out, bootArch)]) as unknown as Build;
log(`building the minimal ${bootArch} image`);
const minimal = script("minimal.mjs", ["--arch", bootArch, "--out", out]) as { image: string; kernel: string };
const product = builds[bootArch]!;
if (minimal.kernel !== product.kernel) throw new Error(`minimal image kernel ${minimal.kernel} is not the product's ${product.kernel}`);

// 2. Boots, alternating product and minimal. A product round: power-on to /healthz and /readyz on a fresh disk (the
// first boot a flashed card makes), idle memory 60 s after /readyz, a clean power-off, then the same disk booted
// again (every later boot). The minimal image: power-on to its static file.
interface Round { first: { healthz: number; readyz: number }; again: { healthz: number; readyz: number }; minimal: number; rss: { slowdrip: number; mediamtx: number }; load: string }
const rounds: Round[] = [];
const rssOf = async (vm: Vm, unit: string): Promise<number> => {
  const r = await vm.sh(`grep VmRSS /proc/$(systemctl show -p MainPID --value ${unit})/status | awk '{print $2}'`);
  const kib = Number(r.out.trim());
  if (!(kib > 0)) throw new Error(`no RSS for ${unit}: ${r.out}`);
  return kib / 1024;
};
for (let i = 0; i < ROUNDS; i++) {
  const [http, admin, rtmp] = await freePorts(3);
  const ports: Forwards = { http: http!, admin: admin!, rtmp: rtmp! };
  const dir = path.join(out, `vm-${bootArch}`);
  fs.rmSync(dir, { recursive: true, force: true });
  const l0 = load();
  let vm = await Vm.boot({ image: product.raw, dir, arch: bootArch, accel: "tcg" }, ports);
  const first = { healthz: await waitOk(`http://127.0.0.1:${http}/healthz`, vm.startedAt, BOOT_MS), readyz: await waitOk(`http://127.0.0.1:${http}/readyz`, vm.startedAt, BOOT_MS) };
  await new Promise((r) => setTimeout(r, 60_000));
  const rss = { slowdrip: await rssOf(vm, "slowdrip.service"), mediamtx: await rssOf(vm, "slowdrip-mediamtx.service") };
  await vm.poweroff();
  vm = await Vm.boot({ image: product.raw, dir, arch: bootArch, accel: "tcg", reuseDisk: true }, ports);
  const again = { healthz: await waitOk(`http://127.0.0.1:${http}/healthz`, vm.startedAt, BOOT_MS), readyz: await waitOk(`http://127.0.0.1:${http}/readyz`, vm.startedAt, BOOT_MS) };
  await vm.kill();
  fs.rmSync(dir, { recursive: true, force: true });
  const mvm = await Vm.boot({ image: minimal.image, dir, arch: bootArch, accel: "tcg" }, ports);
  const minimalMs = await waitOk(`http://127.0.0.1:${http}/healthz`, mvm.startedAt, BOOT_MS);
  await mvm.kill();
  rounds.push({ first, again, minimal: minimalMs, rss, load: `${l0} → ${load()}` });
  log(`round ${i + 1}: first boot /healthz ${(first.healthz / 1000).toFixed(1)} s /readyz ${(first.readyz / 1000).toFixed(1)} s; again ${(again.healthz / 1000).toFixed(1)} / ${(again.readyz / 1000).toFixed(1)} s; minimal ${(minimalMs / 1000).toFixed(1)} s; RSS node ${rss.slowdrip.toFixed(0)} MiB, MediaMTX ${rss.mediamtx.toFixed(0)} MiB`);
}

// 3. Tables.
const s = (ms: number) => (ms / 1000).toFixed(1);
console.log("| arch | build s (this run) | root fs build s (uncached) | compressed MB | uncompressed MB |");
console.log("|---|---|---|---|---|");
for (const [arch, b] of Object.entries(builds)) {
  console.log(`| ${arch} | ${b!.seconds.total.toFixed(0)}${b!.rootfsCached ? " (root fs cached)" : ""} | ${b!.rootfsBuiltSeconds?.toFixed(0) ?? "?"} | ${(b!.sizes.compressed / 1e6).toFixed(0)} | ${(b!.sizes.uncompressed / 1e6).toFixed(0)} |`);
}
const m = median(rounds.map((r) => r.minimal));
const row = (name: string, xs: number[]) => `| ${name} | ${xs.map(s).join(", ")} | ${s(median(xs))} | ${(median(xs) / m).toFixed(2)}× |`;
console.log(`\nBoot under TCG (${bootArch}, 2 vCPUs), power-on to the first HTTP 200; ratio: median against the minimal image's median, same run (goal ≤ 1.2×)\n`);
console.log("| image, endpoint | rounds s | median s | ratio |");
console.log("|---|---|---|---|");
console.log(row("minimal (busybox httpd), /healthz", rounds.map((r) => r.minimal)));
console.log(row("SlowDrip first boot, /healthz", rounds.map((r) => r.first.healthz)));
console.log(row("SlowDrip first boot, /readyz", rounds.map((r) => r.first.readyz)));
console.log(row("SlowDrip later boot, /healthz", rounds.map((r) => r.again.healthz)));
console.log(row("SlowDrip later boot, /readyz", rounds.map((r) => r.again.readyz)));
console.log(`\nIdle memory 60 s after /readyz (first boot): node ${median(rounds.map((r) => r.rss.slowdrip)).toFixed(0)} MiB RSS, MediaMTX ${median(rounds.map((r) => r.rss.mediamtx)).toFixed(0)} MiB RSS`);
console.log(`load average per round: ${rounds.map((r) => r.load).join("; ")}`);
fs.mkdirSync(path.join(root, "bench/results"), { recursive: true });
fs.writeFileSync(path.join(root, "bench/results/image.json"), `${JSON.stringify({ node: process.version, bootArch, builds, minimal, rounds }, null, 2)}\n`);
