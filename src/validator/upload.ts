// Gateway uploads: cut a stream into stripes, Reed-Solomon code them, push shards to their placed miners, commit.
import { randomBytes } from "node:crypto";
import type { Logger } from "../node/logger.ts";
import { backoffDelay, sleep } from "../cluster/backoff.ts";
import { NoMapError } from "../cluster/errors.ts";
import { encodeShards, stripeCount, type StripeRecord } from "../cluster/layout.ts";
import { pgOf } from "../cluster/placement.ts";
import type { ValidatorStats } from "../cluster/stats.ts";
import type { PlacementCache } from "../cluster/table.ts";
import { Semaphore } from "../store/semaphore.ts";
import { CompactOutboardBuilder, isBlobId, toHex } from "../wasm/index.ts";
import { BadRequestError, UploadBusyError, UploadFailedError, UploadMismatchError } from "./errors.ts";
import type { FileRecord, ManifestStore } from "./manifests.ts";
import type { MinerLink } from "./net.ts";
import type { Registry } from "./registry.ts";

/** Most stripes per file (keeps a manifest well inside one RPC message). */
export const MAX_STRIPES = 4096;
/** Longest one shard push may take. */
const PUSH_TIMEOUT_MS = 60_000;
/** First wait before a push is retried (doubles up to tuning.max_backoff). */
const PUSH_RETRY_MS = 200;

/** What an upload needs. */
export interface UploadDeps {
  manifests: ManifestStore;
  registry: Registry;
  placement: PlacementCache;
  link: MinerLink;
  /** cluster.stripe_size, cluster.max_file_size, cluster.push_concurrency, cluster.push_retries, tuning.max_backoff. */
  stripeSize: number;
  maxFileSize: number;
  pushConcurrency: number;
  pushRetries: number;
  maxBackoffMs: number;
  stats: ValidatorStats;
  log: Logger;
  /** Told of each committed file with the positions that were not acknowledged per stripe. */
  onCommitted: (file: FileRecord, unacked: number[][]) => void;
}

/** The declared file. */
export interface UploadHeader {
  hash: string;
  size: number;
  name: string;
}

/** The outcome of an upload. */
export interface UploadResult {
  hash: string;
  size: number;
  created: boolean;
  stripes: number;
  underReplicated: number;
}

interface StripeJob {
  index: number;
  done: Promise<{ acked: number; errors: string[]; unacked: number[] }>;
}

/**
 * Runs uploads. Memory per upload is bounded: at most `window` (ceil(pushConcurrency / (k + m)) + 1) stripe blocks
 * exist, those waiting for their pushes and the one being read, and at most `pushConcurrency` pushes are in flight (each retried `pushRetries` times with exponential
 * back-off). The manifest is committed only when every stripe has at least k acknowledged shards; stripes with fewer
 * than k + m are recorded as under-replicated (rebalancing completes them).
 */
export class Uploader {
  readonly #d: UploadDeps;
  readonly #pushes: Semaphore;
  readonly #running = new Set<string>();

  constructor(deps: UploadDeps) {
    this.#d = deps;
    this.#pushes = new Semaphore("push", deps.pushConcurrency, 24 * 3600_000);
  }

