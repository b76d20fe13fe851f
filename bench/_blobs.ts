// Shared by the blob benches (store, blossom): store imports fed as uploads, a PUT /blobs upload, the rows as a table.
// The import and upload kernels live in src/bench/ (shared with `slowdrip bench`).
export { importBatch } from "../src/bench/kernels.ts";
export { putBlob } from "../src/bench/http.ts";

/** One table row: MB/s or ops/s of ours and of the anchor, their ratio, the target and what the anchor is. */
export type Row = Record<string, number | string>;

/** Prints the rows as a Markdown table (row, ours, anchor, ratio, target, anchor is). */
export function printTable(rows: Record<string, Row>): void {
  const fmt = (v: number | string | undefined) => (typeof v === "number" ? (v >= 100 ? v.toFixed(0) : v.toFixed(2)) : (v ?? ""));
  const header = ["row", "ours", "anchor", "ratio", "target", "anchor is"];
  const table = Object.entries(rows).map(([name, r]) => [
    name,
    r.ours_MBps !== undefined ? `${fmt(r.ours_MBps)} MB/s` : r.ours_ops_per_s !== undefined ? `${fmt(r.ours_ops_per_s)} /s` : "",
    r.anchor_MBps !== undefined ? `${fmt(r.anchor_MBps)} MB/s` : "",
    r.ratio !== undefined ? `${fmt(r.ratio)}×` : "",
    String(r.target ?? ""),
    String(r.anchor ?? ""),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const t of table) console.log(line(t));
}
