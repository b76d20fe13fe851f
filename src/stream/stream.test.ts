// Stream layer: Merkle frontier, ingest (window, unpin, persistence), origin answers, and the verifier with tampering.
import { afterEach, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { merkleRoot } from "../wasm/browser.ts";
import { MemoryBlobStore } from "../store/memory.ts";
import { canonicalBytes } from "./canonical.ts";
import { MerkleFrontier, segmentLeaf, signDelegation, signManifest, verifySignedManifest, StatementError, type SignedDelegation, type SignedManifest } from "./manifest.ts";
import { FileManifestStore, MemoryManifestStore, StoreManifestStore } from "./persist.ts";
import { LmdbBlobStore } from "../store/lmdb.ts";
import { StreamIngest } from "./ingest.ts";
import { originAnswer, parseLivePath } from "./origin.ts";
import { playlistUris, renderMediaPlaylist } from "./playlist.ts";
import { hexOf, publicKeyHex, signStatement } from "./signing.ts";
import { verifyStream } from "./verify.ts";

const creatorSecret = new Uint8Array(32).fill(1);
const nodeSecret = new Uint8Array(32).fill(2);
const creator = publicKeyHex(creatorSecret);
const node = publicKeyHex(nodeSecret);
const T0 = 1_900_000_000_000;

function seg(i: number, size = 5000): Uint8Array {
  const b = new Uint8Array(size);
  for (let j = 0; j < size; j++) b[j] = (i * 31 + j * 7) & 0xff;
  b[0] = 0x47;
  return b;
}

function delegation(o: Partial<SignedDelegation["statement"]> = {}): SignedDelegation {
  return signDelegation({ type: "STREAM_DELEGATION", v: 1, stream: "*", creator, node, notBefore: T0 / 1000 - 60, notAfter: T0 / 1000 + 3600, ...o }, creatorSecret);
}

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0)) await f();
});

function setup(o: { windowSegments?: number; keep?: boolean; persistence?: FileManifestStore | MemoryManifestStore; store?: MemoryBlobStore } = {}) {
  const store = o.store ?? new MemoryBlobStore();
  let now = T0;
  const ingest = new StreamIngest({
    store,
    persistence: o.persistence ?? new MemoryManifestStore(),
    nodeSecret,
    creatorSecret,
    delegationFor: () => delegation(),
    windowSegments: o.windowSegments ?? 4,
    keepRecording: () => o.keep ?? false,
    now: () => (now += 10),
  });
  return { store, ingest };
}

