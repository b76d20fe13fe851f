// Segment ingest latency (segment notice to signed manifest): the newest samples per path, bounded, with nearest-rank
// percentiles - the ingest pipeline's own figures for the dashboard and StreamService.GetIngestStats.

/** Figures of one path (or of all). */
export interface LatencyFigures {
  path: string;
  samples: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  total: number;
}

/** Nearest-rank percentile (p in 0..100) of ascending values; 0 for none. */
function rank(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]!;
}

/** Bounded latency samples: at most `maxPaths` paths (the least recently fed is dropped) and `perPath` samples each. */
export class IngestLatency {
  readonly #paths = new Map<string, { ring: number[]; next: number; total: number }>();
  readonly #maxPaths: number;
  readonly #perPath: number;

  constructor(maxPaths = 256, perPath = 512) {
    this.#maxPaths = maxPaths;
    this.#perPath = perPath;
  }

  /** Records one ingest of `path` that took `ms` milliseconds. */
  observe(path: string, ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    let p = this.#paths.get(path);
    if (p) this.#paths.delete(path);
    else {
      if (this.#paths.size >= this.#maxPaths) this.#paths.delete(this.#paths.keys().next().value!);
      p = { ring: [], next: 0, total: 0 };
    }
    this.#paths.set(path, p);
    if (p.ring.length < this.#perPath) p.ring.push(ms);
    else p.ring[p.next] = ms;
    p.next = (p.next + 1) % this.#perPath;
    p.total++;
  }

  #figures(path: string, values: number[], total: number): LatencyFigures {
    const s = values.slice().sort((a, b) => a - b);
    return { path, samples: s.length, p50Ms: rank(s, 50), p95Ms: rank(s, 95), maxMs: s.at(-1) ?? 0, total };
  }

  /** Figures per path (sorted by path) and over all paths. */
  figures(): { paths: LatencyFigures[]; all: LatencyFigures } {
    const paths = [...this.#paths].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, p]) => this.#figures(name, p.ring, p.total));
    const all = this.#figures("", [...this.#paths.values()].flatMap((p) => p.ring), paths.reduce((n, p) => n + p.total, 0));
    return { paths, all };
  }
}
