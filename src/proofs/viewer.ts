// Headless viewer (`slowdrip stream watch`): verifies the stream with stream/verify.ts, then plays it like a live
// player - reloads the signed manifest, fetches each new segment in order, checks its size, BLAKE3 and SHA-256 against
// the verified manifest, keeps a small buffer ahead of its play clock - and signs one service receipt per segment,
// posted to the serving node. It reports its own figures per segment (TTFB, total time, deadline miss, jitter).
import { verifySignedManifest, type SegmentEntry, type SignedManifest } from "../stream/manifest.ts";
import { verifyStream } from "../stream/verify.ts";
import { blake3, toHex } from "../wasm/index.ts";
import { readCapped } from "../net/capped.ts";
import { percentile, jitterUs, deadlineMissed } from "./qos.ts";
import { signReceipt, type ServiceReceipt } from "./receipts.ts";
import { publicKeyOf } from "../identity/ed25519.ts";

/** One played segment as the viewer logs it. */
export interface PlayedSegment {
  event: "segment";
  seq: number;
  segment: string;
  bytes: number;
  duration_ms: number;
  ttfb_us: number;
  total_us: number;
  viewer_ms: number;
  deadline_miss: boolean;
  /** µs, null when the previous segment was not seq - 1. */
  jitter_us: number | null;
  /** "accepted", the node's refusal reason, "off" (receipts disabled) or "error". */
  receipt: string;
}

/** The viewer's own summary. */
export interface ViewerSummary {
  event: "summary";
  viewer: string;
  stream: string;
  segments: number;
  deadline_misses: number;
  ttfb_p50_us: number;
  ttfb_p95_us: number;
  jitter_p50_us: number;
  jitter_p95_us: number;
  receipts_accepted: number;
  receipts_refused: number;
}

/** A verification or protocol failure that ends the watch (code as in stream/verify.ts where it applies). */
export class ViewerError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(`${code}: ${message}`);
    this.name = "ViewerError";
    this.code = code;
  }
}

/** Options of a watch. */
export interface WatchOptions {
  /** The stream's directory URL, e.g. http://node:8080/live/cam/ (ends with "/"). */
  base: string;
  /** The creator's key: the trust anchor. */
  creator: string;
  /** The viewer's secret seed (receipts are signed with it). */
  viewerSecret: Uint8Array;
  /** Serving node id named in receipts (default: the manifest's node). */
  node?: string;
  /** Stop after this many segments (default: until the stream ends or the signal aborts). */
  segments?: number;
  /** Post receipts (default true). */
  receipts?: boolean;
  /** Segments buffered ahead of the play clock before the viewer waits (default 3). */
  buffer?: number;
  /** Log sink: one object per played segment, then the summary. */
  log: (line: PlayedSegment | ViewerSummary | { event: string; [k: string]: unknown }) => void;
  signal?: AbortSignal;
  fetch?: typeof fetch;
  /** Per-request timeout (default 15 s). */
  timeoutMs?: number;
}

const MAX_DOC = 4 * 1024 * 1024;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });

/** Reads a body up to `max` bytes, timing the first byte; returns bytes and the µs of first and last byte. */
async function timedBody(res: Response, max: number, t0: number): Promise<{ bytes: Uint8Array; ttfbUs: number; totalUs: number }> {
  let ttfbUs = -1;
  const bytes = await readCapped(res, max, () => {
    if (ttfbUs < 0) ttfbUs = Math.round((performance.now() - t0) * 1000);
  });
  if (!bytes) throw new ViewerError("segment-size", `more than the ${max} bytes the manifest lists`);
  const totalUs = Math.round((performance.now() - t0) * 1000);
  return { bytes, ttfbUs: ttfbUs < 0 ? totalUs : ttfbUs, totalUs };
}