/** Serves the origin on loopback; `tamper` may rewrite any answer body. */
async function serve(ingest: StreamIngest, store: MemoryBlobStore, tamper?: (file: string, body: Uint8Array) => Uint8Array): Promise<string> {
  const server: Server = createServer((req, res) => {
    const p = parseLivePath(new URL(req.url ?? "/", "http://x").pathname);
    if (!p) {
      res.statusCode = 404;
      res.end();
      return;
    }
    void originAnswer(ingest, store, p[0], p[1]).then((a) => {
      let body = typeof a.body === "string" ? new TextEncoder().encode(a.body) : a.body;
      if (tamper) body = tamper(p[1], body);
      res.writeHead(a.status, a.headers);
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanup.push(() => new Promise((r) => server.close(r)));
  const a = server.address();
  return `http://127.0.0.1:${typeof a === "object" && a ? a.port : 0}/live/cam/one/`;
}

describe("MerkleFrontier", () => {
  it("equals the hashing core's merkleRoot for every size and restarts from saved peaks", () => {
    const leaves = Array.from({ length: 37 }, (_, i) => new Uint8Array(32).fill(i + 1));
    const f = new MerkleFrontier();
    for (let n = 1; n <= leaves.length; n++) {
      f.append(leaves[n - 1]!);
      expect(hexOf(f.root()), `n=${n}`).toBe(hexOf(merkleRoot(leaves.slice(0, n))));
      const resumed = new MerkleFrontier(f.size, f.peaks());
      for (let k = n; k < Math.min(n + 3, leaves.length); k++) resumed.append(leaves[k]!);
      const m = Math.min(n + 3, leaves.length);
      expect(hexOf(resumed.root()), `resume at ${n}`).toBe(hexOf(merkleRoot(leaves.slice(0, m))));
    }
    expect(hexOf(new MerkleFrontier().root())).toBe(hexOf(merkleRoot([])));
    expect(() => new MerkleFrontier(3, [])).toThrow(RangeError);
  });
});

describe("StreamIngest + origin + verifier", () => {
  it("ingests segments into a signed, windowed manifest that verifies end to end", async () => {
    const { store, ingest } = setup({ windowSegments: 4 });
    const sealed: number[] = [];
    ingest.on("sealed", (s) => sealed.push(s.entry.seq));
    for (let i = 0; i < 7; i++) await ingest.ingestSegment("cam/one", seg(i), 2000 + i);
    expect(sealed).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const sm = (await ingest.manifest("cam/one"))!;
    expect(sm.manifest).toMatchObject({ base: 3, count: 7, version: 7, creator, node, targetDuration: 3, ended: false });
    expect(sm.manifest.segments.map((e) => e.seq)).toEqual([3, 4, 5, 6]);
    verifySignedManifest(sm, creator);
    // Dropped segments are unpinned, listed ones pinned.
    const hashes = [];
    for (let i = 0; i < 7; i++) hashes.push((await store.import([seg(i)])).hash);
    for (let i = 0; i < 7; i++) expect((await store.stat(hashes[i]!)).pinned, `segment ${i} pinned`).toBe(i >= 3);

    const pl = renderMediaPlaylist(sm.manifest);
    expect(pl).toContain("#EXT-X-MEDIA-SEQUENCE:3");
    expect(pl).toContain("#EXTINF:2.003,");
    expect(playlistUris(pl)).toEqual(sm.manifest.segments.map((e) => `${e.blake3}.ts`));

    const url = await serve(ingest, store);
    const report = await verifyStream(url, { creator });
    expect(report).toMatchObject({ ok: true, stream: "cam/one", count: 7, segmentsChecked: 4 });
    const two = await verifyStream(url, { creator, segments: 2 });
    expect(two.segmentsChecked).toBe(2);
    const stranger = await verifyStream(url, { creator: node });
    expect(stranger.failure?.code).toBe("announce-creator");
  });

  it("keeps segments pinned when the path keeps a recording, and marks discontinuities and the end", async () => {
    const { store, ingest } = setup({ windowSegments: 2, keep: true });
    await ingest.ingestSegment("cam/one", seg(0), 1000);
    await ingest.markDiscontinuity("cam/one");
    await ingest.ingestSegment("cam/one", seg(1), 1000);
    await ingest.ingestSegment("cam/one", seg(2), 1000);
    const h0 = (await store.import([seg(0)])).hash;
    expect((await store.stat(h0)).pinned).toBe(true);
    const ended = (await ingest.end("cam/one"))!;
    expect(ended.manifest.ended).toBe(true);
    expect(ended.manifest.segments.map((e) => e.disc)).toEqual([true, false]);
    const pl = renderMediaPlaylist(ended.manifest);
    expect(pl).toMatch(/#EXT-X-DISCONTINUITY\n#EXTINF/);
    expect(pl.trim().endsWith("#EXT-X-ENDLIST")).toBe(true);
    verifySignedManifest(ended, creator);
  });

  it("persists manifests: a new ingest continues the same tree after a restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "slowdrip-manifests-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const store = new MemoryBlobStore();
    const a = setup({ persistence: new FileManifestStore(dir), store, windowSegments: 10 });
    for (let i = 0; i < 5; i++) await a.ingest.ingestSegment("cam/one", seg(i), 1500);
    const before = (await a.ingest.manifest("cam/one"))!;
    const b = setup({ persistence: new FileManifestStore(dir), store, windowSegments: 10 });
    expect(await b.ingest.manifest("cam/one")).toEqual(before);
    await b.ingest.ingestSegment("cam/one", seg(5), 1500);
    const after = (await b.ingest.manifest("cam/one"))!;
    expect(after.manifest.count).toBe(6);
    expect(after.manifest.segments.at(-1)!.disc).toBe(true);
    verifySignedManifest(after, creator);
    // The same tree continues: the root covers all six entries.
    expect(after.manifest.segments.slice(0, 5)).toEqual(before.manifest.segments);
    expect(after.manifest.root).toBe(hexOf(merkleRoot(after.manifest.segments.map(segmentLeaf))));
    expect(await new FileManifestStore(dir).list()).toEqual([["cam/one", "source"]]);
  });

  it("refuses bad input and a missing or expired delegation without storing anything", async () => {
    const store = new MemoryBlobStore();
    const mk = (d: SignedDelegation | null) =>
      new StreamIngest({ store, persistence: new MemoryManifestStore(), nodeSecret, delegationFor: () => d, now: () => T0 });
    const cases: [string, () => Promise<unknown>, string][] = [
      ["no delegation", () => mk(null).ingestSegment("a", seg(0), 1000), "no-delegation"],
      ["expired", () => mk(delegation({ notAfter: T0 / 1000 - 1, notBefore: T0 / 1000 - 100 })).ingestSegment("a", seg(0), 1000), "delegation-expired"],
      ["other node", () => mk(delegation({ node: creator })).ingestSegment("a", seg(0), 1000), "no-delegation"],
      ["bad name", () => mk(delegation()).ingestSegment("../x", seg(0), 1000), "bad-stream"],
      ["empty", () => mk(delegation()).ingestSegment("a", new Uint8Array(0), 1000), "too-large"],
      ["zero duration", () => mk(delegation()).ingestSegment("a", seg(0), 0), "bad-duration"],
    ];
    for (const [name, f, code] of cases) {
      const err = await f().then(() => null, (e) => e);
      expect(err?.code, name).toBe(code);
    }
    expect(store.usage().blobCount).toBe(0);
  });
});

describe("verifier tampering", () => {
  async function published() {
    const { store, ingest } = setup({ windowSegments: 5 });
    for (let i = 0; i < 5; i++) await ingest.ingestSegment("cam/one", seg(i), 2000);
    return { store, ingest };
  }
  const editManifest = (f: (sm: SignedManifest) => void) => (file: string, body: Uint8Array) => {
    if (file !== "manifest.json") return body;
    const sm = JSON.parse(new TextDecoder().decode(body)) as SignedManifest;
    f(sm);
    return new TextEncoder().encode(JSON.stringify(sm));
  };

  it("names the first failure for each kind of tampering", async () => {
    const { store, ingest } = await published();
    const target = (await ingest.manifest("cam/one"))!.manifest.segments[2]!.blake3;
    const cases: [string, (file: string, body: Uint8Array) => Uint8Array, string][] = [
      ["one segment byte", (file, body) => {
        if (file !== `${target}.ts`) return body;
        const b = body.slice();
        b[100] = b[100]! ^ 1;
        return b;
      }, "segment-blake3"],
      ["one manifest entry (duration)", editManifest((sm) => { sm.manifest.segments[1]!.duration += 1; }), "merkle-root"],
      ["one manifest entry (sha256)", editManifest((sm) => { sm.manifest.segments[1]!.sha256 = "00".repeat(32); }), "merkle-root"],
      ["one manifest entry and its root", editManifest((sm) => {
        sm.manifest.segments[1]!.size += 1;
        sm.manifest.root = hexOf(merkleRoot(sm.manifest.segments.map(segmentLeaf)));
      }), "manifest-signature"],
      ["delegation expiry", editManifest((sm) => { sm.delegation.statement.notAfter += 86_400; }), "delegation-signature"],
      ["manifest signature", editManifest((sm) => { sm.signature = sm.signature.replace(/^./, (c) => (c === "0" ? "1" : "0")); }), "manifest-signature"],
      ["segment removed from the window", editManifest((sm) => { sm.manifest.segments.pop(); }), "manifest-structure"],
      ["announce title", (file, body) => file === "announce.json" ? new TextEncoder().encode(new TextDecoder().decode(body).replace('"title":"cam/one"', '"title":"evil"')) : body, "announce-signature"],
      ["playlist with a foreign URI", (file, body) => file === "index.m3u8" ? new TextEncoder().encode(new TextDecoder().decode(body).replace(/\n([0-9a-f]{64})\.ts\n/, "\nhttp://evil/x.ts\n")) : body, "playlist-mismatch"],
    ];
    for (const [name, tamper, code] of cases) {
      const url = await serve(ingest, store, tamper);
      const r = await verifyStream(url, { creator });
      expect(r.ok, name).toBe(false);
      expect(r.failure?.code, `${name}: ${r.failure?.message}`).toBe(code);
    }
  });

  it("refuses a manifest re-signed by the node outside the delegation window", async () => {
    const { store, ingest } = await published();
    const url = await serve(ingest, store, editManifest((sm) => {
      sm.manifest.issuedAt = (sm.delegation.statement.notAfter + 10) * 1000;
      Object.assign(sm, signManifest(sm.manifest, sm.delegation, nodeSecret));
    }));
    const r = await verifyStream(url, { creator });
    expect(r.failure?.code, r.failure?.message).toBe("delegation-window");
  });

  it("refuses a delegation signed by someone else and statements signed for another type", () => {
    const d = delegation();
    const forged = { ...d, signature: signStatement("STREAM_DELEGATION", d.statement, nodeSecret) };
    const sm: SignedManifest = { ...signManifest({
      type: "MANIFEST_ROOT", v: 1, stream: "s", rendition: "source", creator, node, version: 1, issuedAt: T0, base: 0, peaks: [], count: 0,
      root: hexOf(merkleRoot([])), targetDuration: 1, ended: false, segments: [],
    }, forged, nodeSecret) };
    expect(() => verifySignedManifest(sm, creator)).toThrow(StatementError);
    // Cross-type replay: a delegation signature does not verify as an announce.
    expect(signStatement("STREAM_ANNOUNCE", d.statement, creatorSecret)).not.toBe(d.signature);
    expect(canonicalBytes(d.statement).length).toBeGreaterThan(0);
  });
});

describe("verifier portability", () => {
  it("depends on no Node-only module (the browser player uses the same code)", async () => {
    const { readFileSync } = await import("node:fs");
    const { dirname: dn, resolve } = await import("node:path");
    const seen = new Set<string>();
    const offenders: string[] = [];
    const walk = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const src = readFileSync(file, "utf8");
      for (const m of src.matchAll(/^(?:import|export)\s[^;]*?from\s+"([^"]+)"/gms)) {
        const spec = m[1]!;
        if (/^import\s+type\s/.test(m[0]) || /^export\s+type\s/.test(m[0])) continue;
        if (spec.startsWith("node:") || ["fs", "path", "crypto", "buffer", "events", "child_process"].includes(spec)) offenders.push(`${file}: ${spec}`);
        else if (spec.startsWith(".")) walk(resolve(dn(file), spec));
      }
      if (/\bBuffer\.|\bprocess\./.test(src)) offenders.push(`${file}: uses Buffer/process`);
    };
    walk(resolve(import.meta.dirname, "verify.ts"));
    expect(offenders).toEqual([]);
    expect(seen.size).toBeGreaterThan(4);
  });
});

describe("ingest failure", () => {
  it("changes nothing when the manifest cannot be saved: state reloads, the new segment is unpinned", async () => {
    const store = new MemoryBlobStore();
    const inner = new MemoryManifestStore();
    let fail = false;
    const persistence = {
      load: (s: string, r: string) => inner.load(s, r),
      list: () => inner.list(),
      save: async (s: string, r: string, st: Parameters<MemoryManifestStore["save"]>[2]) => {
        if (fail) throw new Error("disk full");
        return inner.save(s, r, st);
      },
    };
    const ingest = new StreamIngest({ store, persistence, nodeSecret, creatorSecret, delegationFor: () => delegation(), now: () => T0 });
    await ingest.ingestSegment("s", seg(0), 1000);
    fail = true;
    await expect(ingest.ingestSegment("s", seg(1), 1000)).rejects.toThrow(/disk full/);
    const h1 = (await store.import([seg(1)])).hash;
    expect((await store.stat(h1)).pinned).toBe(false);
    fail = false;
    const ok = await ingest.ingestSegment("s", seg(2), 1000);
    expect(ok.entry.seq).toBe(1);
    const sm = (await ingest.manifest("s"))!;
    expect(sm.manifest.count).toBe(2);
    verifySignedManifest(sm, creator);
  });
});

describe("manifests kept in the blob store (the node's persistence)", () => {
  it("are committed with their segment in one transaction, survive a reopen, and are never ahead of or behind the stored segments", async () => {
    const dir = mkdtempSync(join(tmpdir(), "slowdrip-manifests-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "db");
    const store = await LmdbBlobStore.open({ path });
    let closed = false;
    cleanup.push(() => (closed ? undefined : store.close()));
    // Count the store's write transactions: the segment and its manifest must take one.
    const backend = (store as unknown as { backend: { putRecords: (...a: unknown[]) => Promise<void> } }).backend;
    let separate = 0;
    const put = backend.putRecords.bind(backend);
    backend.putRecords = (...a: unknown[]) => ((separate += 1), put(...a));
    let now = T0;
    let valid = true;
    const mk = (s: LmdbBlobStore) =>
      new StreamIngest({ store: s, persistence: new StoreManifestStore(s), nodeSecret, creatorSecret, delegationFor: () => (valid ? delegation() : null), windowSegments: 3, now: () => (now += 10) });
    const a = mk(store);
    for (let i = 0; i < 4; i++) await a.ingestSegment("cam/one", seg(i), 1000);
    expect(separate).toBe(0);
    const before = (await a.manifest("cam/one"))!;
    expect(JSON.parse(store.record("manifest/source/cam/one") as string).signed).toEqual(before);
    // The delegation goes away between the check and signing: neither the segment nor a manifest is stored.
    let calls = 0;
    const b = new StreamIngest({ store, persistence: new StoreManifestStore(store), nodeSecret, creatorSecret, delegationFor: () => (++calls > 1 ? null : delegation()), windowSegments: 3, now: () => (now += 10) });
    await expect(b.ingestSegment("cam/one", seg(9), 1000)).rejects.toMatchObject({ code: "no-delegation" });
    expect(await store.has((await new MemoryBlobStore().import([seg(9)])).hash)).toBe(false);
    expect(JSON.parse(store.record("manifest/source/cam/one") as string).signed).toEqual(before);
    await store.close();
    closed = true;
    valid = true;
    const again = await LmdbBlobStore.open({ path });
    cleanup.push(() => again.close());
    const c = mk(again);
    expect(await c.manifest("cam/one")).toEqual(before);
    const next = await c.ingestSegment("cam/one", seg(4), 1000);
    expect([next.entry.seq, next.entry.disc, next.version]).toEqual([4, true, before.manifest.version + 1]);
    const sm = (await c.manifest("cam/one"))!;
    verifySignedManifest(sm, creator);
    for (const e of sm.manifest.segments) expect((await again.stat(e.blake3)).pinned).toBe(true);
    // end() re-signs with a record write of its own.
    await c.end("cam/one");
    expect(JSON.parse(again.record("manifest/source/cam/one") as string).signed.manifest.ended).toBe(true);
    expect(await new StoreManifestStore(again).list()).toEqual([["cam/one", "source"]]);
  });

  it("still load manifests an older node saved as files", async () => {
    const dir = mkdtempSync(join(tmpdir(), "slowdrip-manifests-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const store = new MemoryBlobStore();
    const old = setup({ persistence: new FileManifestStore(dir), store });
    for (let i = 0; i < 3; i++) await old.ingest.ingestSegment("cam/two", seg(i), 1000);
    const before = (await old.ingest.manifest("cam/two"))!;
    const p = new StoreManifestStore(store, dir);
    expect(await p.list()).toEqual([["cam/two", "source"]]);
    const ingest = new StreamIngest({ store, persistence: p, nodeSecret, creatorSecret, delegationFor: () => delegation(), now: () => T0 + 1000 });
    expect(await ingest.manifest("cam/two")).toEqual(before);
    const s = await ingest.ingestSegment("cam/two", seg(3), 1000);
    expect([s.entry.seq, s.version]).toEqual([3, before.manifest.version + 1]);
    expect(typeof store.record("manifest/source/cam/two")).toBe("string");
    expect(await p.list()).toEqual([["cam/two", "source"]]);
  });
});

describe("segments shared by two paths (identical bytes are one blob)", () => {
  it("stay pinned when another path's window leaves them while a recording path or another window holds them", async () => {
    const store = new MemoryBlobStore();
    const ingest = new StreamIngest({ store, persistence: new MemoryManifestStore(), nodeSecret, creatorSecret, delegationFor: () => delegation(), windowSegments: 2, keepRecording: (p) => p === "rec/keep", now: () => T0 });
    // The same first segment on a recording path and on a live path (e.g. two publishes of the same source).
    await ingest.ingestSegment("rec/keep", seg(0), 1000);
    await ingest.ingestSegment("other", seg(1), 1000);
    for (const i of [0, 1, 2, 3, 4]) await ingest.ingestSegment("live/a", seg(i), 1000);
    const hash = async (i: number) => (await store.import([seg(i)])).hash;
    // seg(0) left live/a's window but rec/keep keeps it; seg(1) left it too but other's window lists it.
    expect((await store.stat(await hash(0))).pinned).toBe(true);
    expect((await store.stat(await hash(1))).pinned).toBe(true);
    // seg(2) was live/a's alone: released.
    expect((await store.stat(await hash(2))).pinned).toBe(false);
  });
});
