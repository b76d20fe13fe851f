// Unit tests of hashFileParallel: same digests as the one-shot hash around unit and round boundaries, in every mode,
// streamed for a FIFO, and open/read errors keep their codes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { blake3, closeHashPool, createDeriveKeyHasher, createHasher, createKeyedHasher, deriveKey, hashFileParallel, keyedHash, toHex } from "./index.ts";

const MiB = 1 << 20;
let dir = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "slowdrip-hashfile-"));
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await closeHashPool();
});

function bytes(n: number, seed: number): Uint8Array {
  const d = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    d[i] = x & 0xff;
  }
  return d;
}

describe("hashFileParallel", () => {
  it("matches blake3 at sizes around unit (256 KiB / 1 MiB) and round boundaries", async () => {
    const sizes = [0, 1, 1024, MiB - 1, MiB, MiB + 1, 2 * MiB, 4 * MiB + 5, 16 * MiB - 1, 16 * MiB, 16 * MiB + 1, 21 * MiB + 333];
    for (const [i, n] of sizes.entries()) {
      const d = bytes(n, i + 1);
      const f = join(dir, `f${n}`);
      writeFileSync(f, d);
      const want = toHex(blake3(d));
      expect((await hashFileParallel(f, createHasher())).digestHex(), `size ${n}`).toBe(want);
      // Rounds of 3 units cross many round boundaries.
      expect((await hashFileParallel(f, createHasher(), { roundUnits: 3 })).digestHex(), `size ${n}, small rounds`).toBe(want);
      rmSync(f);
    }
  });

  it("keyed and derive-key modes and long output", async () => {
    const d = bytes(9 * MiB + 7, 99);
    const f = join(dir, "modes");
    writeFileSync(f, d);
    const key = bytes(32, 5);
    expect(toHex((await hashFileParallel(f, createKeyedHasher(key))).digest(77))).toBe(toHex(keyedHash(key, d, { length: 77 })));
    expect(toHex((await hashFileParallel(f, createDeriveKeyHasher("slowdrip test"))).digest())).toBe(toHex(deriveKey("slowdrip test", d)));
  });

  it("streams a FIFO (no positional reads on pipes)", async () => {
    const d = bytes(5 * MiB + 11, 7);
    const fifo = join(dir, "fifo");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    const writer = spawn("sh", ["-c", `cat > '${fifo}'`], { stdio: ["pipe", "ignore", "inherit"] });
    writer.stdin.end(d);
    expect((await hashFileParallel(fifo, createHasher())).digestHex()).toBe(toHex(blake3(d)));
  });

  it("keeps the error codes of open and read, and rejects bad arguments", async () => {
    await expect(hashFileParallel(join(dir, "missing"), createHasher())).rejects.toMatchObject({ code: "ENOENT" });
    await expect(hashFileParallel(dir, createHasher())).rejects.toMatchObject({ code: "EISDIR" });
    await expect(hashFileParallel(1 as unknown as string, createHasher())).rejects.toBeInstanceOf(TypeError);
    await expect(hashFileParallel(dir, {} as never)).rejects.toBeInstanceOf(TypeError);
    await expect(hashFileParallel(dir, createHasher(), { roundUnits: 0 })).rejects.toBeInstanceOf(RangeError);
  });
});
