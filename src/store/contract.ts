// BlobStore contract suite: one set of behaviours every implementation must show (run by memory.test.ts and lmdb.test.ts).
import { describe, expect, it, afterEach } from "vitest";
import { blake3 } from "@noble/hashes/blake3.js";
import {
  BusyError,
  HashMismatchError,
  ImportAbortedError,
  InvalidHashError,
  NotFoundError,
  PinnedError,
  RangeNotSatisfiableError,
  SizeMismatchError,
  StoreFullError,
} from "./errors.ts";
import type { StoreOptions } from "./chunked-store.ts";
import { baoVerifySlice, compactOutboardSize, fromHex } from "../wasm/index.ts";
import type { BlobStore } from "./types.ts";

/** Deterministic pseudo-random bytes (xorshift32), so failures are reproducible. */
export function testBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Reference BLAKE3 hex (independent implementation). */
export function refHash(b: Uint8Array): string {
  return Buffer.from(blake3(b)).toString("hex");
}

/** Splits bytes into pieces of irregular sizes, as a network would. */
export function* pieces(b: Uint8Array, size = 7777): Generator<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, Math.min(i + size, b.length));
}

const UNKNOWN = "ab".repeat(32);

/** Makes a fresh store; `reopen` (if given) closes and reopens the same persistent store. */
export type MakeStore = (options?: StoreOptions) => Promise<{ store: BlobStore; reopen?: () => Promise<BlobStore> }>;

