// Segment-complete hook: parses MediaMTX's runOnRecordSegmentComplete post, reads the finished file safely from the
// record directory, hands it to the stream ingest (retrying a bounded number of times when the store is busy or a
// write fails) and deletes it once it is stored, or once it is dropped for a counted reason.
import { lstat, open, realpath, unlink } from "node:fs/promises";
import { sep } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { BusyError, StoreFullError } from "../store/errors.ts";
import { IngestError, type SegmentSealed, type StreamIngest } from "../stream/ingest.ts";

/** One "segment finished" notice. */
export interface SegmentNotice {
  /** MediaMTX path name (the stream id). */
  path: string;
  /** Absolute file path of the finished MPEG-TS segment. */
  file: string;
  durationMs: number;
  /** performance.now() when the hook's request arrived (for the ingest's stage timings). */
  receivedAt?: number;
}

/** A hook post that cannot be acted on; `status` is the HTTP answer. */
export class SegmentHookError extends Error {
  readonly status: number;
  constructor(status: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SegmentHookError";
    this.status = status;
  }
}

/** Largest hook body (three form fields). */
export const MAX_SEGMENT_HOOK_BODY = 8 * 1024;

/** Parses the form body `path=..&segment=..&duration=..` (seconds, decimal) posted by the hook command. */
export function parseSegmentHook(body: string | Uint8Array): SegmentNotice {
  const size = typeof body === "string" ? body.length : body.byteLength;
  if (size > MAX_SEGMENT_HOOK_BODY) throw new SegmentHookError(413, `hook body of ${size} bytes exceeds ${MAX_SEGMENT_HOOK_BODY}`);
  const text = typeof body === "string" ? body : new TextDecoder().decode(body);
  const f = new URLSearchParams(text);
  const path = f.get("path") ?? "";
  const file = f.get("segment") ?? "";
  const dur = Number(f.get("duration"));
  if (!path || path.length > 256) throw new SegmentHookError(400, "path must be 1-256 chars");
  if (!file.startsWith("/") || file.length > 4096) throw new SegmentHookError(400, "segment must be an absolute file path");
  if (!Number.isFinite(dur) || dur < 0 || dur > 600) throw new SegmentHookError(400, `duration '${f.get("duration")}' is not 0-600 seconds`);
  return { path, file, durationMs: Math.round(dur * 1000) };
}

export interface SegmentIntakeOptions {
  ingest: StreamIngest;
  /** The record directory rendered into mediamtx.yml; files elsewhere are refused. */
  recordDir: string;
  /** Largest segment file read. Default 64 MiB. */
  maxBytes?: number;
  /** Delete the file after ingest (default true; the blob store holds the bytes). */
  deleteAfter?: boolean;
  /**
   * How long notices of one path are gathered before ingest, so that MediaMTX's hook commands racing each other
   * (segments finishing within milliseconds, e.g. a publisher's start-up burst) are ingested in recording order.
   * File names carry the segment's start time in a fixed-width form, so name order is recording order. A segment that
   * starts where the path's last dispatched one ended does not wait (see `handle`). Default 20 ms.
   */
  reorderMs?: number;
  /**
   * Retries of a failed ingest that may succeed later (busy or full store, a failed write): `attempts` in all
   * (default 6), waiting `baseMs` (default 250 ms) doubling up to `maxMs` (default 4 s) between them. The file stays
   * until the segment is stored or dropped.
   */
  retry?: { attempts?: number; baseMs?: number; maxMs?: number };
  /** A segment given up on: its file is deleted. `reason` is one of SEGMENT_DROP_REASONS. */
  onDrop?: (reason: SegmentDropReason, notice: SegmentNotice, err: unknown) => void;
  /** A failed ingest that will be tried again after `delayMs`. */
  onRetry?: (attempt: number, delayMs: number, notice: SegmentNotice, err: unknown) => void;
}

/** Why a segment was dropped (metric label values): the ingest's refusal codes, or the last error after the retries. */
export const SEGMENT_DROP_REASONS = ["too-large", "bad-duration", "bad-stream", "no-delegation", "delegation-expired", "store-busy", "store-full", "error"] as const;
export type SegmentDropReason = (typeof SEGMENT_DROP_REASONS)[number];

