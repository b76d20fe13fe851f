// Service receipts: signing and checks, the intake on a real LMDB environment (refusals with reasons, dedupe across
// a reopen, batches by count and by time, chained signed roots, inclusion proofs), batch-file verification refusing
// every tampering, and the QoS definitions.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { RootDatabase } from "lmdb";
import { openLmdb } from "../../src/store/lmdb-native.ts";
import { identityFromSecret } from "../../src/identity/identity.ts";
import { randomSecret } from "../../src/identity/ed25519.ts";
import { ReceiptIntake, ReceiptRefused, type SegmentInfo } from "../../src/proofs/intake.ts";
import { ReceiptError, receiptLeaf, signReceipt, verifyBatchFile, verifyReceipt, type BatchFile, type ServiceReceipt } from "../../src/proofs/receipts.ts";
import { deadlineMissed, jitterUs, percentile, QosTracker } from "../../src/proofs/qos.ts";
import { merkleRoot, toHex } from "../../src/wasm/index.ts";
import { tempDir } from "../helpers/node.ts";

const node = identityFromSecret(randomSecret());
const viewers = [0, 1].map(() => identityFromSecret(randomSecret()));
const dir = tempDir("slowdrip-receipts-");
let db: RootDatabase;
const segs = new Map<string, SegmentInfo & { stream: string }>();
const segmentHash = (i: number) => toHex(new Uint8Array(32).fill(i + 1));
for (let i = 0; i < 40; i++) segs.set(segmentHash(i), { stream: "live/cam", seq: 100 + i, duration: 1000, size: 50_000 + i });
const lookup = async (stream: string, h: string) => {
  const s = segs.get(h);
  return s && s.stream === stream ? { seq: s.seq, duration: s.duration, size: s.size } : undefined;
};

function receipt(v: (typeof viewers)[number], i: number, over: Partial<ServiceReceipt> = {}): ServiceReceipt {
  const s = segs.get(segmentHash(i))!;
  return {
    type: "SERVICE_RECEIPT", v: 1, stream: "live/cam", seq: s.seq, segment: segmentHash(i), node: node.nodeId, viewer: v.nodeId,
    bytes: s.size, ttfb_us: 1000 + i * 10, total_us: 20_000 + i * 100, viewer_ms: 1_700_000_000_000 + i * 1000, ...over,
  };
}

beforeAll(async () => {
  db = await openLmdb({ path: join(dir, "db"), compression: false });
});
afterAll(async () => {
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
});

const open = (batchSize = 8, batchIntervalMs = 3_600_000) => new ReceiptIntake({ nodeId: node.nodeId, secretKey: node.secretKey, db, segments: lookup, batchSize, batchIntervalMs });
async function refusal(intake: ReceiptIntake, path: string, body: unknown): Promise<string> {
  try {
    await intake.accept(path, body);
    return "accepted";
  } catch (err) {
    if (err instanceof ReceiptRefused) return err.reason;
    throw err;
  }
}

