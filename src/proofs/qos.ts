// QoS from service receipts, per live path: deadline misses (a segment took longer than its duration to arrive),
// jitter (how far the interval between a viewer's consecutive segment completions strays from the segment duration)
// and time to first byte, with nearest-rank percentiles over the newest samples. The viewer computes its own figures
// with the same definitions, so the node's view can be checked against the viewers' logs.

/** Nearest-rank percentile (p in 0..100) of a sorted array; 0 for no samples. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

/** One segment as QoS sees it. */
export interface QosSample {
  viewer: string;
  seq: number;
  ttfbUs: number;
  totalUs: number;
  /** Viewer clock at the request, Unix ms. */
  viewerMs: number;
  durationMs: number;
  bytes: number;
}

/** Jitter of a segment after the viewer's previous one, in µs, or null unless the previous one is seq - 1. */
export function jitterUs(prev: Pick<QosSample, "seq" | "viewerMs" | "totalUs"> | undefined, cur: QosSample): number | null {
  if (!prev || cur.seq !== prev.seq + 1) return null;
  const interval = cur.viewerMs * 1000 + cur.totalUs - (prev.viewerMs * 1000 + prev.totalUs);
  return Math.abs(interval - cur.durationMs * 1000);
}

/** True when the segment arrived later than its duration allows (a player would have stalled). */
export function deadlineMissed(s: Pick<QosSample, "totalUs" | "durationMs">): boolean {
  return s.totalUs > s.durationMs * 1000;
}

/** QoS figures of one path. */
export interface PathQosData {
  path: string;
  receipts: number;
  viewers: number;
  deadlineMisses: number;
  deadlineMissRatio: number;
  ttfbP50Ms: number;
  ttfbP95Ms: number;
  jitterP50Ms: number;
  jitterP95Ms: number;
  bytes: number;
}

interface PathState {
  receipts: number;
  misses: number;
  bytes: number;
  ttfb: number[];
  jitter: number[];
  last: Map<string, { seq: number; viewerMs: number; totalUs: number }>;
}

/** Bounded per-path QoS: at most `maxPaths` paths, `maxSamples` newest samples and `maxViewers` viewers per path. */
export class QosTracker {
  readonly #paths = new Map<string, PathState>();
  readonly #maxPaths: number;
  readonly #maxSamples: number;
  readonly #maxViewers: number;

  constructor(opts: { maxPaths?: number; maxSamples?: number; maxViewers?: number } = {}) {
    this.#maxPaths = opts.maxPaths ?? 256;
    this.#maxSamples = opts.maxSamples ?? 4096;
    this.#maxViewers = opts.maxViewers ?? 10_000;
  }

  /** Adds one accepted receipt; returns its jitter (µs, or null) and whether it missed its deadline. */
  add(path: string, s: QosSample): { jitterUs: number | null; missed: boolean } {
    let st = this.#paths.get(path);
    if (!st) {
      if (this.#paths.size >= this.#maxPaths) this.#paths.delete(this.#paths.keys().next().value!);
      st = { receipts: 0, misses: 0, bytes: 0, ttfb: [], jitter: [], last: new Map() };
      this.#paths.set(path, st);
    }
    const j = jitterUs(st.last.get(s.viewer), s);
    const missed = deadlineMissed(s);
    st.receipts++;
    st.bytes += s.bytes;
    if (missed) st.misses++;
    push(st.ttfb, s.ttfbUs, this.#maxSamples);
    if (j !== null) push(st.jitter, j, this.#maxSamples);
    st.last.delete(s.viewer);
    if (st.last.size >= this.#maxViewers) st.last.delete(st.last.keys().next().value!);
    st.last.set(s.viewer, { seq: s.seq, viewerMs: s.viewerMs, totalUs: s.totalUs });
    return { jitterUs: j, missed };
  }

  /** Figures of one path or of every path. */
  stats(path?: string): PathQosData[] {
    const out: PathQosData[] = [];
    for (const [p, st] of this.#paths) {
      if (path !== undefined && path !== "" && p !== path) continue;
      const ttfb = st.ttfb.slice().sort((a, b) => a - b);
      const jitter = st.jitter.slice().sort((a, b) => a - b);
      out.push({
        path: p,
        receipts: st.receipts,
        viewers: st.last.size,
        deadlineMisses: st.misses,
        deadlineMissRatio: st.receipts ? st.misses / st.receipts : 0,
        ttfbP50Ms: percentile(ttfb, 50) / 1000,
        ttfbP95Ms: percentile(ttfb, 95) / 1000,
        jitterP50Ms: percentile(jitter, 50) / 1000,
        jitterP95Ms: percentile(jitter, 95) / 1000,
        bytes: st.bytes,
      });
    }
    return out;
  }
}

function push(a: number[], v: number, max: number): void {
  a.push(v);
  if (a.length > max) a.shift();
}
