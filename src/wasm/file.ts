// Multi-core BLAKE3 of a file: every thread (pool workers and the caller) reads its own units with positional reads
// straight into its wasm memory, so reading overlaps hashing on every core and no shared staging buffer is touched.
import { open } from "node:fs/promises";
import { readSync } from "node:fs";
import { Blake3Hasher } from "./blake3.ts";
import { getEngine } from "./engine.ts";
import { FILE_SHRANK, NEXT, TOTAL, ensurePool, hashReaderParallel, localUnitHashed, serialize, startJob, type Segment } from "./pool.ts";

const MiB = 1 << 20;
/** Units per round: one job per worker per round, CVs of a round kept in memory (32 bytes a unit). */
const ROUND_UNITS = 1024;
/** Files up to this size are read and hashed on the calling thread alone. */
const LOCAL_MAX = MiB;

/** Tuning of hashFileParallel. */
export interface FileHashOptions {
  /** Units per round (default and most 1024); tests use small rounds to cross round boundaries with small files. */
  roundUnits?: number;
}

/** The error of a file that changed under the hasher. */
export class FileChangedError extends Error {
  constructor(message = FILE_SHRANK) {
    super(message);
    this.name = "FileChangedError";
  }
}

/**
 * BLAKE3 of the file at `path` fed into `hasher` (any mode, nothing absorbed yet); returns the hasher for `digest`.
 * Regular files are split into 1 MiB units (256 KiB below 16 MiB) that the pool's workers and the calling thread claim
 * one by one, each reading its unit with a positional read into its own wasm memory; the bytes past the last whole
 * unit are read in order to the end of the file, so a file that grows is hashed to its new end. A file that shrinks
 * while hashed rejects with FileChangedError. Pipes, devices and other non-regular files stream through
 * hashReaderParallel. The calling thread blocks while it hashes its share of each round (as the other pool helpers do).
 * Errors of open/read keep their `code` (ENOENT, EISDIR, ...).
 */
export async function hashFileParallel(path: string, hasher: Blake3Hasher, opts: FileHashOptions = {}): Promise<Blake3Hasher> {
  const roundUnits = opts.roundUnits ?? ROUND_UNITS;
  if (!Number.isInteger(roundUnits) || roundUnits < 1 || roundUnits > ROUND_UNITS) throw new RangeError(`hashFileParallel: roundUnits must be in 1..${ROUND_UNITS}`);
  if (!(hasher instanceof Blake3Hasher)) throw new TypeError("hashFileParallel: hasher must be a Blake3Hasher");
  if (typeof path !== "string") throw new TypeError("hashFileParallel: path must be a string");
  const fh = await open(path, "r");
  try {
    const st = await fh.stat();
    if (!st.isFile()) return await hashReaderParallel(async (into) => (await fh.read(into, 0, into.length, null)).bytesRead, hasher);
    const fd = fh.fd;
    return await serialize(async () => {
      const size = st.size;
      const log2 = size < 16 * MiB ? 8 : 10;
      const U = 1024 << log2;
      // Whole units strictly before the last byte go to subtrees; the rest is read in order.
      const units = size > LOCAL_MAX ? Math.floor((size - 1) / U) : 0;
      if (units > 0) {
        const pool = ensurePool();
        const mode = hasher.mode();
        for (let r0 = 0; r0 < units; r0 += roundUnits) {
          const n = Math.min(roundUnits, units - r0);
          const ctrlBuf = new SharedArrayBuffer(12);
          const ctrl = new Int32Array(ctrlBuf);
          Atomics.store(ctrl, TOTAL, n);
          const cvBuf = new SharedArrayBuffer(n * 32);
          const seg: Segment = {
            log2, data: null, off: 0, units: n, ctrl: ctrlBuf, cvs: cvBuf, counter: r0 * (1 << log2), mode, fd, pos: r0 * U,
          };
          const jobs = pool.map((slot) => startJob(slot, seg));
          for (const j of jobs) j.catch(() => undefined); // awaited below
          try {
            const e = getEngine();
            if (mode.key) e.mem.set(mode.key, e.KEY);
            e.x.hasherInit(e.S0, mode.flags, mode.key ? 1 : 0);
            const cvs = new Uint8Array(cvBuf);
            for (let u = Atomics.add(ctrl, NEXT, 1); u < n; u = Atomics.add(ctrl, NEXT, 1)) {
              readFully(fd, e.mem, e.IN, U, (r0 + u) * U);
              localUnitHashed(e, U, seg.counter + u * (1 << log2), cvs, u * 32, log2);
            }
          } catch (err) {
            Atomics.store(ctrl, TOTAL, 0); // workers stop at their next claim
            await Promise.allSettled(jobs);
            throw err;
          }
          try {
            await Promise.all(jobs);
          } catch (err) {
            if (err instanceof Error && err.message.includes(FILE_SHRANK)) throw new FileChangedError();
            throw err;
          }
          hasher.pushSubtreeCVs(new Uint8Array(cvBuf).slice(), 1 << log2);
        }
      }
      // The rest, in order to the end of the file (at least one byte must follow the subtrees).
      const buf = new Uint8Array(MiB);
      let pos = units * U;
      let tail = 0;
      for (;;) {
        const got = readSync(fd, buf, 0, buf.length, pos);
        if (got === 0) break;
        hasher.update(buf.subarray(0, got));
        pos += got;
        tail += got;
      }
      if (units > 0 && tail === 0) throw new FileChangedError();
      return hasher;
    });
  } finally {
    await fh.close();
  }
}

/** Reads exactly `len` bytes at `pos` into `into` at `at` (FileChangedError at an early end of file). */
function readFully(fd: number, into: Uint8Array, at: number, len: number, pos: number): void {
  let got = 0;
  while (got < len) {
    const n = readSync(fd, into, at + got, len - got, pos + got);
    if (n === 0) throw new FileChangedError();
    got += n;
  }
}
