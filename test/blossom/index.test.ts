// The SHA-256 index in a real `slowdrip run`: after a restart /<sha256> and /blobs/<blake3> serve the same bytes
// (for blobs uploaded over /blobs and over Blossom), and a store of 1000 blobs written before the index is indexed by
// the background migration, with progress in the log, while reads go on.
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LmdbBlobStore } from "../../src/store/lmdb.ts";
import { spawnNode, tempDir, type SpawnedNode } from "../helpers/node.ts";
import { authEvent, authHeader, nostrUser, sha256Hex, stopNode } from "./helpers.ts";

const dirs: string[] = [];
const running: SpawnedNode[] = [];

afterAll(async () => {
  for (const n of running) await stop(n);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const stop = stopNode;

async function start(dir: string, extra: string[] = []): Promise<SpawnedNode> {
  const n = await spawnNode(["--data-dir", dir, ...extra]);
  running.push(n);
  return n;
}

async function body(url: string): Promise<Buffer> {
  const r = await fetch(url);
  expect(r.status, url).toBe(200);
  return Buffer.from(await r.arrayBuffer());
}

describe("SHA-256 index in slowdrip run", () => {
  it("after a restart /<sha256> and /blobs/<blake3> serve the same bytes", async () => {
    const dir = tempDir("slowdrip-blossom-index-");
    dirs.push(dir);
    const user = nostrUser();
    const n1 = await start(dir, ["--set", `blossom.allowed_pubkeys=${user.pubkey}`]);
    const token = readFileSync(join(dir, "admin.token"), "utf8").trim();
    const viaBlobs = randomBytes(1_000_000);
    const up = await fetch(`${n1.adminUrl}/blobs`, { method: "PUT", body: viaBlobs, headers: { authorization: `Bearer ${token}` } });
    expect(up.status).toBe(201);
    const blobsHash = ((await up.json()) as { hash: string }).hash;
    const viaBlossom = randomBytes(300_001);
    const put = await fetch(`${n1.url}/upload`, {
      method: "PUT",
      body: viaBlossom,
      headers: { authorization: authHeader(authEvent(user, { x: [sha256Hex(viaBlossom)] })), "x-sha-256": sha256Hex(viaBlossom), "content-type": "image/webp" },
    });
    expect(put.status).toBe(201);
    const blossomHash = ((await put.json()) as { blake3: string }).blake3;
    await stop(n1);

    const n2 = await start(dir);
    for (const [bytes, blake3, type] of [[viaBlobs, blobsHash, "application/octet-stream"], [viaBlossom, blossomHash, "image/webp"]] as const) {
      const a = await body(`${n2.url}/${sha256Hex(bytes)}`);
      const b = await body(`${n2.url}/blobs/${blake3}`);
      expect(a.equals(bytes)).toBe(true);
      expect(b.equals(a)).toBe(true);
      expect((await fetch(`${n2.url}/${sha256Hex(bytes)}`, { method: "HEAD" })).headers.get("content-type")).toBe(type);
    }
    const list = (await (await fetch(`${n2.url}/list/${user.pubkey}`)).json()) as { sha256: string }[];
    expect(list.map((d) => d.sha256)).toEqual([sha256Hex(viaBlossom)]);
    await stop(n2);
  });

  it("indexes 1000 blobs stored before the index in the background while reads continue", async () => {
    const dir = tempDir("slowdrip-blossom-migrate-");
    dirs.push(dir);
    // A store written by the BLAKE3-only import path: no SHA-256 in any meta, no index.
    const old = await LmdbBlobStore.open({ path: join(dir, "db"), sha256: false });
    const blobs: { blake3: string; sha256: string; data: Buffer }[] = [];
    for (let i = 0; i < 1000; i += 8) {
      const batch = Array.from({ length: 8 }, () => randomBytes(32 * 1024));
      const done = await Promise.all(batch.map((data) => old.import([data])));
      for (const [j, data] of batch.entries()) blobs.push({ blake3: done[j]!.hash, sha256: sha256Hex(data), data });
    }
    expect((await old.stat(blobs[0]!.blake3)).sha256).toBeUndefined();
    await old.close();

    const n = await start(dir);
    const blossomState = async () => {
      const r = (await (await fetch(`${n.url}/readyz`)).json()) as { components: { name: string; ready: boolean; detail: string }[] };
      return r.components.find((c) => c.name === "blossom")!;
    };
    // Reads while the migration runs: each one bracketed by readiness reports that the migration is still going.
    let during = 0;
    let reads = 0;
    for (let i = 0; ; i++) {
      const before = await blossomState();
      if (before.ready) break;
      expect(before.detail).toMatch(/indexing blobs stored before the SHA-256 index/);
      const b = blobs[(i * 37) % blobs.length]!;
      const got = await body(`${n.url}/blobs/${b.blake3}`);
      expect(got.equals(b.data)).toBe(true);
      reads++;
      if (!(await blossomState()).ready) during++;
    }
    expect(during).toBeGreaterThan(0);
    expect(reads).toBeGreaterThanOrEqual(during);

    const logs = n.logs();
    expect(logs).toMatch(/"blobs":1000,.*"msg":"sha256 index: indexing blobs stored before it/);
    expect(logs).toMatch(/"msg":"sha256 index: progress"/);
    expect(logs).toMatch(/"indexed":1000,"skipped":0,"total":1000,.*"msg":"sha256 index: done"/);
    // Every blob now answers under its SHA-256, with its own bytes.
    for (const [i, b] of blobs.entries()) {
      const r = await fetch(`${n.url}/${b.sha256}`, { method: i % 50 === 0 ? "GET" : "HEAD" });
      expect(r.status).toBe(200);
      if (i % 50 === 0) expect(Buffer.from(await r.arrayBuffer()).equals(b.data)).toBe(true);
    }
    // The next start has nothing to index.
    await stop(n);
    const again = await start(dir);
    expect((await fetch(`${again.url}/${blobs[999]!.sha256}`, { method: "HEAD" })).status).toBe(200);
    expect(again.logs()).not.toMatch(/sha256 index: indexing/);
    await stop(again);
  }, 300_000);
});
