// A stock Blossom client (blossom-client-sdk 5.x, used as a Nostr app uses it) against a real `slowdrip run`: upload
// with a signed authorization event, list, download and check the bytes (also by BLAKE3 and in ranges), delete; a
// second pubkey cannot delete the first one's blob, and a blob two pubkeys own goes only with the last of them.
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Actions, createDeleteAuth, createListAuth, createUploadAuth, type BlobDescriptor } from "blossom-client-sdk";
import { spawnNode, tempDir, type SpawnedNode } from "../helpers/node.ts";
import { nostrUser, sha256Hex, stopNode } from "./helpers.ts";

const alice = nostrUser();
const bob = nostrUser();
const dir = tempDir("slowdrip-blossom-client-");
let node: SpawnedNode;
let server = "";

beforeAll(async () => {
  node = await spawnNode(["--data-dir", dir, "--set", `blossom.allowed_pubkeys=${alice.pubkey},${bob.pubkey}`]);
  server = node.url;
}, 60_000);

afterAll(async () => {
  await stopNode(node);
  rmSync(dir, { recursive: true, force: true });
});

/** Upload as a Nostr app does: HEAD /upload, sign when asked (401), PUT. */
function upload(user: typeof alice, blob: Blob): Promise<BlobDescriptor> {
  return Actions.uploadBlob(server, blob, { onAuth: (s, sha256) => createUploadAuth(user.signer, sha256, { servers: s }) });
}

const remove = (user: typeof alice, sha256: string) => Actions.deleteBlob(server, sha256, { onAuth: (s, hash) => createDeleteAuth(user.signer, hash, { servers: s }) });

describe("blossom-client-sdk against slowdrip run", () => {
  const bytes = randomBytes(700_000);
  const sha256 = sha256Hex(bytes);
  let first: BlobDescriptor;

  it("uploads with a signed authorization event and gets a BUD-02 descriptor (201, then 200 for the same bytes)", async () => {
    first = await upload(alice, new Blob([bytes], { type: "image/png" }));
    expect(first).toMatchObject({ sha256, size: bytes.length, type: "image/png", url: `${server}/${sha256}.png` });
    expect(Math.abs(first.uploaded - Date.now() / 1000)).toBeLessThan(600);
    const again = await fetch(`${server}/upload`, { method: "HEAD", headers: { "x-sha-256": sha256, "x-content-length": String(bytes.length) } });
    expect(again.status).toBe(401);
    const second = await upload(alice, new Blob([bytes], { type: "image/png" }));
    expect(second).toEqual(first);
  });

  it("lists, downloads and checks the bytes; Range, types and the BLAKE3 route agree", async () => {
    const list = await Actions.listBlobs(server, alice.pubkey, { onAuth: (s) => createListAuth(alice.signer, { servers: s }) });
    expect(list).toEqual([first]);
    const res = await Actions.downloadBlob(server, sha256);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
    // The URL of the descriptor, another extension (the type stays the upload's), a range.
    expect(Buffer.from(await (await fetch(first.url)).arrayBuffer()).equals(bytes)).toBe(true);
    const other = await fetch(`${server}/${sha256}.pdf`, { method: "HEAD" });
    expect(other.headers.get("content-type")).toBe("image/png");
    expect(other.headers.get("content-length")).toBe(String(bytes.length));
    const range = await fetch(`${server}/${sha256}`, { headers: { range: "bytes=1000-1999" } });
    expect(range.status).toBe(206);
    expect(range.headers.get("content-range")).toBe(`bytes 1000-1999/${bytes.length}`);
    expect(Buffer.from(await range.arrayBuffer()).equals(bytes.subarray(1000, 2000))).toBe(true);
    const blake3 = (first as BlobDescriptor & { blake3: string }).blake3;
    const byBlake3 = await fetch(`${server}/blobs/${blake3}`);
    expect(Buffer.from(await byBlake3.arrayBuffer()).equals(bytes)).toBe(true);
    const pre = await fetch(`${server}/upload`, { method: "OPTIONS" });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-methods")).toBe("GET, HEAD, PUT, DELETE");
    expect(pre.headers.get("access-control-allow-headers")).toBe("Authorization, *");
  });

  it("a second pubkey cannot delete the first one's blob", async () => {
    await expect(remove(bob, sha256)).rejects.toThrow(/not-owner/);
    expect((await fetch(`${server}/${sha256}`, { method: "HEAD" })).status).toBe(200);
    expect(await Actions.listBlobs(server, bob.pubkey)).toEqual([]);
  });

  it("deletes: a blob two pubkeys own stays until the last owner deletes it, then its bytes are gone", async () => {
    const shared = await upload(bob, new Blob([bytes], { type: "image/png" }));
    expect(shared.sha256).toBe(sha256);
    expect(await remove(alice, sha256)).toBe(true);
    expect(await Actions.listBlobs(server, alice.pubkey)).toEqual([]);
    expect((await fetch(`${server}/${sha256}`, { method: "HEAD" })).status).toBe(200);
    expect(await remove(bob, sha256)).toBe(true);
    expect((await fetch(`${server}/${sha256}`, { method: "HEAD" })).status).toBe(404);
    expect((await fetch(`${server}/blobs/${(first as BlobDescriptor & { blake3: string }).blake3}`, { method: "HEAD" })).status).toBe(404);
    await expect(remove(bob, sha256)).rejects.toThrow(/not-owner/);
  });

  it("lists newest first with cursor, limit, since and until", async () => {
    const made: BlobDescriptor[] = [];
    for (let i = 0; i < 5; i++) made.push(await upload(alice, new Blob([randomBytes(1000 + i)], { type: "text/plain" })));
    const all = await Actions.listBlobs(server, alice.pubkey);
    expect(new Set(all.map((d) => d.sha256))).toEqual(new Set(made.map((d) => d.sha256)));
    for (let i = 1; i < all.length; i++) expect(all[i - 1]!.uploaded).toBeGreaterThanOrEqual(all[i]!.uploaded);
    const pages: BlobDescriptor[] = [];
    for await (const page of Actions.iterateBlobs(server, alice.pubkey, { limit: 2 })) pages.push(...page);
    expect(pages).toEqual(all);
    const t = all[0]!.uploaded;
    expect(await Actions.listBlobs(server, alice.pubkey, { since: t + 1 })).toEqual([]);
    expect(await Actions.listBlobs(server, alice.pubkey, { until: t - 100_000 })).toEqual([]);
    expect((await Actions.listBlobs(server, alice.pubkey, { since: t - 100_000, until: t })).length).toBe(5);
  });
});