/** The drop reason of an error after which retrying cannot help, else null. */
function permanent(err: unknown): SegmentDropReason | null {
  return err instanceof IngestError ? err.code : null;
}

/** The drop reason of a retryable error once the retries are spent. */
function exhausted(err: unknown): SegmentDropReason {
  if (err instanceof BusyError) return "store-busy";
  if (err instanceof StoreFullError) return "store-full";
  return "error";
}

/** Two segments closer than this (start of one vs end of the other) are taken as contiguous. */
const CONTIGUOUS_US = 300_000;
/** Paths whose last segment end is remembered (least recently dispatched forgotten first). */
const MAX_TRACKED_PATHS = 1024;

/**
 * The start of a segment in µs from its MediaMTX file name (`.../%Y-%m-%d_%H-%M-%S-%f.ts`, as the node renders
 * recordPath), or undefined for any other name. Read as UTC: only differences between segments of a path matter.
 */
export function segmentStartUs(file: string): number | undefined {
  const m = /(\d{4})-(\d{2})-(\d{2})_(\d{2})-(\d{2})-(\d{2})-(\d{6})\.[a-z0-9]+$/.exec(file);
  if (!m) return undefined;
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  return Number.isFinite(ms) ? ms * 1000 + +m[7]! : undefined;
}

interface Pending {
  notice: SegmentNotice;
  /** performance.now() of the notice's arrival. */
  at: number;
  resolve: (s: SegmentSealed) => void;
  reject: (e: unknown) => void;
}

/** Reads finished segment files and ingests them; one instance per node. */
export class SegmentIntake {
  readonly #o: Required<Omit<SegmentIntakeOptions, "onDrop" | "onRetry" | "retry">> & Pick<SegmentIntakeOptions, "onDrop" | "onRetry">;
  readonly #retry: { attempts: number; baseMs: number; maxMs: number };
  #root: string | null = null;
  readonly #pending = new Map<string, Pending[]>();
  /** Per path, where the last dispatched segment ends (µs, from its file name), for the contiguity shortcut. */
  readonly #ends = new Map<string, number>();
  readonly #chains = new Map<string, Promise<void>>();

