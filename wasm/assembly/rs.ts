// Reed-Solomon GF(2^8) kernel in AssemblyScript: out[r] = sum over c of coef[r][c] * in[c], by split-nibble SIMD.
// Each coefficient has a 32-byte table (products with every low nibble, then every high nibble) that i8x16.swizzle
// indexes 16 bytes at a time. JS lays the k inputs and the output rows out in BUF with a common stride.
import { rows1, rows2, rows3, rows4 } from "./rs-kernels";

/** Largest rows x inputs product (k + m <= 256 means at most 128 * 128). */
const MAX_COEFS: i32 = 128 * 128;
/** Bytes of input and output the caller may lay out per call. */
const BUF_CAP: i32 = 4 << 20;

const TABLES: usize = memory.data(MAX_COEFS * 32, 64);
const BUF: usize = memory.data(BUF_CAP, 64);

export function tablesPtr(): usize { return TABLES; }
export function bufPtr(): usize { return BUF; }
export function bufCap(): i32 { return BUF_CAP; }
export function maxCoefs(): i32 { return MAX_COEFS; }

/**
 * Multiplies the `k` inputs at BUF, BUF + stride, ... by the `rows` x `k` coefficient tables and writes (or, with
 * `accumulate`, xors into) the rows outputs at BUF + (k + r) * stride. `len` bytes (a multiple of 32, at most
 * stride) of each are processed, up to four rows per pass so that each input vector is split into nibbles once.
 */
export function mulMatrix(k: i32, rows: i32, stride: i32, len: i32, accumulate: i32): void {
  const s = <usize>stride;
  const n = <usize>len;
  const acc = accumulate != 0;
  let r = 0;
  // Passes of four rows, then the rest in one pass (5 = 4 + 1, 6 = 4 + 2, 7 = 4 + 3).
  for (; rows - r >= 4 && rows - r != 6; r += 4) rows4(table(k, r), k, BUF, out(k, r, s), s, n, acc);
  const left = rows - r;
  if (left == 6) {
    rows3(table(k, r), k, BUF, out(k, r, s), s, n, acc);
    rows3(table(k, r + 3), k, BUF, out(k, r + 3, s), s, n, acc);
  } else if (left == 3) rows3(table(k, r), k, BUF, out(k, r, s), s, n, acc);
  else if (left == 2) rows2(table(k, r), k, BUF, out(k, r, s), s, n, acc);
  else if (left == 1) rows1(table(k, r), k, BUF, out(k, r, s), s, n, acc);
}

// @ts-ignore: decorator
@inline function table(k: i32, r: i32): usize { return TABLES + <usize>r * <usize>k * 32; }
// @ts-ignore: decorator
@inline function out(k: i32, r: i32, stride: usize): usize { return BUF + <usize>(k + r) * stride; }

/** True (1) when the `len` bytes at BUF + off are all zero. */
export function isZero(off: i32, len: i32): i32 {
  const p = BUF + <usize>off;
  let acc = i64x2.splat(0);
  let i = 0;
  for (; i + 16 <= len; i += 16) acc = v128.or(acc, v128.load(p + <usize>i));
  let tail: u32 = 0;
  for (; i < len; i++) tail |= load<u8>(p + <usize>i);
  return !v128.any_true(acc) && tail == 0 ? 1 : 0;
}
