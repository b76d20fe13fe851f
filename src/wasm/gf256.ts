// GF(2^8) arithmetic (polynomial 0x11D, generator 2) and the small matrix algebra Reed-Solomon coding needs.

/** exp[i] = 2^i for i in 0..509 (doubled so that exp[log a + log b] needs no reduction). */
const EXP = new Uint8Array(510);
/** log[a] for a in 1..255 (log[0] is unused). */
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 510; i++) EXP[i] = EXP[i - 255]!;
}

/** MUL[a << 8 | b] = a * b (64 KiB; the matrix algebra's inner loops index it). */
const MUL = new Uint8Array(65536);
for (let a = 1; a < 256; a++) for (let b = 1; b < 256; b++) MUL[(a << 8) | b] = EXP[LOG[a]! + LOG[b]!]!;

/** a * b in GF(2^8). */
export function gfMul(a: number, b: number): number {
  return MUL[(a << 8) | b]!;
}

/** The multiplicative inverse of a (a != 0). */
export function gfInv(a: number): number {
  if (a === 0) throw new RangeError("gfInv: zero has no inverse");
  return EXP[255 - LOG[a]!]!;
}

/** a^n in GF(2^8), with 0^0 = 1. */
export function gfPow(a: number, n: number): number {
  if (n === 0) return 1;
  if (a === 0) return 0;
  return EXP[(LOG[a]! * n) % 255]!;
}

/** A rows x cols matrix of field elements, row-major. */
export interface Matrix {
  rows: number;
  cols: number;
  data: Uint8Array;
}

function matrix(rows: number, cols: number): Matrix {
  return { rows, cols, data: new Uint8Array(rows * cols) };
}

/** The product a x b. */
export function matMul(a: Matrix, b: Matrix): Matrix {
  if (a.cols !== b.rows) throw new RangeError(`matMul: ${a.rows}x${a.cols} times ${b.rows}x${b.cols}`);
  const out = matrix(a.rows, b.cols);
  for (let r = 0; r < a.rows; r++) {
    for (let c = 0; c < b.cols; c++) {
      let v = 0;
      for (let i = 0; i < a.cols; i++) v ^= MUL[(a.data[r * a.cols + i]! << 8) | b.data[i * b.cols + c]!]!;
      out.data[r * out.cols + c] = v;
    }
  }
  return out;
}

/** The rows `which` of m, in that order. */
export function matRows(m: Matrix, which: readonly number[]): Matrix {
  const out = matrix(which.length, m.cols);
  which.forEach((r, i) => out.data.set(m.data.subarray(r * m.cols, (r + 1) * m.cols), i * m.cols));
  return out;
}

/** The inverse of the square matrix m (Gauss-Jordan); RangeError when m is singular. */
export function matInvert(m: Matrix): Matrix {
  const n = m.rows;
  if (m.cols !== n) throw new RangeError(`matInvert: ${m.rows}x${m.cols} is not square`);
  const a = Uint8Array.from(m.data);
  const inv = identity(n).data;
  for (let col = 0; col < n; col++) {
    let pivot = col;
    while (pivot < n && a[pivot * n + col] === 0) pivot++;
    if (pivot === n) throw new RangeError("matInvert: singular matrix");
    if (pivot !== col) {
      swapRows(a, n, pivot, col);
      swapRows(inv, n, pivot, col);
    }
    const scale = gfInv(a[col * n + col]!) << 8;
    for (let j = 0; j < n; j++) {
      a[col * n + j] = MUL[scale | a[col * n + j]!]!;
      inv[col * n + j] = MUL[scale | inv[col * n + j]!]!;
    }
    for (let r = 0; r < n; r++) {
      const f = r === col ? 0 : a[r * n + col]! << 8;
      if (f === 0) continue;
      for (let j = 0; j < n; j++) {
        a[r * n + j]! ^= MUL[f | a[col * n + j]!]!;
        inv[r * n + j]! ^= MUL[f | inv[col * n + j]!]!;
      }
    }
  }
  return { rows: n, cols: n, data: inv };
}

function swapRows(d: Uint8Array, n: number, i: number, j: number): void {
  for (let c = 0; c < n; c++) {
    const t = d[i * n + c]!;
    d[i * n + c] = d[j * n + c]!;
    d[j * n + c] = t;
  }
}

function identity(n: number): Matrix {
  const m = matrix(n, n);
  for (let i = 0; i < n; i++) m.data[i * n + i] = 1;
  return m;
}

/**
 * The systematic (k + m) x k encoding matrix of the Backblaze / klauspost construction: the Vandermonde matrix
 * V[r][c] = r^c times the inverse of its top k x k square, so the top k rows are the identity and the other m rows
 * give the parity.
 */
export function encodingMatrix(k: number, m: number): Matrix {
  const v = matrix(k + m, k);
  for (let r = 0; r < k + m; r++) for (let c = 0; c < k; c++) v.data[r * k + c] = gfPow(r, c);
  const top = { rows: k, cols: k, data: v.data.slice(0, k * k) };
  // V x top^-1 has the identity on top; only the parity rows need the product.
  const parity = matMul({ rows: m, cols: k, data: v.data.subarray(k * k) }, matInvert(top));
  const out = matrix(k + m, k);
  for (let i = 0; i < k; i++) out.data[i * k + i] = 1;
  out.data.set(parity.data, k * k);
  return out;
}

/**
 * The split-nibble tables of every coefficient of m, row-major: 16 bytes of c * (0..15) then 16 bytes of
 * c * (0..15 << 4), the layout the WASM kernel indexes with i8x16.swizzle.
 */
export function nibbleTables(m: Matrix): Uint8Array {
  const out = new Uint8Array(m.data.length * 32);
  for (let i = 0; i < m.data.length; i++) {
    const c = m.data[i]!;
    for (let n = 0; n < 16; n++) {
      out[i * 32 + n] = gfMul(c, n);
      out[i * 32 + 16 + n] = gfMul(c, n << 4);
    }
  }
  return out;
}