  constructor(opts: SegmentIntakeOptions) {
    if (!opts.recordDir.startsWith("/")) throw new TypeError("recordDir must be absolute");
    this.#o = { maxBytes: 64 * 1024 * 1024, deleteAfter: true, reorderMs: 20, ...opts };
    if (!Number.isFinite(this.#o.reorderMs) || this.#o.reorderMs < 0 || this.#o.reorderMs > 5000) throw new RangeError("reorderMs must be in 0-5000");
    if (!Number.isInteger(this.#o.maxBytes) || this.#o.maxBytes < 1 || this.#o.maxBytes > 256 * 1024 * 1024) throw new RangeError("maxBytes must be in 1-268435456");
    this.#retry = { attempts: 6, baseMs: 250, maxMs: 4000, ...opts.retry };
    const r = this.#retry;
    if (!Number.isInteger(r.attempts) || r.attempts < 1 || r.attempts > 20) throw new RangeError("retry.attempts must be in 1-20");
    if (!Number.isFinite(r.baseMs) || r.baseMs < 0 || !Number.isFinite(r.maxMs) || r.maxMs < r.baseMs || r.maxMs > 60_000) {
      throw new RangeError("retry.baseMs must be >= 0 and retry.maxMs in baseMs-60000");
    }
  }

  async #rootDir(): Promise<string> {
    if (!this.#root) this.#root = await realpath(this.#o.recordDir);
    return this.#root;
  }

  /**
   * Handles one notice: after the reorder window, verifies the file lies under the record dir and is a regular file,
   * ingests it (in file-name order among the notices of its path gathered meanwhile) and deletes it.
   */
  handle(n: SegmentNotice): Promise<SegmentSealed> {
    const at = n.receivedAt ?? performance.now();
    if (this.#o.reorderMs === 0) return this.#handleNow(n, at);
    // A segment that starts where the last one dispatched for its path ended cannot have an earlier one still on
    // its way: it goes at once, behind that one. Anything else waits out the reorder window.
    const start = segmentStartUs(n.file);
    const end = this.#ends.get(n.path);
    if (!this.#pending.has(n.path) && start !== undefined && end !== undefined && Math.abs(start - end) <= CONTIGUOUS_US) {
      return new Promise<SegmentSealed>((resolve, reject) => this.#dispatch(n.path, [{ notice: n, at, resolve, reject }]));
    }
    return new Promise<SegmentSealed>((resolve, reject) => {
      const list = this.#pending.get(n.path);
      if (list) {
        list.push({ notice: n, at, resolve, reject });
        return;
      }
      this.#pending.set(n.path, [{ notice: n, at, resolve, reject }]);
      setTimeout(() => {
        const batch = this.#pending.get(n.path) ?? [];
        this.#pending.delete(n.path);
        batch.sort((a, b) => (a.notice.file < b.notice.file ? -1 : a.notice.file > b.notice.file ? 1 : 0));
        this.#dispatch(n.path, batch);
      }, this.#o.reorderMs);
    });
  }

  /** Queues `batch` (in order) behind the path's earlier batches, so a later one never overtakes an earlier one. */
  #dispatch(path: string, batch: Pending[]): void {
    const last = batch[batch.length - 1]?.notice;
    const start = last ? segmentStartUs(last.file) : undefined;
    this.#ends.delete(path);
    if (last && start !== undefined) {
      if (this.#ends.size >= MAX_TRACKED_PATHS) this.#ends.delete(this.#ends.keys().next().value!);
      this.#ends.set(path, start + last.durationMs * 1000);
    }
    const prev = this.#chains.get(path) ?? Promise.resolve();
    const next = prev.then(async () => {
      for (const p of batch) await this.#handleNow(p.notice, p.at).then(p.resolve, p.reject);
    });
    this.#chains.set(path, next);
    void next.then(() => {
      if (this.#chains.get(path) === next) this.#chains.delete(path);
    });
  }

  async #handleNow(n: SegmentNotice, receivedAt: number): Promise<SegmentSealed> {
    const waitMs = performance.now() - receivedAt;
    const root = await this.#rootDir().catch((e) => {
      throw new SegmentHookError(500, `record directory ${this.#o.recordDir} is not readable`, { cause: e });
    });
    let real: string;
    try {
      real = await realpath(n.file);
    } catch (e) {
      throw new SegmentHookError(404, `segment file ${n.file} does not exist`, { cause: e });
    }
    if (!real.startsWith(root + sep)) throw new SegmentHookError(403, `segment file ${n.file} is outside the record directory`);
    const st = await lstat(real);
    if (!st.isFile()) throw new SegmentHookError(403, `segment ${n.file} is not a regular file`);
    if (st.size > this.#o.maxBytes) {
      const err = new SegmentHookError(413, `segment ${n.file} is ${st.size} bytes, over ${this.#o.maxBytes}`);
      await this.#drop("too-large", n, real, err);
      throw err;
    }
    const tRead = performance.now();
    const fh = await open(real, "r");
    let bytes: Uint8Array;
    try {
      const buf = new Uint8Array(st.size);
      let off = 0;
      while (off < st.size) {
        const { bytesRead } = await fh.read(buf, off, st.size - off, off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      bytes = buf.subarray(0, off);
    } finally {
      await fh.close();
    }
    const readMs = performance.now() - tRead;
    for (let attempt = 1; ; attempt++) {
      let sealed: SegmentSealed;
      try {
        sealed = await this.#o.ingest.ingestSegment(n.path, bytes, n.durationMs);
      } catch (err) {
        const reason = permanent(err) ?? (attempt >= this.#retry.attempts ? exhausted(err) : null);
        if (reason) {
          await this.#drop(reason, n, real, err);
          throw err;
        }
        // Busy or full store, a failed write: the file stays and the same bytes are tried again.
        const delay = Math.min(this.#retry.maxMs, this.#retry.baseMs * 2 ** (attempt - 1));
        this.#o.onRetry?.(attempt, delay, n, err);
        await sleep(delay);
        continue;
      }
      if (this.#o.deleteAfter) await unlink(real).catch(() => undefined);
      return { ...sealed, timing: { ...sealed.timing, waitMs, readMs } };
    }
  }

  async #drop(reason: SegmentDropReason, n: SegmentNotice, file: string, err: unknown): Promise<void> {
    this.#o.onDrop?.(reason, n, err);
    if (this.#o.deleteAfter) await unlink(file).catch(() => undefined);
  }
}