describe("receipts", () => {
  it("a signed receipt verifies; any change to it is forged; bad fields are malformed", () => {
    const s = signReceipt(receipt(viewers[0]!, 0), viewers[0]!.secretKey);
    verifyReceipt(s);
    const bad = (x: unknown) => {
      try {
        verifyReceipt(x);
        return "ok";
      } catch (err) {
        return (err as ReceiptError).reason;
      }
    };
    expect(bad({ ...s, receipt: { ...s.receipt, bytes: s.receipt.bytes + 1 } })).toBe("forged");
    expect(bad({ ...s, receipt: { ...s.receipt, viewer: viewers[1]!.nodeId } })).toBe("forged");
    expect(bad({ ...s, receipt: { ...s.receipt, ttfb_us: 10 ** 9 } })).toBe("malformed");
    expect(bad({ ...s, receipt: { ...s.receipt, ttfb_us: s.receipt.total_us + 1 } })).toBe("malformed");
    expect(bad({ ...s, receipt: { ...s.receipt, extra: 1 } })).toBe("malformed");
    expect(bad({ ...s, receipt: { ...s.receipt, segment: "xyz" } })).toBe("malformed");
    expect(bad({ ...s, signature: "00" })).toBe("malformed");
    expect(bad({ ...s, more: true })).toBe("malformed");
    expect(bad([])).toBe("malformed");
  });

  it("the intake refuses forged, wrong-node, wrong-stream, unknown-segment, bad-figures and duplicate receipts, naming each", async () => {
    const intake = open();
    const v = viewers[0]!;
    const good = signReceipt(receipt(v, 0), v.secretKey);
    expect(await refusal(intake, "live/cam", good)).toBe("accepted");
    expect(await refusal(intake, "live/cam", good)).toBe("duplicate");
    // Signed again with other figures: still the same (viewer, segment).
    expect(await refusal(intake, "live/cam", signReceipt(receipt(v, 0, { ttfb_us: 5 }), v.secretKey))).toBe("duplicate");
    const forged = { ...signReceipt(receipt(v, 1), v.secretKey) };
    forged.receipt = { ...forged.receipt, total_us: 1 };
    forged.receipt.ttfb_us = 1;
    expect(await refusal(intake, "live/cam", forged)).toBe("forged");
    expect(await refusal(intake, "live/cam", signReceipt(receipt(v, 1, { node: viewers[1]!.nodeId }), v.secretKey))).toBe("wrong-node");
    expect(await refusal(intake, "live/other", signReceipt(receipt(v, 1), v.secretKey))).toBe("wrong-stream");
    expect(await refusal(intake, "live/cam", signReceipt(receipt(v, 1, { segment: "ee".repeat(32) }), v.secretKey))).toBe("unknown-segment");
    expect(await refusal(intake, "live/cam", signReceipt(receipt(v, 1, { bytes: 1 }), v.secretKey))).toBe("bad-figures");
    expect(await refusal(intake, "live/cam", signReceipt(receipt(v, 1, { seq: 7 }), v.secretKey))).toBe("bad-figures");
    expect(await refusal(intake, "live/cam", { receipt: {} })).toBe("malformed");
    expect(intake.counts).toMatchObject({ accepted: 1, duplicate: 2, forged: 1, "wrong-node": 1, "wrong-stream": 1, "unknown-segment": 1, "bad-figures": 2, malformed: 1 });
    // Two racing copies of one receipt: exactly one gets in.
    const twice = signReceipt(receipt(v, 2), v.secretKey);
    const both = await Promise.all([refusal(intake, "live/cam", twice), refusal(intake, "live/cam", twice)]);
    expect(both.sort()).toEqual(["accepted", "duplicate"]);
    await intake.stop();
  });

  it("seals batches by count, chains and signs them, proves every receipt, and keeps state across a reopen", async () => {
    let intake = open(8);
    const all: ServiceReceipt[] = [];
    for (let i = 3; i < 20; i++) {
      for (const v of viewers) {
        all.push(receipt(v, i));
        await intake.accept("live/cam", signReceipt(all.at(-1)!, v.secretKey));
      }
    }
    await intake.seal(); // whatever is left, now
    await intake.stop();
    // Reopen: duplicates are still refused, batches are still there.
    intake = open(8);
    expect(await refusal(intake, "live/cam", signReceipt(receipt(viewers[0]!, 5), viewers[0]!.secretKey))).toBe("duplicate");
    const list = intake.listBatches();
    expect(list.length).toBeGreaterThanOrEqual(5);
    let prev = "";
    let seen = 0;
    for (const { header } of list) {
      const b = intake.getBatch(header.id)!;
      expect(verifyBatchFile(b)).toMatchObject({ count: header.count, node: node.nodeId });
      expect(b.header.prev).toBe(prev);
      expect(b.header.root).toBe(toHex(merkleRoot(b.receipts.map(receiptLeaf))));
      prev = b.header.root;
      seen += b.header.count;
    }
    expect(seen).toBe(2 + all.length); // the two receipts the previous test accepted, then these
    for (const r of all) {
      const p = intake.prove(r.viewer, r.segment)!;
      expect(p, `receipt of segment ${r.seq}`).toBeDefined();
      expect(p.batch.receipts[p.index]!.receipt).toEqual(r);
    }
    expect(intake.prove(viewers[0]!.nodeId, "ee".repeat(32))).toBeUndefined();
    await intake.stop();
  });

  it("seals a partial batch after the interval", async () => {
    const intake = open(1000, 150);
    intake.start();
    const before = intake.listBatches().length;
    await intake.accept("live/cam", signReceipt(receipt(viewers[0]!, 30), viewers[0]!.secretKey));
    const until = Date.now() + 10_000;
    while (intake.listBatches().length === before && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    const last = intake.listBatches().at(-1)!;
    expect(last.header.count).toBe(1);
    expect(intake.pending).toBe(0);
    await intake.stop();
  });

  it("batch-file verification refuses every tampering", async () => {
    const intake = open();
    const file = intake.getBatch(intake.listBatches()[1]!.header.id)!;
    await intake.stop();
    const fails = (f: BatchFile) => {
      try {
        verifyBatchFile(f);
        return "ok";
      } catch (err) {
        return (err as ReceiptError).reason;
      }
    };
    const copy = () => JSON.parse(JSON.stringify(file)) as BatchFile;
    expect(fails(copy())).toBe("ok");
    let f = copy();
    f.header.count--;
    expect(fails(f)).toBe("bad-batch");
    f = copy();
    f.header.root = "00".repeat(32);
    expect(fails(f)).toBe("bad-batch");
    f = copy();
    f.receipts[0]!.receipt.bytes++;
    expect(fails(f)).toBe("forged");
    f = copy();
    [f.receipts[0], f.receipts[1]] = [f.receipts[1]!, f.receipts[0]!];
    expect(fails(f)).toBe("bad-proof");
    f = copy();
    f.proofs![2]!.siblings[0] = "11".repeat(32);
    expect(fails(f)).toBe("bad-proof");
    f = copy();
    f.proofs!.pop();
    expect(fails(f)).toBe("bad-proof");
    f = copy();
    f.signature = "00".repeat(64);
    expect(fails(f)).toBe("bad-batch");
  });
});

describe("QoS", () => {
  it("nearest-rank percentiles", () => {
    expect(percentile([], 50)).toBe(0);
    expect(percentile([5], 95)).toBe(5);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 95)).toBe(4);
    expect(percentile(Array.from({ length: 100 }, (_, i) => i + 1), 95)).toBe(95);
  });
  it("jitter between consecutive segments, deadline misses, per-path figures", () => {
    const a = { viewer: "a", seq: 1, ttfbUs: 500, totalUs: 2000, viewerMs: 10_000, durationMs: 1000, bytes: 10 };
    const b = { ...a, seq: 2, totalUs: 3000, viewerMs: 11_100 };
    expect(jitterUs(a, b)).toBe(Math.abs(11_100_000 + 3000 - 10_002_000 - 1_000_000));
    expect(jitterUs(a, { ...b, seq: 3 })).toBeNull();
    expect(deadlineMissed({ totalUs: 1_000_001, durationMs: 1000 })).toBe(true);
    expect(deadlineMissed({ totalUs: 1_000_000, durationMs: 1000 })).toBe(false);
    const q = new QosTracker();
    q.add("p", a);
    q.add("p", b);
    q.add("p", { ...b, viewer: "c", seq: 9, totalUs: 2_000_000, ttfbUs: 900 });
    const [s] = q.stats("p");
    expect(s).toMatchObject({ path: "p", receipts: 3, viewers: 2, deadlineMisses: 1, bytes: 30 });
    expect(s!.deadlineMissRatio).toBeCloseTo(1 / 3);
    expect(s!.ttfbP50Ms).toBe(0.5);
    expect(s!.ttfbP95Ms).toBe(0.9);
    expect(s!.jitterP50Ms).toBe(101);
  });
});