/** Runs the BlobStore contract against one implementation. */
export function runBlobStoreContract(name: string, make: MakeStore): void {
  describe(`BlobStore contract: ${name}`, () => {
    const open: BlobStore[] = [];
    const mk = async (o?: StoreOptions) => {
      const r = await make(o);
      open.push(r.store);
      return r;
    };
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close();
    });

    it("imports, hashes with BLAKE3 and reads back whole and in ranges", async () => {
      const { store } = await mk({ chunkSize: 1024, cache: { maxBytes: 0 } });
      const data = testBytes(10_000, 7);
      const r = await store.import(pieces(data, 333));
      expect(r).toMatchObject({ hash: refHash(data), size: 10_000, created: true });
      expect(await store.has(r.hash)).toBe(true);
      const meta = await store.stat(r.hash);
      expect(meta).toMatchObject({ hash: r.hash, size: 10_000, chunkSize: 1024, pinned: false, tags: [], source: "upload" });
      expect(Buffer.from(await store.readAll(r.hash)).equals(Buffer.from(data))).toBe(true);
      const cases: [number, number][] = [[0, 1], [1023, 2], [1024, 1024], [5000, 4999], [9999, 1], [0, 10_000], [3, 0], [9000, 50_000]];
      for (const [off, len] of cases) {
        const got = await store.readAll(r.hash, off, len);
        const want = data.subarray(off, Math.min(off + len, data.length));
        expect(Buffer.from(got).equals(Buffer.from(want)), `range ${off}+${len}`).toBe(true);
      }
      const s = await store.read(r.hash, 1000, 100);
      expect([s.offset, s.length, s.meta.size]).toEqual([1000, 100, 10_000]);
      const parts: Uint8Array[] = [];
      for await (const p of s) parts.push(p);
      expect(parts.map((p) => p.byteLength)).toEqual([24, 76]);
      expect(store.usage()).toMatchObject({ bytesUsed: 10_000, blobCount: 1, reservedBytes: 0 });
      expect(store.stats().imports.created).toBe(1);
    });

    it("copies pieces into caller-supplied buffers when asked (`into`)", async () => {
      const { store } = await mk({ chunkSize: 1000, cache: { maxBytes: 0 } });
      const data = testBytes(4500, 15);
      const { hash } = await store.import([data]);
      const shared = new Uint8Array(1000);
      const asked: number[] = [];
      const s = await store.read(hash, 500, 3500, { into: (n) => (asked.push(n), shared) });
      const copies: Buffer[] = [];
      for await (const piece of s) {
        expect(piece.buffer).toBe(shared.buffer);
        copies.push(Buffer.from(piece));
      }
      expect(asked).toEqual([500, 1000, 1000, 1000]);
      expect(Buffer.concat(copies).equals(Buffer.from(data.subarray(500, 4000)))).toBe(true);
      await expect(store.read(hash, 0, 10, { into: 5 as never })).rejects.toBeInstanceOf(TypeError);
      expect(store.limits.fetch.inUse).toBe(0); // a refused read keeps no slot, and no hold on the blob
      expect(await store.collect({ bytes: 1 })).toMatchObject({ removed: 1 });
    });

    it("stores the empty blob", async () => {
      const { store } = await mk();
      const r = await store.import([]);
      expect(r).toMatchObject({ hash: refHash(new Uint8Array(0)), size: 0, created: true });
      expect((await store.readAll(r.hash)).byteLength).toBe(0);
    });

    it("a second import of the same bytes is not stored twice", async () => {
      const { store } = await mk({ chunkSize: 4096 });
      const data = testBytes(20_000, 3);
      const a = await store.import([data]);
      const b = await store.import(pieces(data, 1000), { tags: ["again"], pin: true });
      expect(b).toMatchObject({ hash: a.hash, size: 20_000, created: false });
      expect(store.usage()).toMatchObject({ bytesUsed: 20_000, blobCount: 1 });
      expect(await store.stat(a.hash)).toMatchObject({ pinned: true, tags: ["again"] });
      const c = await store.import([data], { expectedHash: a.hash });
      expect(c.created).toBe(false);
      expect(store.usage().bytesUsed).toBe(20_000);
    });

    it("concurrent imports of the same bytes commit once", async () => {
      const { store } = await mk({ chunkSize: 1024 });
      const data = testBytes(50_000, 11);
      const rs = await Promise.all([0, 1, 2].map(() => store.import(pieces(data, 5000))));
      expect(rs.filter((r) => r.created)).toHaveLength(1);
      expect(store.usage()).toMatchObject({ bytesUsed: 50_000, blobCount: 1 });
      expect(Buffer.from(await store.readAll(rs[0]!.hash)).equals(Buffer.from(data))).toBe(true);
    });

    it("concurrent imports of different blobs are all counted", async () => {
      const { store } = await mk({ chunkSize: 1024, limits: { store: 16 } });
      const blobs = Array.from({ length: 12 }, (_, i) => testBytes(1000 + i * 777, 100 + i));
      const rs = await Promise.all(blobs.map((b) => store.import(pieces(b, 500))));
      expect(rs.map((r) => r.hash)).toEqual(blobs.map(refHash));
      const total = blobs.reduce((n, b) => n + b.length, 0);
      expect(store.usage()).toMatchObject({ bytesUsed: total, blobCount: 12, reservedBytes: 0 });
      await Promise.all(rs.slice(0, 6).map((r) => store.delete(r.hash)));
      expect(store.usage()).toMatchObject({ bytesUsed: blobs.slice(6).reduce((n, b) => n + b.length, 0), blobCount: 6 });
    });

    it("checks the expected hash before commit; a mismatch stores nothing", async () => {
      const { store } = await mk({ chunkSize: 1024 });
      const data = testBytes(5000, 5);
      const wrong = refHash(testBytes(5000, 6));
      const err = await store.import([data], { expectedHash: wrong }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HashMismatchError);
      expect(err).toMatchObject({ expected: wrong, actual: refHash(data), size: 5000 });
      expect(await store.has(refHash(data))).toBe(false);
      expect(await store.has(wrong)).toBe(false);
      expect(store.usage()).toMatchObject({ bytesUsed: 0, blobCount: 0, reservedBytes: 0 });
      const ok = await store.import([data], { expectedHash: refHash(data) });
      expect(ok.created).toBe(true);
    });

    it("enforces max_storage before accepting bytes (declared and streamed sizes)", async () => {
      const { store } = await mk({ maxStorage: 10_000, chunkSize: 1024 });
      await store.import([testBytes(6000, 1)], { pin: true }); // pinned: nothing can be collected to make room
      const declared = await store.import([testBytes(5000, 2)], { size: 5000 }).catch((e: unknown) => e);
      expect(declared).toBeInstanceOf(StoreFullError);
      expect(declared).toMatchObject({ needed: 5000, free: 4000, max: 10_000 });
      let pulled = 0;
      async function* stream() {
        for (let i = 0; i < 10; i++) {
          pulled++;
          yield testBytes(1000, 10 + i);
        }
      }
      const streamed = await store.import(stream()).catch((e: unknown) => e);
      expect(streamed).toBeInstanceOf(StoreFullError);
      expect(pulled).toBe(5); // refused on the piece that would cross the limit, before storing it
      expect(store.usage()).toMatchObject({ bytesUsed: 6000, blobCount: 1, reservedBytes: 0 });
      expect((await store.list()).items).toHaveLength(1);
      const fits = await store.import([testBytes(4000, 3)], { size: 4000 });
      expect(fits.created).toBe(true);
      expect(store.usage().bytesUsed).toBe(10_000);
      expect(store.stats().imports.full).toBe(2);
    });

    it("a source that fails midway (client gone) leaves no partial blob; the same import then succeeds", async () => {
      const { store } = await mk({ chunkSize: 1024 });
      const data = testBytes(8000, 9);
      async function* broken() {
        yield data.subarray(0, 3000);
        throw new Error("socket hang up");
      }
      const err = await store.import(broken()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ImportAbortedError);
      expect((err as ImportAbortedError).bytesReceived).toBe(3000);
      expect(store.usage()).toMatchObject({ bytesUsed: 0, blobCount: 0, reservedBytes: 0 });
      expect((await store.list()).items).toEqual([]);
      const ac = new AbortController();
      async function* slow() {
        yield data.subarray(0, 2000);
        ac.abort(new Error("client disconnected"));
        yield data.subarray(2000);
      }
      expect(await store.import(slow(), { signal: ac.signal }).catch((e: unknown) => e)).toBeInstanceOf(ImportAbortedError);
      expect(store.usage().bytesUsed).toBe(0);
      const ok = await store.import(pieces(data));
      expect(ok).toMatchObject({ hash: refHash(data), size: 8000, created: true });
    });

    it("rejects an upload whose size differs from the declared size", async () => {
      const { store } = await mk();
      expect(await store.import([testBytes(100)], { size: 99 }).catch((e: unknown) => e)).toBeInstanceOf(SizeMismatchError);
      expect(await store.import([testBytes(100)], { size: 101 }).catch((e: unknown) => e)).toBeInstanceOf(SizeMismatchError);
      expect(store.usage()).toMatchObject({ bytesUsed: 0, blobCount: 0 });
    });

    it("bad hashes are InvalidHashError, unknown ones NotFoundError, ranges past the end RangeNotSatisfiableError", async () => {
      const { store } = await mk();
      for (const bad of ["", "xyz", "AB".repeat(32), "ab".repeat(31), "ab".repeat(33), "../../etc/passwd"]) {
        await expect(store.stat(bad), `stat ${bad}`).rejects.toBeInstanceOf(InvalidHashError);
        await expect(store.read(bad), `read ${bad}`).rejects.toBeInstanceOf(InvalidHashError);
        await expect(store.delete(bad), `delete ${bad}`).rejects.toBeInstanceOf(InvalidHashError);
        await expect(store.import([], { expectedHash: bad }), `import ${bad}`).rejects.toBeInstanceOf(InvalidHashError);
      }
      await expect(store.stat(UNKNOWN)).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.read(UNKNOWN)).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.outboard(UNKNOWN)).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.pin(UNKNOWN)).rejects.toBeInstanceOf(NotFoundError);
      expect(await store.has(UNKNOWN)).toBe(false);
      expect(await store.delete(UNKNOWN)).toBe(false);
      const { hash } = await store.import([testBytes(100)]);
      await expect(store.read(hash, 100)).rejects.toBeInstanceOf(RangeNotSatisfiableError);
      await expect(store.read(hash, 101, 1)).rejects.toBeInstanceOf(RangeNotSatisfiableError);
      await expect(store.read(hash, -1)).rejects.toBeInstanceOf(RangeError);
      await expect(store.read(hash, 0, 1.5)).rejects.toBeInstanceOf(RangeError);
      expect(store.stats().reads).toMatchObject({ not_found: 1, range: 2 });
    });

    it("lists blobs in pages ordered by hash", async () => {
      const { store } = await mk();
      const hashes: string[] = [];
      for (let i = 0; i < 7; i++) hashes.push((await store.import([testBytes(100 + i, i + 1)])).hash);
      hashes.sort();
      const seen: string[] = [];
      let after: string | undefined;
      let pages = 0;
      do {
        const page = await store.list({ after, limit: 3 });
        seen.push(...page.items.map((m) => m.hash));
        after = page.next;
        pages++;
      } while (after);
      expect(seen).toEqual(hashes);
      expect(pages).toBe(3);
      await expect(store.list({ limit: 0 })).rejects.toBeInstanceOf(RangeError);
      await expect(store.list({ limit: 1001 })).rejects.toBeInstanceOf(RangeError);
    });

    it("deletes, pins, unpins, tags; GC never removes pinned blobs", async () => {
      const { store } = await mk({ chunkSize: 512 });
      const a = await store.import([testBytes(3000, 1)], { tags: ["b", "a", "a"] });
      const b = await store.import([testBytes(2000, 2)]);
      expect((await store.stat(a.hash)).tags).toEqual(["a", "b"]);
      expect((await store.setTags(a.hash, ["film"])).tags).toEqual(["film"]);
      await store.pin(a.hash);
      await expect(store.delete(a.hash)).rejects.toBeInstanceOf(PinnedError);
      expect(await store.gc(() => true)).toEqual([b.hash]);
      expect(await store.has(a.hash)).toBe(true);
      expect(await store.has(b.hash)).toBe(false);
      expect(store.usage()).toMatchObject({ bytesUsed: 3000, blobCount: 1 });
      await store.unpin(a.hash);
      expect(await store.delete(a.hash)).toBe(true);
      expect(await store.delete(a.hash)).toBe(false);
      await expect(store.read(a.hash)).rejects.toBeInstanceOf(NotFoundError);
      expect(store.usage()).toMatchObject({ bytesUsed: 0, blobCount: 0 });
      const again = await store.import([testBytes(3000, 1)]);
      expect(again.created).toBe(true);
    });

    it("keeps the compact outboard beside the blob and builds verifiable Bao slices from it", async () => {
      const { store } = await mk({ chunkSize: 4096, cache: { maxBytes: 0 } });
      const data = testBytes(200_000, 4);
      const { hash } = await store.import(pieces(data, 5000));
      const ob = await store.outboard(hash);
      expect(ob.byteLength).toBe(compactOutboardSize(200_000));
      expect((await store.stat(hash)).outboardSize).toBe(ob.byteLength);
      for (const [off, len] of [[0, 1], [16383, 2], [50_000, 100_000], [199_999, 1], [0, 200_000], [150_000, 90_000]] as const) {
        const slice = await store.baoSlice(hash, off, len);
        const proven = baoVerifySlice(fromHex(hash), slice, off, len);
        expect(Buffer.from(proven).equals(Buffer.from(data.subarray(off, off + len))), `slice ${off}+${len}`).toBe(true);
      }
      const slice = await store.baoSlice(hash, 1000, 1000);
      expect(() => baoVerifySlice(fromHex(refHash(testBytes(200_000, 5))), slice, 1000, 1000)).toThrow();
      await expect(store.baoSlice(hash, 200_000, 1)).rejects.toBeInstanceOf(RangeNotSatisfiableError);
      await expect(store.baoSlice(UNKNOWN, 0, 1)).rejects.toBeInstanceOf(NotFoundError);
      const empty = await store.import([]);
      expect((await store.outboard(empty.hash)).byteLength).toBe(compactOutboardSize(0));
    });

    it("builds single-chunk Bao slices in one pass, equal to baoSlice's, across stored chunks that split a group", async () => {
      // 4096-byte stored chunks: every 16 KiB group spans four of them.
      const { store } = await mk({ chunkSize: 4096, cache: { maxBytes: 0 } });
      const data = testBytes(200_003, 6);
      const { hash } = await store.import(pieces(data, 5000));
      const n = Math.ceil(200_003 / 1024);
      const chunks = [n - 1, 0, 15, 16, 17, 100, 3, 15, n - 2];
      const slices = await store.baoChunkSlices(hash, chunks);
      expect(slices.length).toBe(chunks.length);
      for (const [k, c] of chunks.entries()) {
        const len = Math.min(1024, 200_003 - c * 1024);
        expect(Buffer.from(slices[k]!).equals(Buffer.from(await store.baoSlice(hash, c * 1024, len))), `chunk ${c}`).toBe(true);
        const proven = baoVerifySlice(fromHex(hash), slices[k]!, c * 1024, len);
        expect(Buffer.from(proven).equals(Buffer.from(data.subarray(c * 1024, c * 1024 + len))), `chunk ${c} proves its bytes`).toBe(true);
      }
      expect(await store.baoChunkSlices(hash, [])).toEqual([]);
      await expect(store.baoChunkSlices(hash, [n])).rejects.toBeInstanceOf(RangeNotSatisfiableError);
      await expect(store.baoChunkSlices(hash, [-1])).rejects.toBeInstanceOf(RangeError);
      await expect(store.baoChunkSlices(hash, new Array(1025).fill(0))).rejects.toBeInstanceOf(RangeError);
      await expect(store.baoChunkSlices(UNKNOWN, [0])).rejects.toBeInstanceOf(NotFoundError);
      const empty = await store.import([]);
      const [e0] = await store.baoChunkSlices(empty.hash, [0]);
      expect(baoVerifySlice(fromHex(empty.hash), e0!, 0, 0).length).toBe(0);
    });

    it("concurrency limits queue callers, then refuse with BusyError after the timeout", async () => {
      const { store } = await mk({ limits: { store: 1, fetch: 1, queueTimeoutMs: 50 } });
      let go!: () => void;
      const gate = new Promise<void>((r) => (go = r));
      async function* held() {
        yield testBytes(10, 1);
        await gate;
      }
      const first = store.import(held());
      await expect(store.import([testBytes(10, 2)])).rejects.toBeInstanceOf(BusyError);
      go();
      await first;
      const { hash } = await store.import([testBytes(10, 2)]);
      const r1 = await store.read(hash);
      const busy = await store.read(hash).catch((e: unknown) => e);
      expect(busy).toBeInstanceOf(BusyError);
      expect(busy).toMatchObject({ limit: "fetch", capacity: 1 });
      const waiting = store.read(hash);
      for await (const _ of r1) void _;
      const r2 = await waiting; // got the slot freed by finishing r1
      r2.release();
      expect(store.stats().imports.busy).toBe(1);
      expect(store.stats().reads.busy).toBe(1);
    });

    it("a paused read (its consumer waits on a slow client) holds no fetch slot; reading on takes one again", async () => {
      const { store } = await mk({ chunkSize: 1024, limits: { fetch: 1, queueTimeoutMs: 50 }, cache: { maxBytes: 0, maxBlob: 0 } });
      const data = testBytes(8 * 1024, 3);
      const { hash } = await store.import([data]);
      const slow = await store.read(hash);
      const it = slow[Symbol.asyncIterator]();
      const first = await it.next();
      expect(first.done).toBe(false);
      expect(store.limits.fetch.inUse).toBe(1);
      slow.pause();
      expect(store.limits.fetch.inUse).toBe(0);
      // Another reader gets the slot at once and finishes while the first one stalls.
      const other = await store.read(hash);
      const parts: Uint8Array[] = [];
      for await (const p of other) parts.push(p);
      expect(Buffer.concat(parts).equals(Buffer.from(data))).toBe(true);
      // The paused reader reads on (taking the slot again) and gets exactly the rest of the bytes.
      const rest: Uint8Array[] = [(first.value as Uint8Array).slice()];
      for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value.slice());
      expect(Buffer.concat(rest).equals(Buffer.from(data))).toBe(true);
      expect(store.limits.fetch.inUse).toBe(0);
      // While a paused reader's slot is taken by someone else, reading on queues like a new read and can be refused.
      const a = await store.read(hash);
      const ai = a[Symbol.asyncIterator]();
      await ai.next();
      a.pause();
      const b = await store.read(hash);
      await expect(ai.next()).rejects.toBeInstanceOf(BusyError);
      b.release();
      expect(store.limits.fetch.inUse).toBe(0);
    });

    it("serves hot small blobs from the LRU", async () => {
      const { store } = await mk({ cache: { maxBytes: 10_000, maxBlob: 5000 } });
      const small = await store.import([testBytes(4000, 1)]);
      const big = await store.import([testBytes(6000, 2)]);
      await store.readAll(small.hash);
      await store.readAll(small.hash);
      await store.readAll(small.hash, 10, 10);
      await store.readAll(big.hash);
      const st = store.stats();
      expect(st.cacheHits).toBe(2);
      expect(st.cacheMisses).toBe(1);
      expect(st.cacheBytes).toBe(4000);
      expect(Buffer.from(await store.readAll(small.hash, 10, 10)).equals(Buffer.from(testBytes(4000, 1).subarray(10, 20)))).toBe(true);
      await store.delete(small.hash);
      await expect(store.read(small.hash)).rejects.toBeInstanceOf(NotFoundError);
    });

    it("an import that would cross max_storage first evicts the least recently read unpinned blobs; pinned ones never", async () => {
      let t = 1000;
      const { store } = await mk({ maxStorage: 10_000, chunkSize: 1024, cache: { maxBytes: 0 }, now: () => t });
      const a = await store.import([testBytes(3000, 1)]);
      t = 2000;
      const b = await store.import([testBytes(3000, 2)]);
      t = 3000;
      const c = await store.import([testBytes(2000, 3)], { pin: true });
      t = 4000;
      await store.readAll(a.hash); // a is now read more recently than b
      t = 5000;
      // 2000 free, 3000 needed: b (least recently read) goes, a stays.
      const d = await store.import([testBytes(3000, 4)], { size: 3000 });
      expect(d.created).toBe(true);
      expect([await store.has(a.hash), await store.has(b.hash), await store.has(c.hash)]).toEqual([true, false, true]);
      expect(store.stats().gc.space).toEqual({ runs: 1, removed: 1, bytes: 3000 });
      // A streamed import (size unknown) makes room too, piece by piece: a then d go; the pinned c stays.
      t = 6000;
      const e = await store.import(pieces(testBytes(6000, 5), 700));
      expect(e.created).toBe(true);
      expect([await store.has(a.hash), await store.has(c.hash), await store.has(d.hash)]).toEqual([false, true, false]);
      expect(store.usage()).toMatchObject({ bytesUsed: 8000, blobCount: 2, reservedBytes: 0 });
      // When even removing every unpinned blob would not make room, nothing is removed and the import is refused.
      const full = await store.import([testBytes(9000, 6)], { size: 9000 }).catch((x: unknown) => x);
      expect(full).toBeInstanceOf(StoreFullError);
      expect(await store.has(e.hash)).toBe(true);
      expect(store.usage()).toMatchObject({ bytesUsed: 8000, blobCount: 2 });
      expect(store.stats().imports).toMatchObject({ full: 1, created: 5 });
    });

    it("collect() removes idle unpinned blobs, then the least recently read ones until enough bytes are freed", async () => {
      let t = 1000;
      const { store } = await mk({ chunkSize: 1024, now: () => t });
      const blobs = [];
      for (let i = 0; i < 5; i++) {
        t = 1000 + i * 1000;
        blobs.push(await store.import([testBytes(1000, 20 + i)], { pin: i === 0 }));
      }
      t = 10_000;
      await store.readAll(blobs[1]!.hash);
      const idle = await store.collect({ idleBefore: 3500 }); // blobs 2 (stored at 3000) only: 0 is pinned, 1 was read
      expect(idle).toMatchObject({ trigger: "manual", removed: 1, bytes: 1000 });
      expect(await store.has(blobs[2]!.hash)).toBe(false);
      const lru = await store.collect({ bytes: 1500 }); // 3 and 4 (never read), before 1 (read at 10 000)
      expect(lru).toMatchObject({ removed: 2, bytes: 2000 });
      expect((await store.list()).items.map((m) => m.hash).sort()).toEqual([blobs[0]!.hash, blobs[1]!.hash].sort());
      expect(store.stats().gc.manual).toEqual({ runs: 2, removed: 3, bytes: 3000 });
      await expect(store.collect({ bytes: -1 })).rejects.toBeInstanceOf(RangeError);
    });

    it("never collects a blob while it is read or while an import in flight names it", async () => {
      const { store } = await mk({ chunkSize: 1024, cache: { maxBytes: 0 } });
      const a = await store.import([testBytes(5000, 31)]);
      const b = await store.import([testBytes(5000, 32)]);
      const reading = await store.read(a.hash);
      let go!: () => void;
      const gate = new Promise<void>((r) => (go = r));
      async function* slow() {
        yield testBytes(5000, 32).subarray(0, 100);
        await gate;
        yield testBytes(5000, 32).subarray(100);
      }
      const again = store.import(slow(), { expectedHash: b.hash });
      const r = await store.collect({ bytes: 1_000_000 });
      expect(r).toMatchObject({ removed: 0, skipped: 2 });
      expect(await store.gc(() => true)).toEqual([]);
      go();
      expect(await again).toMatchObject({ hash: b.hash, created: false });
      const parts: Uint8Array[] = [];
      for await (const p of reading) parts.push(p);
      expect(Buffer.concat(parts).equals(Buffer.from(testBytes(5000, 31)))).toBe(true);
      expect(await store.collect({ bytes: 1_000_000 })).toMatchObject({ removed: 2, bytes: 10_000 });
    });

    it("runs every gc interval, removing unpinned blobs idle for the grace period", async () => {
      let t = 1_000_000;
      const runs: unknown[] = [];
      const { store } = await mk({ now: () => t, gc: { intervalMs: 10, graceMs: 60_000, onRun: (r) => runs.push(r) } });
      const old = await store.import([testBytes(100, 41)]);
      const read = await store.import([testBytes(100, 42)]);
      const pinned = await store.import([testBytes(100, 43)], { pin: true });
      t += 50_000;
      await store.readAll(read.hash);
      t += 20_000; // old: idle 70 s; read: 20 s; pinned: never collected
      await until(async () => store.stats().gc.interval.removed > 0, 10_000, "the interval run to collect the idle blob");
      expect(await store.has(old.hash)).toBe(false);
      expect([await store.has(read.hash), await store.has(pinned.hash)]).toEqual([true, true]);
      expect(runs).toContainEqual(expect.objectContaining({ trigger: "interval", removed: 1, bytes: 100 }));
      expect(store.stats().gc.interval.removed).toBe(1);
    });

    it("accounting survives a restart (persistent stores)", async () => {
      const { store, reopen } = await mk({ chunkSize: 1024 });
      const data = testBytes(5000, 12);
      const { hash } = await store.import([data], { pin: true, tags: ["x"] });
      await store.import([testBytes(300, 13)]);
      if (!reopen) return; // memory store: nothing to reopen
      open.splice(open.indexOf(store), 1);
      const again = await reopen();
      open.push(again);
      expect(again.usage()).toMatchObject({ bytesUsed: 5300, blobCount: 2 });
      expect(await again.stat(hash)).toMatchObject({ pinned: true, tags: ["x"], size: 5000 });
      expect(Buffer.from(await again.readAll(hash)).equals(Buffer.from(data))).toBe(true);
    });

    it("writes an import's records with the blob (new or existing), none when the import fails, and keeps them across a restart", async () => {
      const { store, reopen } = await mk({ chunkSize: 1024 });
      const data = testBytes(3000, 61);
      const seen: { hash: string; size: number }[] = [];
      const r = await store.import([data], { pin: true, records: (b) => (seen.push(b), { "app/a": { n: 1, hash: b.hash }, "app/gone": undefined }) });
      expect(seen).toEqual([{ hash: r.hash, size: 3000 }]);
      expect(store.record("app/a")).toEqual({ n: 1, hash: r.hash });
      // The same bytes again: the blob exists, the records are written with its meta update.
      await store.import([data], { records: async () => ({ "app/a": { n: 2 }, "app/b": "x" }) });
      expect([store.record("app/a"), store.record("app/b")]).toEqual([{ n: 2 }, "x"]);
      // A callback that throws stores nothing; a hash mismatch never calls it.
      const other = testBytes(2000, 62);
      await expect(store.import([other], { records: () => { throw new Error("refused"); } })).rejects.toThrow("refused");
      const calls: unknown[] = [];
      await expect(store.import([other], { expectedHash: r.hash, records: (b) => (calls.push(b), {}) })).rejects.toThrow();
      expect(calls).toEqual([]);
      expect(store.usage().blobCount).toBe(1);
      await store.putRecords({ "app/c": [1, 2], "app/b": undefined, "other/z": 1 });
      expect(store.recordKeys("app/")).toEqual(["app/a", "app/c"]);
      expect(store.recordKeys("app/", 1)).toEqual(["app/a"]);
      expect(() => store.record("")).toThrow(TypeError);
      if (!reopen) return;
      open.splice(open.indexOf(store), 1);
      const again = await reopen();
      open.push(again);
      expect([again.record("app/a"), again.record("app/c"), again.record("app/b")]).toEqual([{ n: 2 }, [1, 2], undefined]);
    });

    it("read times survive a restart (persistent stores), so the eviction order does too", async () => {
      let t = 1000;
      const { store, reopen } = await mk({ now: () => t });
      const a = await store.import([testBytes(500, 51)]);
      t = 2000;
      const b = await store.import([testBytes(500, 52)]);
      t = 3000;
      await store.readAll(a.hash);
      if (!reopen) return;
      open.splice(open.indexOf(store), 1);
      const again = await reopen();
      open.push(again);
      expect(await again.collect({ bytes: 1 })).toMatchObject({ removed: 1 });
      expect([await again.has(a.hash), await again.has(b.hash)]).toEqual([true, false]);
    });
  });
}

/** Polls `f` until it is true or `ms` pass. */
async function until(f: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
