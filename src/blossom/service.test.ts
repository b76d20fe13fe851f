// The Blossom service over a real LMDB store and ownership tables: owned blobs are pinned (GC keeps them), a delete
// removes one owner and the bytes go only with the last one (never an operator's pinned blob), quotas, list paging.
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LmdbBlobStore } from "../store/lmdb.ts";
import { openLmdb } from "../store/lmdb-native.ts";
import { Sha256MismatchError } from "../store/sha256-index.ts";
import { BlossomError } from "./errors.ts";
import { BlossomOwners } from "./owners.ts";
import { BlossomService, type BlossomSettings } from "./service.ts";

const A = "a1".repeat(32);
const B = "b2".repeat(32);
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const settings: BlossomSettings = { allowedPubkeys: [A, B], openUploads: false, quota: { bytes: 100_000, blobs: 5 }, maxUploadSize: 50_000, allowedTypes: [], paidUploads: false };

let dir: string;
let store: LmdbBlobStore;
let root: Awaited<ReturnType<typeof openLmdb>>;
let clock = 1_700_000_000;
let svc: BlossomService;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "slowdrip-blossom-svc-"));
  store = await LmdbBlobStore.open({ path: join(dir, "db") });
  root = await openLmdb({ path: join(dir, "db"), compression: false });
  svc = new BlossomService({ store, owners: new BlossomOwners(root), settings, now: () => clock });
});

