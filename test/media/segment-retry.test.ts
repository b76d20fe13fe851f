// A failed segment ingest loses nothing: the file stays while a busy store or a failed write is retried, and is
// deleted only once the segment is stored, or when it is dropped for a counted reason. Real store, ingest and files.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SegmentIntake, type SegmentDropReason } from "../../src/media/segments.ts";
import { BusyError, StoreFullError } from "../../src/store/errors.ts";
import { MemoryBlobStore } from "../../src/store/memory.ts";
import type { StoreOptions } from "../../src/store/index.ts";
import { IngestError, StreamIngest } from "../../src/stream/ingest.ts";
import { signDelegation } from "../../src/stream/manifest.ts";
import { MemoryManifestStore } from "../../src/stream/persist.ts";
import { publicKeyHex } from "../../src/stream/signing.ts";

const secret = new Uint8Array(32).fill(9);
const key = publicKeyHex(secret);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(storeOptions: StoreOptions, o: { delegated?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "slowdrip-retry-"));
  dirs.push(dir);
  mkdirSync(join(dir, "live/a"), { recursive: true });
  const now = Math.floor(Date.now() / 1000);
  const d = signDelegation({ type: "STREAM_DELEGATION", v: 1, stream: "*", creator: key, node: key, notBefore: now - 60, notAfter: now + 600 }, secret);
  const store = new MemoryBlobStore(storeOptions);
  const ingest = new StreamIngest({ store, persistence: new MemoryManifestStore(), nodeSecret: secret, delegationFor: () => (o.delegated === false ? null : d) });
  const drops: { reason: SegmentDropReason; err: unknown }[] = [];
  const retries: unknown[] = [];
  const intake = new SegmentIntake({
    ingest,
    recordDir: dir,
    reorderMs: 0,
    retry: { attempts: 4, baseMs: 50, maxMs: 200 },
    onDrop: (reason, _n, err) => drops.push({ reason, err }),
    onRetry: (_a, _d, _n, err) => retries.push(err),
  });
  const file = join(dir, "live/a/2026-12-01_10-00-00-000001.ts");
  writeFileSync(file, new Uint8Array(4000).fill(0x47));
  return { store, ingest, intake, drops, retries, file, notice: { path: "live/a", file, durationMs: 1000 } };
}

describe("segments survive a failed ingest", () => {
  it("keeps the file while the store is busy, retries, stores it and only then deletes the file", async () => {
    const { store, intake, drops, retries, file, notice } = setup({ limits: { store: 1, queueTimeoutMs: 20 } });
    // Another import holds the store's only slot (a real busy store), until we let it go.
    let go!: () => void;
    const gate = new Promise<void>((r) => (go = r));
    const held = store.import((async function* () {
      yield new Uint8Array(10);
      await gate;
    })());
    const handled = intake.handle(notice);
    const end = Date.now() + 10_000;
    while (retries.length < 2) {
      if (Date.now() > end) throw new Error(`no retries within 10 s (file ${existsSync(file) ? "kept" : "deleted"}; ingest: ${String(await Promise.race([handled.catch((e: unknown) => e), "pending"]))})`);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(retries.every((e) => e instanceof BusyError)).toBe(true);
    expect(existsSync(file)).toBe(true); // still there while it is being retried
    go();
    await held;
    const sealed = await handled;
    expect(sealed.entry.seq).toBe(0);
    expect(await store.has(sealed.entry.blake3)).toBe(true);
    expect(existsSync(file)).toBe(false);
    expect(drops).toEqual([]);
  });

  it("drops a segment the store cannot take after the bounded retries: counted, logged reason, file deleted", async () => {
    const { store, intake, drops, retries, file, notice } = setup({ maxStorage: 3000 });
    await store.import([new Uint8Array(2000).fill(1)], { pin: true }); // pinned: nothing to collect
    const err = await intake.handle(notice).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreFullError);
    expect(retries).toHaveLength(3);
    expect(drops.map((d) => d.reason)).toEqual(["store-full"]);
    expect(existsSync(file)).toBe(false);
  });

  it("drops at once what no retry can fix (no delegation for the stream), with its reason", async () => {
    const { intake, drops, retries, file, notice } = setup({}, { delegated: false });
    const err = await intake.handle(notice).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IngestError);
    expect(retries).toEqual([]);
    expect(drops.map((d) => d.reason)).toEqual(["no-delegation"]);
    expect(existsSync(file)).toBe(false);
  });
});
