// Manifests on a real LMDB: pending stripes are listed while an upload runs and vanish if it fails or crashes;
// QueryPgFilesBatch pages through PGs in key order; delete removes a file and its index entries.
import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RootDatabase } from "lmdb";
import { openLmdb } from "../store/lmdb-native.ts";
import { ManifestStore, type FileRecord } from "./manifests.ts";

let roots: RootDatabase[] = [];
afterEach(async () => {
  for (const r of roots) await r.close();
  roots = [];
});

async function open(path = mkdtempSync(join(tmpdir(), "slowdrip-manifests-"))) {
  const root = await openLmdb({ path, compression: false });
  roots.push(root);
  return { m: await ManifestStore.open(root), path, root };
}

const hx = (c: string) => c.repeat(64);
function file(hash: string, pgs: number[]): FileRecord {
  return {
    hash,
    size: pgs.length * 100,
    stripeSize: 100,
    k: 2,
    m: 1,
    name: "f",
    created: 1,
    epoch: 1,
    stripes: pgs.map((pg, i) => ({ pg, shardSize: 50, dataLength: 100, shards: [hx("1"), hx("2"), hx(String(i % 10))] })),
  };
}

describe("ManifestStore", () => {
  it("lists an upload's stripes as pending until commit, and drops them on abort", async () => {
    const { m } = await open();
    const f = file(hx("a"), [3, 7]);
    await m.addPending("up1", { file: f.hash, index: 0, pg: 3, shardSize: 50, dataLength: 100, shards: f.stripes[0]!.shards });
    expect(m.pgStripes([3], "", 10).stripes).toEqual([expect.objectContaining({ file: f.hash, index: 0, pending: true })]);
    await m.abort("up1");
    expect(m.pgStripes([3], "", 10).stripes).toEqual([]);
    await m.addPending("up2", { file: f.hash, index: 0, pg: 3, shardSize: 50, dataLength: 100, shards: f.stripes[0]!.shards });
    await m.commit("up2", f, new Uint8Array(8));
    expect(m.pgStripes([3, 7], "", 10).stripes.map((s) => [s.pg, s.index, s.pending ?? false])).toEqual([[3, 0, false], [7, 1, false]]);
    expect(m.counts()).toEqual({ files: 1, stripes: 2 });
  });

  it("sweeps pending entries a crash left behind when it opens", async () => {
    const first = await open();
    await first.m.addPending("crashed", { file: hx("b"), index: 0, pg: 1, shardSize: 50, dataLength: 100, shards: [hx("1"), hx("2"), hx("3")] });
    await roots.pop()!.close();
    const again = await open(first.path);
    expect(again.m.pgStripes([1], "", 10).stripes).toEqual([]);
  });

  it("pages through PGs in order with a cursor, and delete removes every entry", async () => {
    const { m } = await open();
    await m.commit("u1", file(hx("c"), [5, 2, 9, 2]), new Uint8Array(8));
    await m.commit("u2", file(hx("d"), [2, 9]), new Uint8Array(8));
    const seen: string[] = [];
    let after = "";
    let pages = 0;
    do {
      const p = m.pgStripes([9, 2, 5], after, 2);
      seen.push(...p.stripes.map((s) => `${s.pg}:${s.file[0]}:${s.index}`));
      after = p.next;
      pages++;
    } while (after);
    expect(seen).toEqual(["2:c:1", "2:c:3", "2:d:0", "5:c:0", "9:c:2", "9:d:1"]);
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(() => m.pgStripes([2], "garbage", 2)).toThrow(RangeError);
    expect((await m.delete(hx("c")))?.stripes.length).toBe(4);
    expect([...m.allStripes()].map((s) => s.file[0])).toEqual(["d", "d"]);
    expect(await m.delete(hx("c"))).toBeUndefined();
  });

  it("pages the same stripes in the same order whether it scans the table or seeks PG by PG", async () => {
    const { m } = await open();
    const pgs = Array.from({ length: 40 }, (_, i) => [2, 5, 9, 14][i % 4]!);
    await m.commit("u", file(hx("e"), pgs), new Uint8Array(8));
    const all = (asked: number[]) => {
      const seen: string[] = [];
      let after = "";
      do {
        const p = m.pgStripes(asked, after, 3);
        seen.push(...p.stripes.map((s) => `${s.pg}:${s.index}`));
        after = p.next;
      } while (after);
      return seen;
    };
    // 40 stripes: three PGs asked is few per stripe (seek per PG); 24 PGs asked, most empty, is many (one scan).
    const seek = all([9, 2, 5]);
    const scan = all([9, 2, 5, ...Array.from({ length: 21 }, (_, i) => 100 + i)]);
    expect(seek).toHaveLength(30);
    expect(scan).toEqual(seek);
    expect(seek.slice(0, 3)).toEqual(["2:0", "2:4", "2:8"]);
  });
});
