// Crash safety: a real child process importing 256 MiB into LMDB is SIGKILLed at random points; reopening shows no
// partial blob, unchanged accounting, swept staging, and the same import then succeeds.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, describe, expect, it } from "vitest";
import { LmdbBlobStore } from "../../src/store/lmdb.ts";
import { fill } from "./gen.ts";

const NODE = resolve("node_modules/.bin/node");
const CHILD = resolve("test/store/crash-child.ts");
const BIG = 256 * 1024 * 1024;
const SMALL = 1024 * 1024;

interface ChildRun {
  lines: string[];
  signal: NodeJS.Signals | null;
  code: number | null;
}

/** Runs the child; kills it with SIGKILL when `killWhen(line)` says so. */
function runChild(path: string, size: number, seed: number, killWhen?: (line: string) => boolean): Promise<ChildRun> {
  return new Promise((res, rej) => {
    const child = spawn(NODE, [CHILD, path, String(size), String(seed)], { stdio: ["ignore", "pipe", "pipe"] });
    const lines: string[] = [];
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const rl = createInterface({ input: child.stdout });
    rl.on("line", (line) => {
      lines.push(line);
      if (killWhen?.(line)) child.kill("SIGKILL");
    });
    child.on("error", rej);
    child.on("exit", (code, signal) => {
      if (code !== 0 && signal === null) rej(new Error(`child failed (${code}): ${stderr}`));
      else res({ lines, signal, code });
    });
  });
}

describe("LMDB store crash safety", () => {
  const dir = mkdtempSync(join(tmpdir(), "slowdrip-crash-"));
  const path = join(dir, "db");
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("SIGKILL at random points during a 256 MiB import leaves no partial blob and no leaked space", { timeout: 600_000 }, async () => {
    // A committed blob beforehand, so "unchanged" is not just "empty".
    const first = await runChild(path, SMALL, 1);
    expect(first.lines.at(-1)).toMatch(/^done [0-9a-f]{64} 1048576 true$/);
    const baseline = first.lines.at(-1)!.split(" ")[1]!;

    // The import's staging record is an async LMDB write queued before its chunks; a writer waits for it once 32 chunks
    // (8 MiB) are in flight, so from 16 MiB on it is durable and a kill must leave exactly one record to sweep. A kill
    // at 0 may come before anything reached the disk: then there is nothing to sweep, and the store must still be
    // unchanged with no chunk left behind.
    const DURABLE = 16 * 1024 * 1024;
    const points = [0, 1, 2].map(() => DURABLE + Math.floor(Math.random() * (BIG - DURABLE - 8 * 1024 * 1024)));
    const kills: (string | number)[] = [0, ...points, "committing"];
    for (const point of kills) {
      const what = `kill at ${point}`;
      const run = await runChild(path, BIG, 2, (line) =>
        point === "committing" ? line === "committing" : line.startsWith("progress ") && Number(line.split(" ")[1]) >= Number(point),
      );
      expect(run.signal, what).toBe("SIGKILL");
      const store = await LmdbBlobStore.open({ path });
      try {
        const audit = store.audit();
        expect(audit.staging, what).toBe(0);
        expect(audit.chunkEntries, `${what}: leaked chunks`).toBe(audit.expectedChunks);
        expect({ bytes: audit.bytes, blobs: audit.blobs }, what).toEqual({ bytes: audit.usage.bytesUsed, blobs: audit.usage.blobCount });
        const committed = run.lines.some((l) => l.startsWith("done "));
        const page = await store.list();
        if (point !== "committing" || (!committed && page.items.length === 1)) {
          // Killed before commit: only the baseline blob, accounting unchanged, the staging entry swept.
          expect(page.items.map((m) => m.hash), what).toEqual([baseline]);
          expect(store.usage(), what).toMatchObject({ bytesUsed: SMALL, blobCount: 1 });
          if (point === 0) expect(store.swept.imports, `${what}: staging swept`).toBeLessThanOrEqual(1);
          else expect(store.swept.imports, `${what}: staging swept`).toBe(1);
        } else {
          // The kill raced past the commit: then the blob is whole and counted exactly once.
          expect(page.items.length, what).toBe(2);
          expect(store.usage(), what).toMatchObject({ bytesUsed: SMALL + BIG, blobCount: 2 });
          const big = page.items.find((m) => m.hash !== baseline)!;
          await store.delete(big.hash);
        }
      } finally {
        await store.close();
      }
    }

    // The same import now succeeds and reads back exactly.
    const ok = await runChild(path, BIG, 2);
    const done = ok.lines.at(-1)!.split(" ");
    expect(done[0]).toBe("done");
    expect(done.slice(2)).toEqual([String(BIG), "true"]);
    const store = await LmdbBlobStore.open({ path });
    try {
      expect(store.usage()).toMatchObject({ bytesUsed: SMALL + BIG, blobCount: 2 });
      const audit = store.audit();
      expect(audit.chunkEntries).toBe(audit.expectedChunks);
      expect(audit.staging).toBe(0);
      for (let i = 0; i < 20; i++) {
        const off = Math.floor(Math.random() * (BIG - 100_000));
        const len = 1 + Math.floor(Math.random() * 100_000);
        const got = await store.readAll(done[1]!, off, len);
        expect(Buffer.from(got).equals(Buffer.from(fill(2, off, new Uint8Array(len)))), `range ${off}+${len}`).toBe(true);
      }
    } finally {
      await store.close();
    }
  });

  it("one process at a time: a running owner is refused, a killed one is taken over", async () => {
    const own = join(dir, "owned");
    const child = spawn(NODE, [resolve("test/store/hold-child.ts"), own], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      await new Promise<void>((res, rej) => {
        const rl = createInterface({ input: child.stdout });
        rl.on("line", (l) => l.startsWith("open") && res());
        child.on("exit", (code) => rej(new Error(`holder exited with ${code}`)));
      });
      await expect(LmdbBlobStore.open({ path: own })).rejects.toThrow(`in use by process ${child.pid}`);
    } finally {
      child.kill("SIGKILL");
      await new Promise((r) => child.once("exit", r));
    }
    const store = await LmdbBlobStore.open({ path: own });
    expect(store.usage().blobCount).toBe(0);
    await store.close();
  });
});
