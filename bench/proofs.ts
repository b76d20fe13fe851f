// Proofs bench: storage proofs (4 MiB shards in a real LMDB store, c = 16 chunks) - proofs/s on one core,
// verifications/s on one thread and with the signatures on a worker thread (the warden's path), and proof bytes, beside the published figures of Hippius' Plonky3 proofs and Filecoin WinningPoSt;
// ECVRF prove/verify beside @noble/curves Ed25519 sign/verify in the same run; receipt intake/s on one core with
// batching on. Run: npm run bench -- proofs   (figures also in bench/results/proofs.json)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { toBinary } from "@bufbuild/protobuf";
import { ed25519 } from "@noble/curves/ed25519.js";
import { PosChallengeResponseSchema } from "../src/gen/slowdrip/v1/proofs_pb.ts";
import { identityFromSecret } from "../src/identity/identity.ts";
import { randomSecret } from "../src/identity/ed25519.ts";
import { ReceiptIntake } from "../src/proofs/intake.ts";
import { signReceipt, verifyReceipt, type SignedReceipt } from "../src/proofs/receipts.ts";
import { answerBytes, answerChallenge, randomNonce, verifyAnswer, type PosAnswer, type PosChallenge } from "../src/proofs/storage.ts";
import { VrfProver, vrfVerify } from "../src/proofs/vrf.ts";
import { closeSignaturePool, signaturePoolSize, verifyAnswerParallel } from "../src/proofs/sig-pool.ts";
import { answerToWire } from "../src/rpc/proofs.ts";
import { LmdbBlobStore } from "../src/store/lmdb.ts";
import { openLmdb } from "../src/store/lmdb-native.ts";
import { baoVerifyChunkSlices, baoVerifySlice, fromHex, toHex } from "../src/wasm/index.ts";
import { ed25519Sign, ed25519Verify } from "../src/proofs/sign.ts";

const MiB = 1024 * 1024;
const quick = process.argv.includes("--quick");
const SECONDS = quick ? 0.5 : 2;
const dir = mkdtempSync(join(tmpdir(), "slowdrip-bench-proofs-"));
type Row = Record<string, number | string>;
const rows: Record<string, Row> = {};
const load: number[][] = [loadavg()];

/** A rate measured two ways: wall clock, and process CPU time (user + system, every thread), which load moves less. */
interface Rate {
  wall: number;
  cpu: number;
  /** 1-minute load average when the measurement ended (`uptime`). */
  load: number;
}

/**
 * Calls per second of `fn` over about `seconds` (after a short warm-up), with `inflight` calls kept in flight: 1 is one
 * call after another on this thread; more lets the signature pool's workers take part (CPU time counts every thread).
 */
