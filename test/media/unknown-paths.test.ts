// Public reads of live paths that do not exist (GET /live/<name>/..., StreamService.GetManifest) leave no state
// behind: 100,000 random names keep the heap flat. The 100,000 go through the origin and the ingest the HTTP route
// and the RPC call (fast, in this process); a real node then takes 10,000 more over HTTP and Connect.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, describe, expect, it } from "vitest";
import { fullNode } from "../../src/node/components.ts";
import type { RunningNode } from "../../src/node/node.ts";
import { MemoryBlobStore } from "../../src/store/memory.ts";
import { StreamIngest } from "../../src/stream/ingest.ts";
import { signDelegation } from "../../src/stream/manifest.ts";
import { originAnswer } from "../../src/stream/origin.ts";
import { FileManifestStore } from "../../src/stream/persist.ts";
import { publicKeyHex } from "../../src/stream/signing.ts";
import { startTestNode } from "../helpers/node.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const MiB = 1024 * 1024;

const cleanup: (() => unknown)[] = [];
afterAll(async () => {
  for (const f of cleanup.splice(0)) await f();
});

/** Heap in use after full collections. */
function settledHeap(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

/** Runs `f` for `n` random names (some long, some nested), `parallel` at a time. */
async function forNames(n: number, parallel: number, f: (name: string) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < n) {
        const i = next++;
        const name = i % 10 === 0 ? `long/${randomBytes(120).toString("hex")}` : `r/${randomBytes(12).toString("hex")}`;
        await f(name);
      }
    }),
  );
}

const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

describe("reads of live paths that do not exist", () => {
  it("100,000 random names through the origin and the manifest lookup leave no state and a flat heap", { timeout: 300_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "slowdrip-unknown-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const secret = new Uint8Array(32).fill(7);
    const key = publicKeyHex(secret);
    const now = Math.floor(Date.now() / 1000);
    const d = signDelegation({ type: "STREAM_DELEGATION", v: 1, stream: "*", creator: key, node: key, notBefore: now - 60, notAfter: now + 3600 }, secret);
    const store = new MemoryBlobStore();
    const ingest = new StreamIngest({ store, persistence: new FileManifestStore(join(dir, "manifests")), nodeSecret: secret, creatorSecret: secret, delegationFor: () => d });
    // One real stream, so that the lookups run against a node that has state of its own.
    await ingest.ingestSegment("cam", new Uint8Array(2000).fill(0x47), 1000);
    const files = ["index.m3u8", "manifest.json", "announce.json", `${"ab".repeat(32)}.ts`];
    // The /live/ route's answer and GetManifest's lookup, half each.
    const probe = async (name: string) => {
      const a = await originAnswer(ingest, store, name, files[name.length % files.length]!);
      if (a.status !== 404) throw new Error(`origin answered ${a.status} for ${name}`);
      if ((await ingest.manifest(name)) !== null) throw new Error(`a manifest for ${name}`);
    };
    await forNames(2000, 32, probe);
    const before = settledHeap();
    await forNames(100_000, 32, probe);
    const grown = settledHeap() - before;
    // A remembered name costs several hundred bytes (state, Merkle frontiers, map entry): 100,000 of them, tens of MiB.
    expect(grown, `heap grew by ${mib(grown)}`).toBeLessThan(8 * MiB);
    expect(ingest.trackedStreams).toBe(1);
    expect((await originAnswer(ingest, store, "cam", "index.m3u8")).status).toBe(200);
  });

  it("a real node's /live/ route and StreamService.GetManifest keep no entry per name", { timeout: 300_000 }, async () => {
    const node: RunningNode = await startTestNode({ "mediamtx.manage": "off" }, fullNode);
    cleanup.push(() => node.stop());
    const origin = async (name: string) => {
      const res = await fetch(`${node.url}/live/${name}/index.m3u8`);
      await res.arrayBuffer();
      if (res.status !== 404) throw new Error(`GET /live/${name}/index.m3u8 answered ${res.status}`);
    };
    const manifest = async (name: string) => {
      const res = await fetch(`${node.url}/slowdrip.v1.StreamService/GetManifest`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ path: name }),
      });
      const body = (await res.json()) as { code?: string };
      if (res.status !== 404 || body.code !== "not_found") throw new Error(`GetManifest ${name} answered ${res.status} ${JSON.stringify(body)}`);
    };
    await forNames(1000, 16, origin);
    await forNames(1000, 16, manifest);
    const before = settledHeap();
    await forNames(5000, 16, origin);
    await forNames(5000, 16, manifest);
    const grown = settledHeap() - before;
    // Today's leak would be about 3.5 MiB for these 10,000 names.
    expect(grown, `heap grew by ${mib(grown)}`).toBeLessThan(1.5 * MiB);
  });
});
