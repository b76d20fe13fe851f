// Runs the BlobStore contract on the LMDB store, each case in a fresh environment directory.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { StoreBackend } from "./store-backend.ts";
import { runBlobStoreContract, testBytes } from "./contract.ts";
import { LmdbBlobStore } from "./lmdb.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

runBlobStoreContract("lmdb", async (options) => {
  const dir = mkdtempSync(join(tmpdir(), "slowdrip-store-"));
  dirs.push(dir);
  const path = join(dir, "db");
  const store = await LmdbBlobStore.open({ ...options, path });
  return {
    store,
    reopen: async () => {
      await store.close();
      return LmdbBlobStore.open({ ...options, path });
    },
  };
});

describe("LMDB range reads", () => {
  it("touch only the chunks the range overlaps", async () => {
    const dir = mkdtempSync(join(tmpdir(), "slowdrip-store-"));
    dirs.push(dir);
    const store = await LmdbBlobStore.open({ path: join(dir, "db"), chunkSize: 64 * 1024, cache: { maxBytes: 0 } });
    try {
      const data = testBytes(1024 * 1024, 3);
      const { hash } = await store.import([data]);
      const backend = (store as unknown as { backend: StoreBackend }).backend;
      const touched: number[] = [];
      const original = backend.readChunk.bind(backend);
      backend.readChunk = (meta, index, from, to, stable) => {
        touched.push(index);
        return original(meta, index, from, to, stable);
      };
      const cases: [number, number, number[]][] = [
        [0, 10, [0]],
        [65_535, 2, [0, 1]],
        [300_000, 100_000, [4, 5, 6]],
        [1024 * 1024 - 1, 1, [15]],
      ];
      for (const [off, len, chunks] of cases) {
        touched.length = 0;
        const got = await store.readAll(hash, off, len);
        expect(Buffer.from(got).equals(Buffer.from(data.subarray(off, off + len))), `range ${off}+${len}`).toBe(true);
        expect(touched, `range ${off}+${len}`).toEqual(chunks);
      }
    } finally {
      await store.close();
    }
  });
});

describe("LMDB eviction order", () => {
  it("stays in step with pins, unpins, reads and deletes, and is built for a store made before it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "slowdrip-store-"));
    dirs.push(dir);
    const path = join(dir, "db");
    let t = 1000;
    let store = await LmdbBlobStore.open({ path, now: () => t });
    const hashes: string[] = [];
    for (let i = 0; i < 6; i++) {
      t += 1000;
      hashes.push((await store.import([testBytes(300 + i, 70 + i)], { pin: i % 2 === 0 })).hash);
    }
    await store.unpin(hashes[0]!);
    await store.pin(hashes[1]!);
    t += 1000;
    await store.readAll(hashes[3]!);
    await store.delete(hashes[5]!);
    await store.collect(); // writes the batched read times
    expect(store.audit()).toMatchObject({ unpinned: 2, coldIndexed: true }); // 0 and 3
    // A store from before the index: drop it and its marker, reopen, and it is rebuilt from the metas.
    await store.close();
    const { openLmdb } = await import("./lmdb-native.ts");
    const root = await openLmdb({ path, compression: false });
    await root.transaction(() => {
      for (const name of ["cold", "lastread"]) {
        const db = root.openDB({ name, ...(name === "cold" ? { keyEncoding: "binary" as const } : {}) });
        for (const k of [...db.getKeys()]) db.remove(k);
      }
      root.openDB({ name: "state" }).remove("coldIndex");
    });
    await root.close();
    store = await LmdbBlobStore.open({ path, now: () => t });
    try {
      expect(store.audit()).toMatchObject({ unpinned: 2, coldIndexed: true });
      expect(await store.collect({ bytes: 1 })).toMatchObject({ removed: 1 });
      expect(await store.has(hashes[0]!)).toBe(false); // the older of the two by commit time
    } finally {
      await store.close();
    }
  });
});
