// Earnings over time with uPlot: cumulative sats earned per service, from the ledger's entries.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import { n, type LedgerEntryJson } from "./api.ts";

const COLORS = ["#2f6fde", "#d9822b", "#2e9e5b", "#b5449b", "#777"];

/** Cumulative earnings per service at each entry's time: [times (s), ...one series per service]. */
export function earningsSeries(entries: readonly LedgerEntryJson[]): { services: string[]; data: number[][] } {
  const earned = entries.filter((e) => e.direction === "in").sort((a, b) => n(a.timeUnixMs) - n(b.timeUnixMs));
  const services = [...new Set(earned.map((e) => e.service || "wallet"))].slice(0, COLORS.length);
  const times: number[] = [];
  const series = services.map(() => [] as number[]);
  const sums = services.map(() => 0);
  for (const e of earned) {
    const i = services.indexOf(e.service || "wallet");
    if (i < 0) continue;
    sums[i]! += n(e.amount);
    times.push(n(e.timeUnixMs) / 1000);
    services.forEach((_, j) => series[j]!.push(sums[j]!));
  }
  return { services, data: [times, ...series] };
}

/** The chart of `entries` (earned sats per service over time). */
export function EarningsChart({ entries }: { entries: readonly LedgerEntryJson[] }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const { services, data } = earningsSeries(entries);
  const key = services.join(",");
  useEffect(() => {
    if (!box.current) return;
    plot.current?.destroy();
    plot.current = new uPlot(
      {
        width: Math.min(720, box.current.clientWidth || 720),
        height: 220,
        series: [{}, ...services.map((s, i) => ({ label: s, stroke: COLORS[i], width: 2 }))],
        axes: [{}, { label: "sats" }],
        scales: { x: { time: true } },
      },
      data as uPlot.AlignedData,
      box.current,
    );
    return () => {
      plot.current?.destroy();
      plot.current = null;
    };
  }, [key]);
  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData);
  });
  return <div id="earnings-chart" class="chart" ref={box} data-points={String(data[0]!.length)} data-services={key} />;
}
