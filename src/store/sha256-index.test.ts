// The SHA-256 index: its contract on both stores, the worker hasher, and what survives a reopen of the LMDB store.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { pieces, refHash, testBytes } from "./contract.ts";
import { LmdbBlobStore } from "./lmdb.ts";
import { MemoryBlobStore } from "./memory.ts";
import { migrateSha256 } from "./sha256-index.ts";
import { refSha256, runSha256IndexContract } from "./sha256-contract.ts";
import { sha256Stream } from "./sha256-worker.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tempPath = () => {
  const dir = mkdtempSync(join(tmpdir(), "slowdrip-sha256-"));
  dirs.push(dir);
  return join(dir, "db");
};

runSha256IndexContract("memory", async (options) => ({ store: new MemoryBlobStore(options) }));
runSha256IndexContract("lmdb", async (options) => ({ store: await LmdbBlobStore.open({ ...options, path: tempPath() }) }));

describe("sha256Stream (worker thread)", () => {
  it("gives node:crypto's digest for any split of the input, many streams at once", async () => {
    const sizes = [0, 1, 63, 64 * 1024, 64 * 1024 + 1, 1024 * 1024 - 1, 1024 * 1024, 5 * 1024 * 1024 + 3];
    await Promise.all(
      sizes.map(async (n, i) => {
        const data = testBytes(n, 40 + i);
        const s = sha256Stream();
        for (const p of pieces(data, 1000 + i * 4099)) {
          const behind = s.update(p);
          if (behind) await behind;
        }
        expect(await s.digest()).toBe(refSha256(data));
      }),
    );
  });

  it("copies what it is fed: the caller may overwrite its buffer at once", async () => {
    const data = testBytes(3 * 1024 * 1024, 50);
    const s = sha256Stream();
    const buf = new Uint8Array(100_000);
    for (let at = 0; at < data.length; at += buf.length) {
      const piece = data.subarray(at, at + buf.length);
      buf.set(piece);
      const behind = s.update(buf.subarray(0, piece.length));
      buf.fill(0xee);
      if (behind) await behind;
    }
    expect(await s.digest()).toBe(refSha256(data));
  });

  it("never keeps a process alive: processes that hashed only short streams, or long and aborted ones, exit by themselves", () => {
    const url = pathToFileURL(join(import.meta.dirname, "sha256-worker.ts")).href;
    const run = (lines: string[]) => {
      const script = [`import { sha256Stream } from ${JSON.stringify(url)};`, ...lines].join("\n");
      const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
      expect(r.signal, "still running after 60 s: something keeps the event loop alive").toBeNull();
      expect(r.status, r.stderr).toBe(0);
      return r.stdout.trim().split("\n");
    };
    const short = "const a = sha256Stream(); a.update(new Uint8Array(10)); console.log(await a.digest());";
    expect(run([short])).toEqual([refSha256(new Uint8Array(10))]);
    const long = "const b = sha256Stream(); b.update(new Uint8Array(3 << 20)); console.log(await b.digest());";
    const aborted = "const c = sha256Stream(); c.update(new Uint8Array(2 << 20)); c.abort();";
    expect(run([long, aborted, short])).toEqual([refSha256(new Uint8Array(3 << 20)), refSha256(new Uint8Array(10))]);
  });

  it("waits when far behind, and an aborted stream refuses more input", async () => {
    const s = sha256Stream();
    const big = testBytes(16 * 1024 * 1024, 51);
    expect(s.update(big)).toBeInstanceOf(Promise);
    s.abort();
    expect(() => s.update(big)).toThrow(/aborted/);
    await expect(s.digest()).rejects.toThrow(/aborted/);
  });
});

describe("SHA-256 index on LMDB across a reopen", () => {
  it("keeps the index, and indexes a store written without it", async () => {
    const path = tempPath();
    const old = await LmdbBlobStore.open({ path, sha256: false });
    const blobs = Array.from({ length: 20 }, (_, i) => testBytes(10_000 + i, 300 + i));
    for (const b of blobs) await old.import([b]);
    await old.close();
    const store = await LmdbBlobStore.open({ path });
    const fresh = testBytes(77_777, 400);
    await store.import(pieces(fresh));
    expect(await migrateSha256(store)).toMatchObject({ total: 20, indexed: 20, skipped: 0 });
    await store.close();
    const again = await LmdbBlobStore.open({ path });
    try {
      for (const b of [...blobs, fresh]) {
        const m = await again.bySha256(refSha256(b));
        expect(m.hash).toBe(refHash(b));
        expect(Buffer.from(await again.readAll(m.hash)).equals(b)).toBe(true);
      }
      expect(again.audit()).toMatchObject({ blobs: 21 });
    } finally {
      await again.close();
    }
  });
});