afterEach(async () => {
  await root.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const up = (pubkey: string, bytes: Uint8Array, type = "image/png") => svc.upload([bytes], { pubkey, sha256: sha(bytes), type });

describe("BlossomService", () => {
  it("owned blobs are pinned: a full collection keeps them; the last owner's delete takes the bytes", async () => {
    const bytes = randomBytes(10_000);
    const first = await up(A, bytes);
    expect(first.created).toBe(true);
    expect((await store.stat(first.record.blake3)).pinned).toBe(true);
    const loose = await store.import([randomBytes(5000)]);
    const gc = await store.collect({ idleBefore: Date.now() + 3_600_000 });
    expect(gc.removed).toBe(1);
    expect(await store.has(loose.hash)).toBe(false);
    expect(await store.has(first.record.blake3)).toBe(true);

    expect((await up(B, bytes)).created).toBe(false);
    expect(await svc.remove(A, sha(bytes))).toEqual({ deleted: false });
    expect((await store.stat(first.record.blake3)).pinned).toBe(true);
    await expect(svc.remove(A, sha(bytes))).rejects.toMatchObject({ reason: "not-owner" });
    expect(await svc.remove(B, sha(bytes))).toEqual({ deleted: true });
    expect(await store.has(first.record.blake3)).toBe(false);
    expect(svc.owners.usage(A)).toEqual({ bytes: 0, blobs: 0 });
  });

  it("a blob pinned before its first owner keeps its pin and bytes when the last owner leaves", async () => {
    const bytes = randomBytes(7000);
    const pre = await store.import([bytes], { pin: true });
    const r = await up(A, bytes);
    expect(r.created).toBe(false);
    expect(r.record.blake3).toBe(pre.hash);
    expect(await svc.remove(A, sha(bytes))).toEqual({ deleted: false });
    expect((await store.stat(pre.hash)).pinned).toBe(true);
    // One stored unpinned (a /blobs upload): Blossom pins it while owned, unpins and removes it with its last owner.
    const plain = randomBytes(7001);
    const p = await store.import([plain]);
    await up(B, plain);
    expect((await store.stat(p.hash)).pinned).toBe(true);
    expect(await svc.remove(B, sha(plain))).toEqual({ deleted: true });
  });

  it("quotas by bytes and blobs refuse the upload and leave nothing behind", async () => {
    const made = [];
    for (let i = 0; i < 2; i++) made.push(await up(A, randomBytes(40_000)));
    const over = randomBytes(30_000);
    await expect(up(A, over)).rejects.toMatchObject({ reason: "quota-bytes" });
    expect(await store.bySha256(sha(over)).catch(() => undefined)).toBeUndefined();
    expect(svc.owners.usage(A)).toEqual({ bytes: 80_000, blobs: 2 });
    // Someone else's unpinned copy stays unpinned after a refused claim on it.
    const theirs = randomBytes(30_001);
    const t = await store.import([theirs]);
    await expect(up(A, theirs)).rejects.toMatchObject({ reason: "quota-bytes" });
    expect(await store.stat(t.hash)).toMatchObject({ pinned: false });
    for (let i = 0; i < 5; i++) await up(B, randomBytes(10));
    await expect(up(B, randomBytes(10))).rejects.toMatchObject({ reason: "quota-blobs" });
    expect(() => svc.uploadRight(B, 1)).toThrow(BlossomError);
  });

  it("limits: size (declared or streamed), types; a SHA-256 mismatch stores nothing", async () => {
    const big = randomBytes(60_000);
    await expect(svc.upload([big], { pubkey: A, sha256: sha(big), size: big.length })).rejects.toMatchObject({ reason: "too-large" });
    await expect(svc.upload([big.subarray(0, 30_000), big.subarray(30_000)], { pubkey: A, sha256: sha(big) })).rejects.toMatchObject({ reason: "too-large" });
    const small = randomBytes(100);
    await expect(svc.upload([small], { pubkey: A, sha256: sha(randomBytes(100)) })).rejects.toBeInstanceOf(Sha256MismatchError);
    expect(store.usage().blobCount).toBe(0);
    const typed = new BlossomService({ store, owners: svc.owners, settings: { ...settings, allowedTypes: ["image/*", "text/plain"] } });
    expect(() => typed.checkLimits(10, "image/webp")).not.toThrow();
    expect(() => typed.checkLimits(10, "text/plain")).not.toThrow();
    expect(() => typed.checkLimits(10, "text/html")).toThrow(/not accepted/);
  });

  it("who may upload: listed pubkeys free, open uploads free for anyone, else paid or refused", () => {
    const C = "c3".repeat(32);
    expect(svc.uploadRight(A, 10)).toBe("free");
    expect(() => svc.uploadRight(C, 10)).toThrow(/allowed_pubkeys/);
    const paid = new BlossomService({ store, owners: svc.owners, settings: { ...settings, paidUploads: true } });
    expect(paid.uploadRight(C, 10)).toBe("paid");
    expect(paid.uploadRight(A, 10)).toBe("free");
    const open = new BlossomService({ store, owners: svc.owners, settings: { ...settings, openUploads: true } });
    expect(open.uploadRight(C, 10)).toBe("free");
  });

  it("lists newest first, pages by cursor, filters by since/until, and skips blobs whose bytes are gone", async () => {
    const shas: string[] = [];
    for (let i = 0; i < 5; i++) {
      clock = 1_700_000_000 + i * 10;
      const b = randomBytes(100 + i);
      await up(A, b, "text/plain");
      shas.push(sha(b));
    }
    const all = await svc.list(A, { limit: 100 });
    expect(all.map((r) => r.sha256)).toEqual([...shas].reverse());
    const p1 = await svc.list(A, { limit: 2 });
    const p2 = await svc.list(A, { limit: 2, cursor: p1[1]!.sha256 });
    const p3 = await svc.list(A, { limit: 2, cursor: p2[1]!.sha256 });
    expect([...p1, ...p2, ...p3].map((r) => r.sha256)).toEqual([...shas].reverse());
    expect((await svc.list(A, { limit: 100, since: 1_700_000_010, until: 1_700_000_030 })).map((r) => r.sha256)).toEqual([shas[3], shas[2], shas[1]]);
    expect(await svc.list(A, { limit: 10, cursor: "f".repeat(64) })).toEqual([]);
    expect(await svc.list(B, { limit: 10 })).toEqual([]);
    // An operator's forced delete leaves the record; the list no longer shows the blob.
    await store.delete(all[0]!.blake3, { force: true });
    expect((await svc.list(A, { limit: 100 })).length).toBe(4);
    expect(svc.descriptor(all[1]!, "https://cdn.example.com")).toEqual({
      url: `https://cdn.example.com/${all[1]!.sha256}.txt`,
      sha256: all[1]!.sha256,
      size: all[1]!.size,
      type: "text/plain",
      uploaded: 1_700_000_030,
      blake3: all[1]!.blake3,
    });
  });

  it("the type of a blob is its first upload's", async () => {
    const b = randomBytes(500);
    await up(A, b, "image/gif");
    const r = await up(B, b, "application/pdf");
    expect(r.record.type).toBe("image/gif");
    expect((await svc.find(sha(b))).type).toBe("image/gif");
  });
});
