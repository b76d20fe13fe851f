// SHA-256 index contract: what every BlobStore implementation does with SHA-256 (run by sha256-index.test.ts on both).
import { createHash } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { InvalidHashError, NotFoundError } from "./errors.ts";
import { pieces, refHash, testBytes, type MakeStore } from "./contract.ts";
import { Sha256MismatchError, migrateSha256, type Sha256MigrationProgress } from "./sha256-index.ts";
import type { StoreOptions } from "./chunked-store.ts";
import type { BlobStore } from "./types.ts";

/** Reference SHA-256 hex. */
export function refSha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

/** Runs the SHA-256 index contract against one implementation. */
export function runSha256IndexContract(name: string, make: MakeStore): void {
  describe(`SHA-256 index contract: ${name}`, () => {
    const open: BlobStore[] = [];
    const mk = async (o?: StoreOptions) => {
      const r = await make(o);
      open.push(r.store);
      return r;
    };
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close().catch(() => undefined);
    });

    it("every import records the SHA-256 of its bytes and indexes it to the BLAKE3 name", async () => {
      const { store } = await mk({ chunkSize: 4096 });
      for (const [n, seed] of [[0, 1], [1, 2], [4095, 3], [4096, 4], [300_000, 5], [3 * 1024 * 1024 + 17, 6]] as const) {
        const data = testBytes(n, seed);
        const r = await store.import(pieces(data, 9999));
        const meta = await store.stat(r.hash);
        expect(meta.sha256).toBe(refSha256(data));
        const found = await store.bySha256(refSha256(data));
        expect(found.hash).toBe(refHash(data));
        expect(found.size).toBe(n);
      }
    });

    it("a wrong expected SHA-256 stores nothing; a right one (or one of a list) stores", async () => {
      const { store } = await mk();
      const data = testBytes(70_000, 7);
      const wrong = refSha256(testBytes(10, 8));
      const before = store.usage();
      const err = await store.import(pieces(data), { expectedSha256: wrong }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Sha256MismatchError);
      expect((err as Sha256MismatchError).actual).toBe(refSha256(data));
      expect(await store.has(refHash(data))).toBe(false);
      await expect(store.bySha256(refSha256(data))).rejects.toBeInstanceOf(NotFoundError);
      expect(store.usage()).toMatchObject({ bytesUsed: before.bytesUsed, blobCount: before.blobCount, reservedBytes: 0 });
      const ok = await store.import(pieces(data), { expectedSha256: [wrong, refSha256(data)] });
      expect(ok).toMatchObject({ hash: refHash(data), created: true });
      expect((await store.stat(ok.hash)).sha256).toBe(refSha256(data));
      // An already-stored blob sent with a wrong SHA-256 is refused and stays as it was.
      await expect(store.import([data], { expectedSha256: wrong })).rejects.toBeInstanceOf(Sha256MismatchError);
      expect((await store.bySha256(refSha256(data))).hash).toBe(refHash(data));
      await expect(store.import([data], { expectedSha256: "XYZ" })).rejects.toBeInstanceOf(TypeError);
    });

    it("deleting a blob drops its index entry; bad SHA-256 input is refused", async () => {
      const { store } = await mk();
      const data = testBytes(5000, 9);
      const { hash } = await store.import([data]);
      expect(await store.delete(hash)).toBe(true);
      await expect(store.bySha256(refSha256(data))).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.bySha256("AB".repeat(32))).rejects.toBeInstanceOf(InvalidHashError);
      await expect(store.bySha256("ab")).rejects.toBeInstanceOf(InvalidHashError);
    });

    it("a store without SHA-256 (stores made before the index) indexes a blob on demand or on a later upload", async () => {
      const { store } = await mk({ sha256: false });
      const a = testBytes(200_000, 10);
      const b = testBytes(1234, 11);
      const ra = await store.import(pieces(a));
      const rb = await store.import([b]);
      expect((await store.stat(ra.hash)).sha256).toBeUndefined();
      await expect(store.bySha256(refSha256(a))).rejects.toBeInstanceOf(NotFoundError);
      const m = await store.indexSha256(ra.hash);
      expect(m.sha256).toBe(refSha256(a));
      expect((await store.bySha256(refSha256(a))).hash).toBe(ra.hash);
      expect((await store.indexSha256(ra.hash)).sha256).toBe(refSha256(a));
      // Uploading a stored blob again with its SHA-256 named verifies and records it.
      const again = await store.import([b], { expectedSha256: refSha256(b) });
      expect(again).toMatchObject({ created: false });
      expect((await store.stat(rb.hash)).sha256).toBe(refSha256(b));
      expect((await store.bySha256(refSha256(b))).hash).toBe(rb.hash);
      await expect(store.indexSha256("cd".repeat(32))).rejects.toBeInstanceOf(NotFoundError);
    });

    it("an import with sha256: false computes and indexes none, unless a SHA-256 is expected; a later upload adds it", async () => {
      const { store } = await mk({ chunkSize: 4096 });
      const a = testBytes(300_000, 12);
      const ra = await store.import(pieces(a, 7000), { sha256: false });
      expect((await store.stat(ra.hash)).sha256).toBeUndefined();
      await expect(store.bySha256(refSha256(a))).rejects.toBeInstanceOf(NotFoundError);
      // An expected SHA-256 is still checked (and then recorded).
      const b = testBytes(5000, 13);
      await expect(store.import([b], { sha256: false, expectedSha256: refSha256(a) })).rejects.toBeInstanceOf(Sha256MismatchError);
      expect(await store.has(refHash(b))).toBe(false);
      expect((await store.stat((await store.import([b], { sha256: false, expectedSha256: refSha256(b) })).hash)).sha256).toBe(refSha256(b));
      // The same bytes uploaded again the default way get their SHA-256; sha256: false never removes one.
      await store.import([a]);
      expect((await store.bySha256(refSha256(a))).hash).toBe(ra.hash);
      await store.import([a], { sha256: false, tags: ["again"] });
      expect((await store.stat(ra.hash)).sha256).toBe(refSha256(a));
      await expect(store.import([a], { sha256: "no" as unknown as boolean })).rejects.toBeInstanceOf(TypeError);
    });

    it("the migration leaves alone the blobs its skip names", async () => {
      const { store } = await mk({ sha256: false });
      const blobs = Array.from({ length: 6 }, (_, i) => testBytes(2000 + i, 300 + i));
      for (const [i, b] of blobs.entries()) await store.import([b], { tags: i % 2 ? ["shard"] : [] });
      expect(await migrateSha256(store, { skip: (m) => m.tags.includes("shard") })).toMatchObject({ total: 3, indexed: 3 });
      for (const [i, b] of blobs.entries()) expect((await store.stat(refHash(b))).sha256).toBe(i % 2 ? undefined : refSha256(b));
      expect(await migrateSha256(store, { skip: (m) => m.tags.includes("shard") })).toMatchObject({ total: 0 });
    });

    it("the migration indexes every blob stored without one while reads go on", async () => {
      const { store } = await mk({ sha256: false, chunkSize: 16 * 1024 });
      const blobs = Array.from({ length: 60 }, (_, i) => testBytes(1000 + i * 997, 100 + i));
      const hashes: string[] = [];
      for (const b of blobs) hashes.push((await store.import([b])).hash);
      // The migration works in hash order: the blob deleted halfway is the last one, not yet reached.
      const gone = [...blobs].sort((x, y) => (refHash(x) < refHash(y) ? -1 : 1))[59]!;
      const seen: Sha256MigrationProgress[] = [];
      const lines: string[] = [];
      const log = { info: (_o: object, msg: string) => void lines.push(msg), warn: (_o: object, msg: string) => void lines.push(msg) };
      const result = await migrateSha256(store, {
        log,
        onProgress: async (p) => {
          seen.push({ ...p });
          if (p.indexed === 30) {
            // Halfway: every blob still reads back, indexed or not, and one is deleted under the migration.
            for (const [i, b] of blobs.entries()) expect(Buffer.from(await store.readAll(hashes[i]!)).equals(b)).toBe(true);
            expect(await store.delete(refHash(gone))).toBe(true);
          }
        },
      });
      expect(result).toMatchObject({ total: 60, indexed: 59, skipped: 1 });
      expect(seen.length).toBe(60);
      expect(seen[29]!.indexed + seen[29]!.skipped).toBe(30);
      for (const b of blobs.filter((x) => x !== gone)) expect((await store.bySha256(refSha256(b))).hash).toBe(refHash(b));
      expect(lines[0]).toMatch(/indexing blobs stored before it/);
      expect(lines.at(-1)).toMatch(/sha256 index: done/);
      // A second run finds nothing to do and writes nothing.
      lines.length = 0;
      expect(await migrateSha256(store, { log })).toMatchObject({ total: 0, indexed: 0 });
      expect(lines).toEqual([]);
    });

    it("an aborted migration stops between blobs and the next run finishes the rest", async () => {
      const { store } = await mk({ sha256: false });
      const blobs = Array.from({ length: 10 }, (_, i) => testBytes(3000 + i, 200 + i));
      for (const b of blobs) await store.import([b]);
      const stop = new AbortController();
      const err = await migrateSha256(store, { signal: stop.signal, onProgress: (p) => (p.indexed === 4 ? stop.abort() : undefined) }).catch((e: unknown) => e);
      expect((err as Error).name).toBe("AbortError");
      const indexed = (await store.list({ limit: 100 })).items.filter((m) => m.sha256).length;
      expect(indexed).toBeGreaterThanOrEqual(4);
      expect(indexed).toBeLessThan(10);
      expect(await migrateSha256(store)).toMatchObject({ total: 10 - indexed, indexed: 10 - indexed });
      for (const b of blobs) expect((await store.bySha256(refSha256(b))).hash).toBe(refHash(b));
    });
  });
}