/** Watches a live stream until done; resolves to the viewer's summary. Throws ViewerError on a verification failure. */
export async function watchStream(o: WatchOptions): Promise<ViewerSummary> {
  const f = o.fetch ?? fetch;
  const timeoutMs = o.timeoutMs ?? 15_000;
  const viewer = toHex(publicKeyOf(o.viewerSecret));
  const base = new URL(o.base);
  const signalFor = () => (o.signal ? AbortSignal.any([o.signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs));

  const first = await verifyStream(base.href, { creator: o.creator, segments: 1, fetch: f, timeoutMs, ...(o.signal ? { signal: o.signal } : {}) });
  if (!first.ok) throw new ViewerError(first.failure!.code, first.failure!.message);
  o.log({ event: "verified", stream: first.stream, manifest_version: first.manifestVersion, root: first.root, viewer });

  const played: PlayedSegment[] = [];
  let accepted = 0;
  let refused = 0;
  let nextSeq = -1;
  let version = -1;
  let prev: { seq: number; viewerMs: number; totalUs: number } | undefined;
  let playStart = 0;
  let bufferedMs = 0;
  const want = o.segments ?? Number.POSITIVE_INFINITY;
  const buffer = o.buffer ?? 3;

  const loadManifest = async (): Promise<SignedManifest> => {
    const res = await f(new URL("manifest.json", base), { signal: signalFor() }).catch((e: Error) => {
      throw new ViewerError("manifest-fetch", e.message);
    });
    if (!res.ok) throw new ViewerError("manifest-fetch", `manifest.json answered HTTP ${res.status}`);
    const { bytes } = await timedBody(res, MAX_DOC, performance.now());
    const sm = JSON.parse(new TextDecoder().decode(bytes)) as SignedManifest;
    verifySignedManifest(sm, o.creator);
    if (sm.manifest.stream !== first.stream) throw new ViewerError("stream-mismatch", `manifest is for '${sm.manifest.stream}'`);
    if (sm.manifest.version < version) throw new ViewerError("manifest-sequence", `manifest version went back from ${version} to ${sm.manifest.version}`);
    version = sm.manifest.version;
    return sm;
  };

  const playOne = async (e: SegmentEntry, node: string): Promise<void> => {
    const viewerMs = Date.now();
    const t0 = performance.now();
    const res = await f(new URL(`${e.blake3}.ts`, base), { signal: signalFor() }).catch((err: Error) => {
      throw new ViewerError("segment-fetch", `segment ${e.seq}: ${err.message}`);
    });
    if (!res.ok) throw new ViewerError("segment-fetch", `segment ${e.seq} answered HTTP ${res.status}`);
    const { bytes, ttfbUs, totalUs } = await timedBody(res, e.size, t0);
    if (bytes.byteLength !== e.size) throw new ViewerError("segment-size", `segment ${e.seq} is ${bytes.byteLength} bytes, manifest says ${e.size}`);
    if (toHex(blake3(bytes)) !== e.blake3) throw new ViewerError("segment-blake3", `segment ${e.seq} does not hash to ${e.blake3}`);
    const sha = toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>)));
    if (sha !== e.sha256) throw new ViewerError("segment-sha256", `segment ${e.seq} does not hash to ${e.sha256}`);
    const sample = { seq: e.seq, viewerMs, totalUs, ttfbUs, durationMs: e.duration, viewer, bytes: e.size };
    let receipt = "off";
    if (o.receipts !== false) {
      const r: ServiceReceipt = {
        type: "SERVICE_RECEIPT", v: 1, stream: first.stream!, seq: e.seq, segment: e.blake3, node, viewer,
        bytes: e.size, ttfb_us: ttfbUs, total_us: totalUs, viewer_ms: viewerMs,
      };
      try {
        const post = await f(new URL("receipts", base), {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(signReceipt(r, o.viewerSecret)),
          signal: signalFor(),
        });
        receipt = post.ok ? "accepted" : (post.headers.get("x-reason") ?? `http-${post.status}`);
        await post.body?.cancel();
      } catch {
        receipt = "error";
      }
      if (receipt === "accepted") accepted++;
      else refused++;
    }
    const line: PlayedSegment = {
      event: "segment", seq: e.seq, segment: e.blake3, bytes: e.size, duration_ms: e.duration, ttfb_us: ttfbUs, total_us: totalUs,
      viewer_ms: viewerMs, deadline_miss: deadlineMissed(sample), jitter_us: jitterUs(prev, sample), receipt,
    };
    prev = { seq: e.seq, viewerMs, totalUs };
    played.push(line);
    o.log(line);
  };

  let ended = false;
  while (played.length < want && !ended && !o.signal?.aborted) {
    const sm = await loadManifest();
    const m = sm.manifest;
    // Start at the live edge (the newest listed segment); after that, every later segment in order.
    if (nextSeq < 0) nextSeq = m.segments.length ? m.segments[m.segments.length - 1]!.seq : m.count;
    // Segments that left the window while the viewer was behind are skipped (no jitter across the gap).
    const todo = m.segments.filter((e) => e.seq >= nextSeq);
    for (const e of todo) {
      if (played.length >= want || o.signal?.aborted) break;
      await playOne(e, o.node ?? m.node);
      nextSeq = e.seq + 1;
      if (playStart === 0) playStart = performance.now();
      bufferedMs += e.duration;
      // Like a player's buffer goal: wait while more than `buffer` segments are ahead of the play clock.
      const ahead = bufferedMs - (performance.now() - playStart);
      if (ahead > buffer * e.duration) await sleep(ahead - buffer * e.duration, o.signal);
    }
    ended = m.ended && !m.segments.some((e) => e.seq >= nextSeq);
    // Nothing new: reload after half a target duration (RFC 8216 section 6.3.4).
    if (todo.length === 0 && !ended) await sleep(Math.max(200, (m.targetDuration * 1000) / 2), o.signal);
  }

  const ttfb = played.map((p) => p.ttfb_us).sort((a, b) => a - b);
  const jit = played.flatMap((p) => (p.jitter_us === null ? [] : [p.jitter_us])).sort((a, b) => a - b);
  const summary: ViewerSummary = {
    event: "summary",
    viewer,
    stream: first.stream!,
    segments: played.length,
    deadline_misses: played.filter((p) => p.deadline_miss).length,
    ttfb_p50_us: percentile(ttfb, 50),
    ttfb_p95_us: percentile(ttfb, 95),
    jitter_p50_us: percentile(jit, 50),
    jitter_p95_us: percentile(jit, 95),
    receipts_accepted: accepted,
    receipts_refused: refused,
  };
  o.log(summary);
  return summary;
}