  /** Uploads one file; `data` must carry exactly `header.size` bytes hashing to `header.hash`. */
  async put(header: UploadHeader, data: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<UploadResult> {
    const d = this.#d;
    if (!isBlobId(header.hash)) throw new BadRequestError("header.hash", "must be the file's BLAKE3 (64 lowercase hex characters); see slowdrip hash FILE");
    if (!Number.isSafeInteger(header.size) || header.size < 0) throw new BadRequestError("header.size", "must be the file's size in bytes");
    if (header.size > d.maxFileSize) throw new BadRequestError("header.size", `${header.size} bytes is over cluster.max_file_size (${d.maxFileSize})`);
    if (header.name.length > 256) throw new BadRequestError("header.name", "must be at most 256 characters");
    if (stripeCount(header.size, d.stripeSize) > MAX_STRIPES) {
      throw new BadRequestError("header.size", `${header.size} bytes would be ${stripeCount(header.size, d.stripeSize)} stripes of cluster.stripe_size (${d.stripeSize}); a file has at most ${MAX_STRIPES}: raise cluster.stripe_size`);
    }
    const existing = d.manifests.get(header.hash);
    if (existing) return { hash: existing.hash, size: existing.size, created: false, stripes: existing.stripes.length, underReplicated: 0 };
    if (this.#running.has(header.hash)) throw new UploadBusyError(header.hash);
    this.#running.add(header.hash);
    const uploadId = toHex(randomBytes(8));
    try {
      return await this.#put(uploadId, header, data, signal);
    } catch (err) {
      d.stats.uploads.failed++;
      await d.manifests.abort(uploadId).catch((e) => d.log.error({ err: e }, "could not remove a failed upload's pending stripes"));
      throw err;
    } finally {
      this.#running.delete(header.hash);
    }
  }

  async #put(uploadId: string, header: UploadHeader, data: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<UploadResult> {
    const d = this.#d;
    const { map } = d.registry.current();
    if (map.members.length === 0) throw new NoMapError("no miners are registered: nowhere to place shards");
    const table = await d.placement.get(map);
    if (table.error) throw table.error;
    const k = map.dataShards;
    const m = map.parityShards;
    const window = Math.max(2, Math.ceil(d.pushConcurrency / (k + m)) + 1);
    const total = stripeCount(header.size, d.stripeSize);
    const builder = new CompactOutboardBuilder();
    const jobs: StripeJob[] = [];
    const results: { acked: number; errors: string[]; unacked: number[] }[] = [];
    const stripes: FileRecord["stripes"] = [];
    const members = new Map(map.members.map((x) => [x.id, x]));
    const ctl = new AbortController();
    const abort = signal ? AbortSignal.any([signal, ctl.signal]) : ctl.signal;

    // A stripe is read straight into the layout splitStripe makes (k data shards, zero padded, then m parity shards, one
    // block), so nothing is copied to be coded. Blocks of full stripes are reused once their pushes are done: the
    // blocks alive are those of the stripes in the window plus the one being read.
    const fullShard = Math.ceil(d.stripeSize / k);
    const spare: Uint8Array[] = [];
    const block = (dataLength: number): { shards: Uint8Array[]; data: Uint8Array } => {
      const shardLen = Math.ceil(dataLength / k);
      let b: Uint8Array;
      if (shardLen === fullShard && spare.length) {
        b = spare.pop()!;
        b.fill(0, dataLength, shardLen * k);
      } else {
        b = new Uint8Array(shardLen * (k + m));
      }
      return { shards: Array.from({ length: k + m }, (_, i) => b.subarray(i * shardLen, (i + 1) * shardLen)), data: b.subarray(0, dataLength) };
    };

    // Codes and hashes a stripe (synchronously), then records it as pending and pushes its shards; the next stripe is
    // read meanwhile. The read loop waits only when `window` stripes are in flight.
    const launch = (index: number, shards: Uint8Array[], dataLength: number): void => {
      const hashes = encodeShards(shards, k, m);
      const shardSize = shards[0]!.length;
      const pg = pgOf(header.hash, index, map.pgCount);
      const rec: StripeRecord = { file: header.hash, index, pg, shardSize, dataLength, shards: hashes };
      stripes.push({ pg, shardSize, dataLength, shards: hashes });
      const holders = table.holders(pg);
      const done = d.manifests
        .addPending(uploadId, rec)
        .then(() =>
          Promise.all(
            shards.map((shard, pos) => {
              const peer = members.get(holders[pos]!)!;
              return this.#push({ nodeId: peer.id, endpoint: peer.endpoint }, hashes[pos]!, shard, { file: header.hash, stripe: index, position: pos, pg }, abort);
            }),
          ),
        )
        .then((errs) => {
          if (shardSize === fullShard && spare.length < window) spare.push(new Uint8Array(shards[0]!.buffer, shards[0]!.byteOffset, shardSize * (k + m)));
          const errors = errs.filter((e): e is string => e !== undefined);
          const unacked = errs.map((e, pos) => (e === undefined ? -1 : pos)).filter((p) => p >= 0);
          return { acked: k + m - errors.length, errors, unacked };
        });
      done.catch(() => undefined);
      jobs.push({ index, done });
    };

    try {
      let received = 0;
      let index = 0;
      let cur = block(Math.min(d.stripeSize, header.size));
      let fill = 0;
      for await (const piece of data) {
        signal?.throwIfAborted();
        if (piece.byteLength === 0) continue;
        received += piece.byteLength;
        if (received > header.size) throw new UploadMismatchError(`the upload sent more than the declared ${header.size} bytes`);
        builder.update(piece);
        let at = 0;
        while (at < piece.byteLength) {
          const n = Math.min(cur.data.length - fill, piece.byteLength - at);
          cur.data.set(piece.subarray(at, at + n), fill);
          fill += n;
          at += n;
          if (fill === cur.data.length) {
            launch(index++, cur.shards, cur.data.length);
            while (jobs.length - results.length >= window) results.push(await jobs[results.length]!.done);
            fill = 0;
            cur = block(Math.max(0, Math.min(d.stripeSize, header.size - index * d.stripeSize)));
          }
        }
      }
      if (received !== header.size) throw new UploadMismatchError(`the upload sent ${received} bytes, not the declared ${header.size}`);
      const { hash, outboard } = builder.finish();
      if (toHex(hash) !== header.hash) throw new UploadMismatchError(`the bytes hash to ${toHex(hash)}, not the declared ${header.hash}`);
      if (index !== total) throw new Error(`internal: cut ${index} stripes, expected ${total}`);
      while (results.length < jobs.length) results.push(await jobs[results.length]!.done);
      const short = results.map((r, i) => ({ ...r, i })).filter((r) => r.acked < k);
      if (short.length) {
        const s = short[0]!;
        throw new UploadFailedError(`stripe ${s.i}: only ${s.acked} of ${k + m} shards acknowledged (need ${k}): ${s.errors.slice(0, 3).join("; ")}${short.length > 1 ? ` (and ${short.length - 1} more stripes)` : ""}`);
      }
      const record: FileRecord = { hash: header.hash, size: header.size, stripeSize: d.stripeSize, k, m, name: header.name, created: Date.now(), epoch: map.epoch, stripes };
      await d.manifests.commit(uploadId, record, outboard);
      const unacked = results.map((r) => r.unacked);
      const under = unacked.filter((u) => u.length > 0).length;
      d.onCommitted(record, unacked);
      d.stats.uploads.ok++;
      d.stats.uploadBytes += header.size;
      d.log.info({ file: header.hash, size: header.size, stripes: total, under_replicated: under, epoch: map.epoch }, "file committed");
      return { hash: header.hash, size: header.size, created: true, stripes: total, underReplicated: under };
    } catch (err) {
      ctl.abort(err);
      await Promise.allSettled(jobs.map((j) => j.done));
      throw err;
    }
  }

  /** One shard push with retries; resolves to undefined when acknowledged, else to the last error's message. */
  async #push(peer: { nodeId: string; endpoint: string }, hash: string, bytes: Uint8Array, ref: { file: string; stripe: number; position: number; pg: number }, signal: AbortSignal): Promise<string | undefined> {
    const d = this.#d;
    let last = "";
    for (let attempt = 0; attempt <= d.pushRetries; attempt++) {
      if (signal.aborted) return "upload aborted";
      try {
        await this.#pushes.run(() => d.link.push(peer, hash, bytes, ref, signal, PUSH_TIMEOUT_MS), signal);
        d.stats.pushes.ok++;
        return undefined;
      } catch (err) {
        last = `${peer.nodeId.slice(0, 12)}: ${err instanceof Error ? err.message : String(err)}`;
        if (signal.aborted) return last;
        if (attempt < d.pushRetries) {
          d.stats.pushes.retried++;
          try {
            await sleep(backoffDelay(attempt, PUSH_RETRY_MS, Math.max(PUSH_RETRY_MS, d.maxBackoffMs)), signal);
          } catch {
            return last;
          }
        }
      }
    }
    d.stats.pushes.failed++;
    d.log.warn({ shard: hash, miner: peer.nodeId, err: last }, "shard push failed after retries");
    return last;
  }
}
