// Seeded fuzzing of the public listener of a real paying node (real nutshell mint): no 5xx, no server fault, no state change.
//
// `npm test` runs a few thousand cases with a fresh seed; `npm run fuzz` runs 100,000 or more (scripts/fuzz.mjs). The
// seed is printed; SLOWDRIP_FUZZ_SEED, SLOWDRIP_FUZZ_CASES and SLOWDRIP_FUZZ_FIRST replay a run or one case of it, and
// SLOWDRIP_FUZZ_ONLY (kinds such as "raw,rpc grpc") keeps only some kinds of case.
import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { randomSeed } from "./rng.ts";
import { runFuzz, type FuzzReport } from "./run.ts";
import { observeState, serverErrors, startFuzzTarget, type FuzzTarget } from "./target.ts";

const CASES = Number(process.env.SLOWDRIP_FUZZ_CASES ?? 3000);
const FIRST = Number(process.env.SLOWDRIP_FUZZ_FIRST ?? 0);
const ONLY = (process.env.SLOWDRIP_FUZZ_ONLY ?? "").split(",").map((k) => k.trim()).filter(Boolean);
const SEED = process.env.SLOWDRIP_FUZZ_SEED ? Number(process.env.SLOWDRIP_FUZZ_SEED) >>> 0 : randomSeed();

let target: FuzzTarget;
let before: unknown;

// The first run on a machine installs nutshell (pip).
beforeAll(async () => {
  target = await startFuzzTarget();
  before = await observeState(target);
}, 600_000);
afterAll(() => target?.stop());

it(`${CASES} fuzz cases against the public listener: no 5xx, nothing logged as a server error, state unchanged`, async () => {
  // The one place that names what is fuzzed: the node's public listener.
  const url = target.url;
  console.log(`fuzz: seed ${SEED}, cases ${FIRST}..${FIRST + CASES - 1} against ${url}; replay with: npm run fuzz -- --seed ${SEED} --first ${FIRST} --cases ${CASES}`);
  const cpu0 = nodeCpuMs(target.child.pid!);
  const own0 = process.cpuUsage();
  const report: FuzzReport = await runFuzz({
    url,
    seed: SEED,
    first: FIRST,
    cases: CASES,
    only: ONLY,
    pools: { hashes: target.hashes, spentToken: target.spentToken, mint: target.mint },
    every: Math.max(1000, Math.floor(CASES / 10)),
    onProgress: (n) => console.log(`fuzz: ${n}/${CASES} cases, ${report0()}`),
  });
  const rate = Math.round((CASES / report.ms) * 1000);
  const cpu = nodeCpuMs(target.child.pid!) - cpu0;
  const own = process.cpuUsage(own0);
  console.log(`fuzz: ${CASES} cases in ${(report.ms / 1000).toFixed(1)} s (${rate} cases/s; the node used ${(cpu / 1000).toFixed(1)} s of CPU, ${(cpu / CASES).toFixed(2)} ms per case, the fuzzer ${((own.user + own.system) / 1e6).toFixed(1)} s), ${report.findings.length} findings; outcomes ${JSON.stringify(report.outcomes)}`);
  console.log(`fuzz: time per kind (ms, summed over workers): ${JSON.stringify(Object.fromEntries(Object.entries(report.kindMs).map(([k, v]) => [k, Math.round(v)])))}`);
  console.log(`fuzz: slowest cases ${JSON.stringify(report.slowest, null, 1)}`);
  if (process.env.SLOWDRIP_FUZZ_REPORT) writeFileSync(process.env.SLOWDRIP_FUZZ_REPORT, JSON.stringify({ ...report, rate }, null, 1));
  if (report.findings.length > 0) {
    await new Promise((r) => setTimeout(r, 500));
    const state = target.child.exitCode !== null || target.child.signalCode !== null ? `exited (${target.child.exitCode ?? target.child.signalCode})` : "running";
    console.log(`fuzz: the node is ${state}; its last lines:\n${target.logs().split("\n").slice(-40).join("\n")}`);
  }
  expect(report.findings.slice(0, 25), `seed ${SEED}: ${report.findings.length} findings`).toEqual([]);
  expect(target.child.exitCode, "the node is still running").toBeNull();
  expect((await fetch(`${url}/healthz`)).status).toBe(200);
  expect(serverErrors(target.logs()).slice(0, 10)).toEqual([]);
  expect(await observeState(target)).toEqual(before);
}, Math.max(300_000, CASES * 20));

/** CPU time (user + system) a process has used, in ms (Linux /proc; 0 elsewhere). */
function nodeCpuMs(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

const started = performance.now();
function report0(): string {
  return `${((performance.now() - started) / 1000).toFixed(0)} s since the file loaded`;
}
