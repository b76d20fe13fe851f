// Receipt intake of a serving node: verifies each posted receipt (shape, viewer signature, this node, the path, a
// segment of the path's manifest with matching seq and size), refuses duplicates per (viewer, segment), keeps accepted
// receipts in LMDB until they are sealed into a signed Merkle batch (every `batchSize` receipts or `batchIntervalMs`),
// keeps the newest batches, proves inclusion of any kept receipt, and feeds per-path QoS.
import type { Database, RootDatabase } from "lmdb";
import { QosTracker } from "./qos.ts";
import { ReceiptError, receiptProof, sealBatch, verifyReceipt, withProofs, type BatchFile, type SignedReceipt } from "./receipts.ts";

/** Why the intake refused a receipt. */
export type RefusalReason = "oversized" | "malformed" | "forged" | "duplicate" | "wrong-node" | "wrong-stream" | "unknown-segment" | "bad-figures";

/** A refused receipt; the HTTP boundary maps `reason` to a status and an X-Reason header. */
export class ReceiptRefused extends Error {
  readonly reason: RefusalReason;
  constructor(reason: RefusalReason, message: string, options?: { cause?: unknown }) {
    super(`${reason}: ${message}`, options);
    this.name = "ReceiptRefused";
    this.reason = reason;
  }
}

/** A segment of a path's live manifest, as the intake checks receipts against it. */
export interface SegmentInfo {
  seq: number;
  duration: number;
  size: number;
}

/** Looks a segment up in the path's manifest (undefined when the path has no such segment in its window). */
export type SegmentLookup = (stream: string, blake3: string) => Promise<SegmentInfo | undefined>;

/** Options of the intake. */
export interface ReceiptIntakeOptions {
  nodeId: string;
  secretKey: Uint8Array;
  db: RootDatabase;
  segments: SegmentLookup;
  /** proofs.receipt_batch */
  batchSize: number;
  /** proofs.receipt_batch_interval */
  batchIntervalMs: number;
  /** Batches kept (older ones, and their duplicate records, are dropped). */
  keepBatches?: number;
  now?: () => number;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

interface Pending {
  path: string;
  receipt: SignedReceipt;
}

const pad = (n: number) => n.toString().padStart(16, "0");

/** The intake, its batches and its QoS. */
export class ReceiptIntake {
  readonly qos = new QosTracker();
  readonly counts: Record<"accepted" | RefusalReason, number> = {
    accepted: 0, oversized: 0, malformed: 0, forged: 0, duplicate: 0, "wrong-node": 0, "wrong-stream": 0, "unknown-segment": 0, "bad-figures": 0,
  };
  readonly #o: ReceiptIntakeOptions;
  readonly #now: () => number;
  readonly #seen: Database<{ batch: number }, string>;
  readonly #pending: Database<Pending, string>;
  readonly #batches: Database<BatchFile, string>;
  readonly #state: Database<{ nextBatch: number; prevRoot: string; nextPending: number }, string>;
  #nextPending: number;
  #pendingCount: number;
  #lastWrite: Promise<unknown> = Promise.resolve();
  #sealing: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: ReceiptIntakeOptions) {
    for (const k of ["batchSize", "batchIntervalMs"] as const) {
      if (!Number.isSafeInteger(opts[k]) || opts[k] < 1) throw new RangeError(`receipt intake ${k} must be a positive integer`);
    }
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
    this.#seen = opts.db.openDB({ name: "receipt_seen" });
    this.#pending = opts.db.openDB({ name: "receipt_pending" });
    this.#batches = opts.db.openDB({ name: "receipt_batches" });
    this.#state = opts.db.openDB({ name: "receipt_state" });
    const st = this.#state.get("state");
    const last = [...this.#pending.getKeys({ reverse: true, limit: 1 })][0];
    this.#nextPending = Math.max(st?.nextPending ?? 1, last === undefined ? 1 : Number(last) + 1);
    this.#pendingCount = this.#pending.getKeysCount();
  }

  /** Receipts accepted and not sealed yet. */
  get pending(): number {
    return this.#pendingCount;
  }

  /** Checks and takes one posted receipt for `path`; returns its pending position. Throws ReceiptRefused. */
  async accept(path: string, body: unknown): Promise<{ pending: number }> {
    try {
      return await this.#accept(path, body);
    } catch (err) {
      if (err instanceof ReceiptRefused) this.counts[err.reason]++;
      throw err;
    }
  }

