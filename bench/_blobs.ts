// Shared by the blob benches (store, blossom): store imports fed as uploads, a PUT /blobs upload, the rows as a table.
import { request } from "node:http";
import type { BlobStore } from "../src/store/types.ts";

/** One table row: MB/s or ops/s of ours and of the anchor, their ratio, the target and what the anchor is. */
export type Row = Record<string, number | string>;

/** Imports a batch into a store, each blob fed in 64 KiB pieces as a network upload arrives; returns the ms taken. */
export async function importBatch(store: BlobStore, blobs: Uint8Array[]): Promise<number> {
  const t0 = performance.now();
  for (const b of blobs) {
    const pieces: Uint8Array[] = [];
    for (let i = 0; i < b.length; i += 64 * 1024) pieces.push(b.subarray(i, i + 64 * 1024));
    await store.import(pieces, { size: b.length });
  }
  return performance.now() - t0;
}

/** Uploads `payload` to a node's admin listener (PUT /blobs with the admin token); resolves to its BLAKE3. */
export function putBlob(adminUrl: string, adminToken: string, payload: Uint8Array): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${adminUrl}/blobs`, { method: "PUT", headers: { authorization: `Bearer ${adminToken}`, "content-length": String(payload.byteLength) } }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => (res.statusCode === 201 ? resolve(JSON.parse(body).hash) : reject(new Error(`upload: ${res.statusCode} ${body}`))));
    });
    req.on("error", reject);
    req.end(payload);
  });
}

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
