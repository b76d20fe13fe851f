// The player's StreamTrust in Node against the real origin code (StreamIngest + originAnswer) served on loopback:
// a segment newer than the last manifest fetch is checked against a fresh manifest, not refused, and hashes that no
// manifest lists cost at most one manifest fetch per MIN_REFRESH_MS.
import { afterEach, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import { MemoryBlobStore } from "../../store/memory.ts";
import { signDelegation } from "../../stream/manifest.ts";
import { MemoryManifestStore } from "../../stream/persist.ts";
import { StreamIngest } from "../../stream/ingest.ts";
import { originAnswer, parseLivePath } from "../../stream/origin.ts";
import { publicKeyHex } from "../../stream/signing.ts";
import { StreamTrust } from "./trust.ts";

const creatorSecret = new Uint8Array(32).fill(1);
const nodeSecret = new Uint8Array(32).fill(2);
const creator = publicKeyHex(creatorSecret);
const STREAM = "cam/one";

function seg(i: number, size = 5000): Uint8Array {
  const b = new Uint8Array(size);
  for (let j = 0; j < size; j++) b[j] = (i * 31 + j * 7) & 0xff;
  b[0] = 0x47;
  return b;
}

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0)) await f();
});

/** A real ingest behind the real origin answers on loopback, counting manifest.json fetches. */
async function origin() {
  const store = new MemoryBlobStore();
  const now = Math.floor(Date.now() / 1000);
  const ingest = new StreamIngest({
    store,
    persistence: new MemoryManifestStore(),
    nodeSecret,
    creatorSecret,
    delegationFor: () => signDelegation({ type: "STREAM_DELEGATION", v: 1, stream: "*", creator, node: publicKeyHex(nodeSecret), notBefore: now - 60, notAfter: now + 3600 }, creatorSecret),
    windowSegments: 4,
    keepRecording: () => false,
  });
  const fetches = { manifest: 0 };
  const server: Server = createServer((req, res) => {
    const p = parseLivePath(new URL(req.url ?? "/", "http://x").pathname);
    if (!p) {
      res.writeHead(404).end();
      return;
    }
    if (p[1] === "manifest.json") fetches.manifest++;
    void originAnswer(ingest, store, p[0], p[1]).then((a) => {
      res.writeHead(a.status, a.headers);
      res.end(a.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanup.push(() => new Promise((r) => server.close(r)));
  const a = server.address();
  const base = new URL(`http://127.0.0.1:${typeof a === "object" && a ? a.port : 0}/live/${STREAM}/`);
  return { ingest, base, fetches };
}

describe("StreamTrust", () => {
  it("checks a segment sealed just after a manifest fetch against a fresh manifest instead of refusing it", async () => {
    const { ingest, base } = await origin();
    for (let i = 0; i < 3; i++) await ingest.ingestSegment(STREAM, seg(i), 2000);
    const trust = new StreamTrust(base, creator);
    expect(await trust.start()).toBeNull();
    // A manifest fetch completes, then the node seals a segment that a playlist lists at once.
    await trust.refresh();
    const sealed = await ingest.ingestSegment(STREAM, seg(3), 2000);
    const url = new URL(`${sealed.entry.blake3}.ts`, base).href;
    const r = await trust.check(url, seg(3));
    expect(r, JSON.stringify(r)).toHaveProperty("entry.blake3", sealed.entry.blake3);
    // Bytes that do not match the entry are still refused.
    const bad = seg(3);
    bad[100]! ^= 1;
    expect(await trust.check(url, bad)).toHaveProperty("code", "segment-blake3");
  });

  it("refuses hashes no manifest lists, fetching the manifest at most once per 250 ms however many arrive", async () => {
    const { ingest, base, fetches } = await origin();
    await ingest.ingestSegment(STREAM, seg(0), 2000);
    const trust = new StreamTrust(base, creator);
    expect(await trust.start()).toBeNull();
    const before = fetches.manifest;
    const t0 = Date.now();
    const unknown = Array.from({ length: 40 }, (_, i) => new URL(`${i.toString(16).padStart(2, "0").repeat(32)}.ts`, base).href);
    const answers = await Promise.all(unknown.map((u) => trust.check(u, seg(9))));
    const ms = Date.now() - t0;
    expect(answers.every((a) => "code" in a && a.code === "segment-unknown")).toBe(true);
    expect(fetches.manifest - before).toBeGreaterThanOrEqual(1);
    expect(fetches.manifest - before, `${fetches.manifest - before} manifest fetches in ${ms} ms`).toBeLessThanOrEqual(1 + Math.ceil(ms / 250));
    // A URL that names no hash is refused without any fetch.
    const n = fetches.manifest;
    expect(await trust.check(new URL("x.ts", base).href, seg(9))).toHaveProperty("code", "segment-unknown");
    expect(fetches.manifest).toBe(n);
  });
});
