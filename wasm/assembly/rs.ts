// Reed-Solomon GF(2^8) kernel in AssemblyScript: out[r] = sum over c of coef[r][c] * in[c], by split-nibble SIMD.
// Each coefficient has a 32-byte table (products with every low nibble, then every high nibble) that i8x16.swizzle
// indexes 16 bytes at a time. JS lays the k inputs and the output rows out in BUF with a common stride.

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
 * `accumulate`, xors into) the rows outputs at BUF + (k + r) * stride. `len` (a multiple of 16, at most stride) bytes
 * of each are processed. Rows are done four at a time so each input vector is split into nibbles once per group.
 */
export function mulMatrix(k: i32, rows: i32, stride: i32, len: i32, accumulate: i32): void {
  let r = 0;
  for (; r + 4 <= rows; r += 4) group4(k, r, stride, len, accumulate);
  const left = rows - r;
  if (left == 3) group3(k, r, stride, len, accumulate);
  else if (left == 2) group2(k, r, stride, len, accumulate);
  else if (left == 1) group1(k, r, stride, len, accumulate);
}

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

// @ts-ignore: decorator
@inline function mul(t: usize, lo: v128, hi: v128): v128 {
  return v128.xor(i8x16.swizzle(v128.load(t), lo), i8x16.swizzle(v128.load(t, 16), hi));
}

function group4(k: i32, r: i32, stride: i32, len: i32, accumulate: i32): void {
  const mask = i8x16.splat(0x0f);
  const rowBytes = <usize>k * 32;
  const t0 = TABLES + <usize>r * rowBytes;
  const o0 = BUF + (<usize>(k + r)) * <usize>stride;
  const o1 = o0 + <usize>stride, o2 = o1 + <usize>stride, o3 = o2 + <usize>stride;
  for (let p: usize = 0; p < <usize>len; p += 16) {
    let a0 = i64x2.splat(0), a1 = a0, a2 = a0, a3 = a0;
    if (accumulate) {
      a0 = v128.load(o0 + p); a1 = v128.load(o1 + p); a2 = v128.load(o2 + p); a3 = v128.load(o3 + p);
    }
    let src = BUF + p;
    let t = t0;
    for (let c = 0; c < k; c++) {
      const x = v128.load(src);
      const lo = v128.and(x, mask);
      const hi = i8x16.shr_u(x, 4);
      a0 = v128.xor(a0, mul(t, lo, hi));
      a1 = v128.xor(a1, mul(t + rowBytes, lo, hi));
      a2 = v128.xor(a2, mul(t + 2 * rowBytes, lo, hi));
      a3 = v128.xor(a3, mul(t + 3 * rowBytes, lo, hi));
      src += <usize>stride;
      t += 32;
    }
    v128.store(o0 + p, a0); v128.store(o1 + p, a1); v128.store(o2 + p, a2); v128.store(o3 + p, a3);
  }
}

function group3(k: i32, r: i32, stride: i32, len: i32, accumulate: i32): void {
  const mask = i8x16.splat(0x0f);
  const rowBytes = <usize>k * 32;
  const t0 = TABLES + <usize>r * rowBytes;
  const o0 = BUF + (<usize>(k + r)) * <usize>stride;
  const o1 = o0 + <usize>stride, o2 = o1 + <usize>stride;
  for (let p: usize = 0; p < <usize>len; p += 16) {
    let a0 = i64x2.splat(0), a1 = a0, a2 = a0;
    if (accumulate) {
      a0 = v128.load(o0 + p); a1 = v128.load(o1 + p); a2 = v128.load(o2 + p);
    }
    let src = BUF + p;
    let t = t0;
    for (let c = 0; c < k; c++) {
      const x = v128.load(src);
      const lo = v128.and(x, mask);
      const hi = i8x16.shr_u(x, 4);
      a0 = v128.xor(a0, mul(t, lo, hi));
      a1 = v128.xor(a1, mul(t + rowBytes, lo, hi));
      a2 = v128.xor(a2, mul(t + 2 * rowBytes, lo, hi));
      src += <usize>stride;
      t += 32;
    }
    v128.store(o0 + p, a0); v128.store(o1 + p, a1); v128.store(o2 + p, a2);
  }
}

function group2(k: i32, r: i32, stride: i32, len: i32, accumulate: i32): void {
  const mask = i8x16.splat(0x0f);
  const rowBytes = <usize>k * 32;
  const t0 = TABLES + <usize>r * rowBytes;
  const o0 = BUF + (<usize>(k + r)) * <usize>stride;
  const o1 = o0 + <usize>stride;
  for (let p: usize = 0; p < <usize>len; p += 16) {
    let a0 = i64x2.splat(0), a1 = a0;
    if (accumulate) {
      a0 = v128.load(o0 + p); a1 = v128.load(o1 + p);
    }
    let src = BUF + p;
    let t = t0;
    for (let c = 0; c < k; c++) {
      const x = v128.load(src);
      const lo = v128.and(x, mask);
      const hi = i8x16.shr_u(x, 4);
      a0 = v128.xor(a0, mul(t, lo, hi));
      a1 = v128.xor(a1, mul(t + rowBytes, lo, hi));
      src += <usize>stride;
      t += 32;
    }
    v128.store(o0 + p, a0); v128.store(o1 + p, a1);
  }
}

function group1(k: i32, r: i32, stride: i32, len: i32, accumulate: i32): void {
  const mask = i8x16.splat(0x0f);
  const t0 = TABLES + <usize>r * <usize>k * 32;
  const o0 = BUF + (<usize>(k + r)) * <usize>stride;
  for (let p: usize = 0; p < <usize>len; p += 16) {
    let a0 = accumulate ? v128.load(o0 + p) : i64x2.splat(0);
    let src = BUF + p;
    let t = t0;
    for (let c = 0; c < k; c++) {
      const x = v128.load(src);
      a0 = v128.xor(a0, mul(t, v128.and(x, mask), i8x16.shr_u(x, 4)));
      src += <usize>stride;
      t += 32;
    }
    v128.store(o0 + p, a0);
  }
}
