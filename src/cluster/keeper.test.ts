// Shard keeping on a real blob store: placed shards carry the cluster's pin; drop releases it and deletes; an
// operator's pin is never released; a copy that does not hash to its name is never stored.
import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { RootDatabase } from "lmdb";
import { createLogger } from "../node/logger.ts";
import { openLmdb } from "../store/lmdb-native.ts";
import { LmdbBlobStore } from "../store/lmdb.ts";
import { HashMismatchError } from "../store/errors.ts";
import { blake3Hex } from "../wasm/index.ts";
import { PIN_TAG, SHARD_TAG, ShardKeeper } from "./keeper.ts";
import { ShardIndex } from "./shards.ts";
import { MinerStats } from "./stats.ts";

let opened: { root: RootDatabase; store: LmdbBlobStore }[] = [];
afterEach(async () => {
  for (const o of opened) {
    await o.store.close();
    await o.root.close();
  }
  opened = [];
});

async function keeper() {
  const path = mkdtempSync(join(tmpdir(), "slowdrip-keeper-"));
  const store = await LmdbBlobStore.open({ path });
  const root = await openLmdb({ path, compression: false });
  opened.push({ root, store });
  const fetcher = { fetch: async () => new Uint8Array(0), probe: async () => false };
  return { store, k: new ShardKeeper({ self: "0".repeat(64), store, index: new ShardIndex(root), fetcher, stats: new MinerStats(), log: createLogger("silent") }) };
}

const ref = { file: "ab".repeat(32), stripe: 0, position: 1, pg: 3 };

describe("ShardKeeper", () => {
  it("pins what it keeps with the cluster's tag, releases that pin on drop and deletes", async () => {
    const { store, k } = await keeper();
    const bytes = randomBytes(5000);
    const hash = blake3Hex(bytes);
    await k.keep(bytes, hash, bytes.length, ref, "test");
    expect(await store.stat(hash)).toMatchObject({ pinned: true, tags: expect.arrayContaining([SHARD_TAG, PIN_TAG]) });
    expect(await k.drop(hash, "test")).toBe(true);
    expect(await store.has(hash)).toBe(false);
  });
  it("keeps a shard without a SHA-256 (nothing addresses shards by one); a blob held before keeps its own", async () => {
    const { store, k } = await keeper();
    const bytes = randomBytes(300_000);
    const hash = blake3Hex(bytes);
    await k.keep(bytes, hash, bytes.length, ref, "test");
    expect((await store.stat(hash)).sha256).toBeUndefined();
    const held = randomBytes(4000);
    const h2 = (await store.import([held])).hash;
    const sha = (await store.stat(h2)).sha256;
    expect(sha).toMatch(/^[0-9a-f]{64}$/);
    await k.keep(held, h2, held.length, ref, "test");
    expect((await store.stat(h2)).sha256).toBe(sha);
  });
  it("never releases an operator's pin", async () => {
    const { store, k } = await keeper();
    const bytes = randomBytes(5000);
    const hash = blake3Hex(bytes);
    await store.import([bytes], { pin: true });
    await k.keep(bytes, hash, bytes.length, ref, "test");
    expect((await store.stat(hash)).tags).toEqual([SHARD_TAG]);
    expect(await k.drop(hash, "test")).toBe(false);
    expect((await store.stat(hash)).pinned).toBe(true);
    // After the cluster released its own pin, an operator's pin keeps the shard too.
    const other = randomBytes(3000);
    const h2 = blake3Hex(other);
    await k.keep(other, h2, other.length, ref, "test");
    await k.released(await store.stat(h2));
    await store.pin(h2);
    expect(await k.drop(h2, "test")).toBe(false);
  });
  it("stores nothing whose bytes do not hash to the shard's name", async () => {
    const { store, k } = await keeper();
    const bytes = randomBytes(5000);
    await expect(k.keep(bytes, "cd".repeat(32), bytes.length, ref, "test")).rejects.toBeInstanceOf(HashMismatchError);
    expect((await store.list()).items).toEqual([]);
  });
});
