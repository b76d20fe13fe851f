// Ingest latency figures: nearest-rank percentiles over the newest samples, bounded paths and samples.
import { describe, expect, it } from "vitest";
import { IngestLatency } from "./latency.ts";

describe("IngestLatency", () => {
  it("reports nearest-rank p50/p95 and max per path and over all paths", () => {
    const l = new IngestLatency();
    for (let i = 1; i <= 100; i++) l.observe("a", i);
    l.observe("b", 1000);
    const f = l.figures();
    expect(f.paths.map((p) => [p.path, p.samples, p.p50Ms, p.p95Ms, p.maxMs, p.total])).toEqual([
      ["a", 100, 50, 95, 100, 100],
      ["b", 1, 1000, 1000, 1000, 1],
    ]);
    expect(f.all).toMatchObject({ path: "", samples: 101, p50Ms: 51, p95Ms: 96, maxMs: 1000, total: 101 });
  });

  it("keeps only the newest samples per path and a bounded number of paths", () => {
    const l = new IngestLatency(2, 4);
    for (const ms of [900, 900, 900, 900, 1, 2, 3, 4]) l.observe("a", ms);
    expect(l.figures().paths[0]).toMatchObject({ samples: 4, maxMs: 4, total: 8 });
    l.observe("b", 5);
    l.observe("c", 6);
    expect(l.figures().paths.map((p) => p.path)).toEqual(["b", "c"]);
    l.observe("b", Number.NaN);
    l.observe("b", -1);
    expect(l.figures().paths[0]!.samples).toBe(1);
  });

  it("answers zeros without samples", () => {
    expect(new IngestLatency().figures()).toEqual({ paths: [], all: { path: "", samples: 0, p50Ms: 0, p95Ms: 0, maxMs: 0, total: 0 } });
  });
});