async function rate(fn: () => unknown | Promise<unknown>, seconds = SECONDS, inflight = 1): Promise<Rate> {
  // Each case starts from a collected heap (run.mjs passes --expose-gc), so garbage one case left is not billed to the next.
  (globalThis as { gc?: () => void }).gc?.();
  for (let i = 0; i < 5; i++) await Promise.all(Array.from({ length: inflight }, () => fn()));
  let n = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(Array.from({ length: inflight }, async () => {
    while (performance.now() < end) {
      await fn();
      n++;
    }
  }));
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { wall: n / wall, cpu: n / ((c.user + c.system) / 1e6), load: loadavg()[0]! };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Same-run ratio a/b per round, then the median (load that changes between rounds cancels out of each ratio). */
function pairedRatio(a: Rate[], b: Rate[], key: "wall" | "cpu"): number {
  return median(a.map((x, i) => x[key] / b[i]![key]));
}

const miner = identityFromSecret(randomSecret());
const warden = identityFromSecret(randomSecret());
let store: LmdbBlobStore | undefined;
let db: Awaited<ReturnType<typeof openLmdb>> | undefined;
try {
  // ---------- ECVRF against Ed25519, same run (first, on a fresh heap and JIT state; printed after PoS) ----------
  const vrfRows: Record<string, Row> = {};
  const sk = randomSecret();
  const prover = new VrfProver(sk);
  const vmsg = crypto.getRandomValues(new Uint8Array(40));
  const { pi } = prover.prove(vmsg);
  const sig = ed25519.sign(vmsg, sk);
  const pk = ed25519.getPublicKey(sk);
  const vrfCases = {
    "Ed25519 sign (@noble/curves)": () => ed25519.sign(vmsg, sk),
    "Ed25519 verify (@noble/curves)": () => ed25519.verify(sig, vmsg, pk),
    "ECVRF prove": () => prover.prove(vmsg),
    "ECVRF verify": () => vrfVerify(pk, vmsg, pi),
  };
  const vrfRounds: Record<string, Rate[]> = {};
  for (let r = 0; r < (quick ? 1 : 7); r++) {
    for (const [k, f] of Object.entries(vrfCases)) (vrfRounds[k] ??= []).push(await rate(f, SECONDS / 2));
  }
  const edV = vrfRounds["Ed25519 verify (@noble/curves)"]!;
  for (const [name, rs] of Object.entries(vrfRounds)) {
    const wall = median(rs.map((x) => x.wall));
    vrfRows[name] = {
      "ops/s": Math.round(wall),
      "ops/s (CPU time)": Math.round(median(rs.map((x) => x.cpu))),
      "ms/op": +(1000 / wall).toFixed(2),
      "time x Ed25519 verify (median of paired rounds)": +pairedRatio(edV, rs, "wall").toFixed(2),
      "time x Ed25519 verify (CPU time)": +pairedRatio(edV, rs, "cpu").toFixed(2),
      "load average (1 min, median over rounds)": +median(rs.map((x) => x.load)).toFixed(2),
      goal: name.startsWith("ECVRF") ? "<= 2x Ed25519 verify" : "",
    };
  }

  // ---------- proof of storage ----------
  store = await LmdbBlobStore.open({ path: join(dir, "store") });
  const shards: string[] = [];
  for (let i = 0; i < (quick ? 4 : 32); i++) shards.push((await store.import([randomShard(4 * MiB, i)])).hash);
  let k = 0;
  const challenge = (): PosChallenge => {
    const shard = shards[k++ % shards.length]!;
    return { shard, nonce: randomNonce(), count: 16, root: shard };
  };
  // The node's own functions: answerChallenge over the LMDB store (the miner's PosResponder calls it), verifyAnswer (the
  // warden calls it on every answer). One call after another on this thread, so proofs/s/core is calls per second; the
  // CPU-time figure divides by the process's CPU seconds instead of wall seconds.
  const answers: [PosChallenge, PosAnswer][] = [];
  for (let i = 0; i < 64; i++) {
    const ch = challenge();
    answers.push([ch, await answerChallenge(store, ch, miner, warden.nodeId)]);
  }
  let j = 0;
  const nextAnswer = () => answers[j++ % answers.length]!;
  const msg = new Uint8Array(300);
  const edSig = ed25519Sign(msg, miner.secretKey);
  const edPub = fromHex(miner.nodeId);
  const posCases = {
    prove: () => answerChallenge(store!, challenge(), miner, warden.nodeId),
    verify: () => {
      const [ch, a] = nextAnswer();
      verifyAnswer(ch, a, miner.nodeId, warden.nodeId);
    },
    slices: () => {
      const [ch, a] = nextAnswer();
      const root = fromHex(ch.root);
      a.chunks.forEach((c, i) => baoVerifySlice(root, a.slices[i]!, c * 1024, Math.min(1024, a.size - c * 1024)));
    },
    // What verifyAnswer does with the slices: all of them in one wasm call, then the same call with the framed digest.
    "slices, one call": () => {
      const [ch, a] = nextAnswer();
      if (baoVerifyChunkSlices(fromHex(ch.root), a.size, a.slices, a.chunks).bad !== -1) throw new Error("a slice did not verify");
    },
    "slices + digest, one call": () => {
      const [ch, a] = nextAnswer();
      if (baoVerifyChunkSlices(fromHex(ch.root), a.size, a.slices, a.chunks, { digest: true }).bad !== -1) throw new Error("a slice did not verify");
    },
    "ed25519 verify": () => ed25519Verify(edSig, msg, edPub),
  };
  const posRounds: Record<string, Rate[]> = {};
  // The warden's path: verifyAnswerParallel (answer checks and slices on this thread, the signature on a worker), with
  // 64 answers in flight; measured in the same rounds.
  const VERIFY_IN_FLIGHT = 64;
  const pooled = () => {
    const [ch, a] = nextAnswer();
    return verifyAnswerParallel(ch, a, miner.nodeId, warden.nodeId);
  };
  for (let r = 0; r < (quick ? 1 : 5); r++) {
    for (const [name, f] of Object.entries(posCases)) (posRounds[name] ??= []).push(await rate(f, SECONDS / 2));
    (posRounds["verify, 2 threads"] ??= []).push(await rate(pooled, SECONDS / 2, VERIFY_IN_FLIGHT));
  }
  const pos = Object.fromEntries(Object.entries(posRounds).map(([k, rs]) => [k, {
    wall: median(rs.map((x) => x.wall)), cpu: median(rs.map((x) => x.cpu)), load: median(rs.map((x) => x.load)),
  }])) as Record<keyof typeof posCases | "verify, 2 threads", Rate>;
  const a0 = answers[0]![1];
  const wire = toBinary(PosChallengeResponseSchema, answerToWire(a0)).length;
  const sigShare = pairedRatio(posRounds.verify!, posRounds["ed25519 verify"]!, "cpu");
  rows["PoS 4 MiB shard, c = 16 (+ final chunk): SlowDrip Bao slices"] = {
    "proofs/s/core (wall, one call after another)": Math.round(pos.prove.wall),
    "proofs/s/core (CPU time)": Math.round(pos.prove.cpu),
    "verifications/s (wall)": Math.round(pos.verify.wall),
    "verifications/s (CPU time)": Math.round(pos.verify.cpu),
    "verifications/s, 2 threads: signature on a worker (wall, 64 in flight)": Math.round(pos["verify, 2 threads"].wall),
    "verifications per CPU-second, 2 threads (every thread's CPU time)": Math.round(pos["verify, 2 threads"].cpu),
    "x one thread, 2 threads (wall, paired rounds)": +pairedRatio(posRounds["verify, 2 threads"]!, posRounds.verify!, "wall").toFixed(2),
    "signature worker threads": signaturePoolSize(),
    "slice checks/s, 17 slices, no signature (wall)": Math.round(pos.slices.wall),
    "slice checks/s, 17 slices, no signature (CPU time)": Math.round(pos.slices.cpu),
    "slice checks/s, 17 slices in one wasm call (CPU time)": Math.round(pos["slices, one call"].cpu),
    "slice checks + signed digest/s, one wasm call (CPU time)": Math.round(pos["slices + digest, one call"].cpu),
    "x one slice at a time (one call, CPU time, paired rounds)": +pairedRatio(posRounds["slices, one call"]!, posRounds.slices!, "cpu").toFixed(2),
    "Ed25519 verify/s, node:crypto, same run (CPU time)": Math.round(pos["ed25519 verify"].cpu),
    "share of a verification's CPU time that is the signature check": +sigShare.toFixed(2),
    "proof bytes (slices)": answerBytes(a0),
    "proof bytes (wire)": wire,
    "goal proofs/s": 1000,
    "goal verifications/s": 5000,
    "x goal proofs (wall)": +(pos.prove.wall / 1000).toFixed(2),
    "x goal proofs (CPU time)": +(pos.prove.cpu / 1000).toFixed(2),
    "x goal verifications (wall)": +(pos.verify.wall / 5000).toFixed(2),
    "x goal verifications (CPU time)": +(pos.verify.cpu / 5000).toFixed(2),
    "x goal verifications, 2 threads (wall)": +(pos["verify, 2 threads"].wall / 5000).toFixed(2),
    "load average (1 min, median over rounds)": +median(Object.values(pos).map((x) => x.load)).toFixed(2),
    method: "median of 5 paired rounds (prove, verify, slices one at a time, slices in one call without and with the digest, Ed25519 verify, verify on 2 threads in turn); 32 shards of 4 MiB in LMDB, challenges round-robin",
  };
  const proofsPerSec = pos.prove.wall;
  rows["anchor: Hippius Ziggy (Plonky3 STARK, FRI, BabyBear, Poseidon2)"] = {
    configuration: "4 chunks of 1 KiB per challenge, audit loop every 30 s, 60 s deadline; miner tuning.pos_concurrency default 2",
    "proofs/s/core": "not published",
    "proof bytes": "not published",
    source: "docs.hippius.com/learn/proof-of-storage (thenervelab/hippius-doc docs/learn/proof-of-storage.md); Arion miner TuningConfig pos_concurrency",
  };
  rows["anchor: Filecoin WinningPoSt (Groth16, 1 sector, 66 challenges)"] = {
    "prove s (hot)": 12.66,
    "verify ms (hot)": 20.96,
    "proofs/s": +(1 / 12.66).toFixed(3),
    "verifications/s": +(1000 / 20.96).toFixed(1),
    "x SlowDrip proofs/s (wall)": +(proofsPerSec * 12.66).toFixed(0),
    "x SlowDrip verifications/s (wall)": +(pos.verify.wall * 0.02096).toFixed(0),
    source: "Lotus bench, 32 GiB sector on r5ad.12xlarge (gist jimpick/c09b28ef80b6d2d19bd4307fdbe7ce04, June 2020); counts from filecoin-proofs constants.rs (WINNING_POST_CHALLENGE_COUNT = 66, WINNING_POST_SECTOR_COUNT = 1)",
  };

  Object.assign(rows, vrfRows);

  // ---------- receipt intake, batching on ----------
  db = await openLmdb({ path: join(dir, "intake"), compression: false });
  const node = identityFromSecret(randomSecret());
  const segs = new Map<string, { seq: number; duration: number; size: number }>();
  const N = quick ? 2000 : 20_000;
  const viewers = Array.from({ length: 100 }, () => identityFromSecret(randomSecret()));
  const signed: SignedReceipt[] = [];
  for (let i = 0; i < N / viewers.length; i++) {
    const segment = toHex(crypto.getRandomValues(new Uint8Array(32)));
    segs.set(segment, { seq: i, duration: 2000, size: 500_000 });
    for (const v of viewers) {
      signed.push(signReceipt({
        type: "SERVICE_RECEIPT", v: 1, stream: "live/bench", seq: i, segment, node: node.nodeId, viewer: v.nodeId,
        bytes: 500_000, ttfb_us: 1500, total_us: 40_000, viewer_ms: Date.now(),
      }, v.secretKey));
    }
  }
  const intake = new ReceiptIntake({
    nodeId: node.nodeId, secretKey: node.secretKey, db, segments: async (_s, h) => segs.get(h), batchSize: 256, batchIntervalMs: 1000,
  });
  intake.start();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: 256 }, async () => {
    while (next < signed.length) await intake.accept("live/bench", signed[next++]);
  }));
  await intake.seal();
  const intakeSec = (performance.now() - t0) / 1000;
  await intake.stop();
  const batches = intake.listBatches(0, 1000).length;
  let vi = 0;
  const verifyOnly = (await rate(() => verifyReceipt(signed[vi++ % signed.length]))).wall;
  rows["receipt intake (verify + dedupe + LMDB + batches of 256), 256 in flight"] = {
    "receipts/s/core": Math.round(signed.length / intakeSec),
    receipts: signed.length,
    batches,
    "signature checks/s alone": Math.round(verifyOnly),
    "x signature checks": +(signed.length / intakeSec / verifyOnly).toFixed(2),
    "load average (1 min)": +loadavg()[0]!.toFixed(2),
  };
  load.push(loadavg());

  const cols = [...new Set(Object.values(rows).flatMap((r) => Object.keys(r)))];
  for (const [name, r] of Object.entries(rows)) {
    console.log(`\n${name}`);
    for (const c of cols) if (r[c] !== undefined && r[c] !== "") console.log(`  ${c}: ${r[c]}`);
  }
  console.log(`\nload average (1, 5, 15 min) at start ${load[0]!.map((x) => x.toFixed(2)).join(", ")}; at end ${load[1]!.map((x) => x.toFixed(2)).join(", ")}`);
  mkdirSync(join(process.cwd(), "bench/results"), { recursive: true });
  writeFileSync(join(process.cwd(), "bench/results/proofs.json"), `${JSON.stringify({ node: process.version, loadavg: load, rows }, null, 2)}\n`);
} finally {
  await closeSignaturePool();
  await store?.close();
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
}

/** Pseudo-random shard bytes (fast to make; content does not matter to the timings). */
function randomShard(size: number, seed: number): Uint8Array {
  const b = new Uint8Array(size);
  const w = new Uint32Array(b.buffer);
  let x = (seed + 1) * 2654435761;
  for (let i = 0; i < w.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    w[i] = x >>> 0;
  }
  return b;
}