  async #accept(path: string, body: unknown): Promise<{ pending: number }> {
    try {
      verifyReceipt(body);
    } catch (err) {
      if (err instanceof ReceiptError) throw new ReceiptRefused(err.reason === "forged" ? "forged" : "malformed", err.message.replace(/^[a-z-]+: /, ""), { cause: err });
      throw err;
    }
    const s = body;
    const r = s.receipt;
    if (r.node !== this.#o.nodeId) throw new ReceiptRefused("wrong-node", `the receipt names serving node ${r.node}; this is node ${this.#o.nodeId}`);
    if (r.stream !== path) throw new ReceiptRefused("wrong-stream", `the receipt is for stream '${r.stream}', posted to '${path}'`);
    const key = `${r.viewer}:${r.segment}`;
    // A receipt already taken is a duplicate whatever else holds now (its segment may have left the window since).
    if (this.#seen.get(key) !== undefined) throw new ReceiptRefused("duplicate", `viewer ${r.viewer.slice(0, 16)}… already sent a receipt for segment ${r.segment}`);
    const seg = await this.#o.segments(path, r.segment);
    if (!seg) throw new ReceiptRefused("unknown-segment", `segment ${r.segment} is not in the live window of '${path}'`);
    if (seg.seq !== r.seq || seg.size !== r.bytes) {
      throw new ReceiptRefused("bad-figures", `segment ${r.segment} is seq ${seg.seq} of ${seg.size} bytes; the receipt says seq ${r.seq}, ${r.bytes} bytes`);
    }
    const id = this.#nextPending++;
    // Conditional write, committed with other receipts in one LMDB transaction (the condition is checked at commit,
    // so two racing copies of a receipt cannot both get in); answered once durable.
    const write = this.#seen.ifNoExists(key, () => {
      this.#seen.put(key, { batch: 0 });
      this.#pending.put(pad(id), { path, receipt: s });
    });
    this.#lastWrite = write;
    if (!(await write)) throw new ReceiptRefused("duplicate", `viewer ${r.viewer.slice(0, 16)}… already sent a receipt for segment ${r.segment}`);
    this.#pendingCount++;
    this.counts.accepted++;
    this.qos.add(path, { viewer: r.viewer, seq: r.seq, ttfbUs: r.ttfb_us, totalUs: r.total_us, viewerMs: r.viewer_ms, durationMs: seg.duration, bytes: r.bytes });
    if (this.#pendingCount >= this.#o.batchSize) this.seal().catch((err: unknown) => this.#o.log?.warn({ err }, "receipts: sealing a batch failed"));
    return { pending: this.#pendingCount };
  }

  /** Seals up to batchSize pending receipts into the next signed batch; null when none are pending. */
  seal(): Promise<BatchFile | null> {
    // One seal at a time, after the receipt writes issued so far have committed.
    const run = this.#sealing.then(async () => {
      await this.#lastWrite.catch(() => {});
      return this.#sealNow();
    });
    this.#sealing = run.catch(() => null);
    return run;
  }

  async #sealNow(): Promise<BatchFile | null> {
    // An asynchronous LMDB transaction, queued behind the store's segment writes on the same environment: a
    // synchronous one here (transactionSync) blocked the main thread on the write lock while lmdb's write thread, in
    // the middle of a batch of async writes, waited on the main thread; the node hung for good (seen in the dashboard
    // test: a live publish, receipts from the player, the seal timer).
    const batch = await this.#o.db.transaction(() => {
      const entries = [...this.#pending.getRange({ limit: this.#o.batchSize })];
      if (entries.length === 0) return null;
      const st = this.#state.get("state") ?? { nextBatch: 1, prevRoot: "", nextPending: 1 };
      const b = sealBatch(this.#o.nodeId, this.#o.secretKey, st.nextBatch, st.prevRoot, entries.map((e) => e.value.receipt), this.#now());
      this.#batches.put(pad(b.header.id), b);
      for (const e of entries) {
        this.#pending.remove(e.key);
        this.#seen.put(`${e.value.receipt.receipt.viewer}:${e.value.receipt.receipt.segment}`, { batch: b.header.id });
      }
      this.#state.put("state", { nextBatch: b.header.id + 1, prevRoot: b.header.root, nextPending: this.#nextPending });
      this.#dropOld(b.header.id);
      return b;
    });
    if (batch) {
      // Receipts are counted once committed, so the sealed ones are all counted (or about to be): subtract them.
      this.#pendingCount -= batch.header.count;
      this.#o.log?.info({ batch: batch.header.id, receipts: batch.header.count, root: batch.header.root }, "receipts: batch sealed");
    }
    return batch;
  }

  /** Drops batches older than keepBatches, with their duplicate records (inside the sealing transaction). */
  #dropOld(newest: number): void {
    const keep = this.#o.keepBatches ?? 4096;
    const end = pad(newest - keep + 1);
    for (const { key, value } of [...this.#batches.getRange({ end })]) {
      for (const r of value.receipts) this.#seen.remove(`${r.receipt.viewer}:${r.receipt.segment}`);
      this.#batches.remove(key);
    }
  }

  /** Sealed batches with an id above `after`, oldest first (headers and signatures; receipts omitted). */
  listBatches(after = 0, limit = 100): { header: BatchFile["header"]; signature: string }[] {
    return [...this.#batches.getRange({ start: pad(after + 1), limit: Math.max(1, Math.min(1000, limit)) })].map((e) => ({ header: e.value.header, signature: e.value.signature }));
  }

  /** A batch file (with inclusion proofs), or undefined. */
  getBatch(id: number): BatchFile | undefined {
    const b = this.#batches.get(pad(id));
    return b ? withProofs(b) : undefined;
  }

  /** Inclusion proof of the receipt of (viewer, segment); undefined when unknown, not sealed yet or dropped. */
  prove(viewer: string, segment: string): { batch: BatchFile; index: number; leaf: string; siblings: string[] } | undefined {
    const seen = this.#seen.get(`${viewer}:${segment}`);
    if (!seen || seen.batch === 0) return undefined;
    const batch = this.#batches.get(pad(seen.batch));
    if (!batch) return undefined;
    const index = batch.receipts.findIndex((r) => r.receipt.viewer === viewer && r.receipt.segment === segment);
    if (index < 0) return undefined;
    return { batch, index, ...receiptProof(batch, index) };
  }

  /** Seals a batch every batchIntervalMs while receipts are pending. */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      if (this.#pendingCount > 0) this.seal().catch((err: unknown) => this.#o.log?.warn({ err }, "receipts: sealing a batch failed"));
    }, this.#o.batchIntervalMs);
    this.#timer.unref?.();
  }

  /** Stops the timer and waits for writes in flight (pending receipts stay in LMDB for the next start). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#lastWrite.catch(() => {});
    await this.#sealing;
  }
}
