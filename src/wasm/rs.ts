// TEMPORARY SHIM (cluster branch only, removed before merge): plain-JS Reed-Solomon with the rs engineer's signatures.
const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255]!;
}
const mul = (a: number, b: number) => (a === 0 || b === 0 ? 0 : EXP[LOG[a]! + LOG[b]!]!);
const pow = (a: number, n: number) => (n === 0 ? 1 : a === 0 ? 0 : EXP[(LOG[a]! * n) % 255]!);
const inv1 = (a: number) => EXP[255 - LOG[a]!]!;

function invert(m: number[][]): number[][] {
  const n = m.length;
  const a = m.map((r, i) => [...r, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let p = c;
    while (p < n && a[p]![c] === 0) p++;
    if (p === n) throw new Error("singular matrix");
    [a[c], a[p]] = [a[p]!, a[c]!];
    const iv = inv1(a[c]![c]!);
    a[c] = a[c]!.map((v) => mul(v, iv));
    for (let r = 0; r < n; r++) {
      if (r === c || a[r]![c] === 0) continue;
      const f = a[r]![c]!;
      a[r] = a[r]!.map((v, j) => v ^ mul(f, a[c]![j]!));
    }
  }
  return a.map((r) => r.slice(n));
}

function matMul(a: number[][], b: number[][]): number[][] {
  return a.map((row) => b[0]!.map((_, j) => row.reduce((s, v, i) => s ^ mul(v, b[i]![j]!), 0)));
}

function mulAdd(out: Uint8Array, src: Uint8Array, c: number): void {
  if (c === 0) return;
  const lc = LOG[c]!;
  for (let i = 0; i < src.length; i++) {
    const s = src[i]!;
    if (s !== 0) out[i]! ^= EXP[LOG[s]! + lc]!;
  }
}

/** Systematic Reed-Solomon over GF(2^8) (0x11D), Vandermonde made systematic. */
export class ReedSolomon {
  readonly k: number;
  readonly m: number;
  readonly #matrix: number[][];
  constructor(k: number, m: number) {
    if (!Number.isInteger(k) || !Number.isInteger(m) || k < 1 || m < 0 || k + m > 256) throw new RangeError("bad k/m");
    this.k = k;
    this.m = m;
    const v = Array.from({ length: k + m }, (_, r) => Array.from({ length: k }, (_, c) => pow(r, c)));
    this.#matrix = matMul(v, invert(v.slice(0, k)));
  }
  encode(shards: Uint8Array[]): void {
    for (let p = 0; p < this.m; p++) {
      const out = shards[this.k + p]!;
      out.fill(0);
      for (let c = 0; c < this.k; c++) mulAdd(out, shards[c]!, this.#matrix[this.k + p]![c]!);
    }
  }
  reconstruct(shards: (Uint8Array | null)[]): Uint8Array[] {
    const present = shards.map((s, i) => (s ? i : -1)).filter((i) => i >= 0).slice(0, this.k);
    if (present.length < this.k) throw new RangeError(`need ${this.k} shards, have ${present.length}`);
    const size = shards[present[0]!]!.length;
    const dec = invert(present.map((i) => this.#matrix[i]!));
    const data: Uint8Array[] = [];
    for (let r = 0; r < this.k; r++) {
      if (shards[r]) {
        data.push(shards[r]!);
        continue;
      }
      const out = new Uint8Array(size);
      present.forEach((i, c) => mulAdd(out, shards[i]!, dec[r]![c]!));
      data.push(out);
    }
    const all = [...data, ...Array.from({ length: this.m }, (_, p) => shards[this.k + p] ?? new Uint8Array(size))];
    const missingParity = Array.from({ length: this.m }, (_, p) => !shards[this.k + p]);
    for (let p = 0; p < this.m; p++) {
      if (!missingParity[p]) continue;
      const out = all[this.k + p]!;
      for (let c = 0; c < this.k; c++) mulAdd(out, data[c]!, this.#matrix[this.k + p]![c]!);
    }
    for (let i = 0; i < all.length; i++) shards[i] = all[i]!;
    return all;
  }
  verify(shards: Uint8Array[]): boolean {
    const copy = shards.map((s) => new Uint8Array(s));
    this.encode(copy);
    return copy.every((s, i) => s.every((b, j) => b === shards[i]![j]));
  }
}

/** k data shards (zero-padded) plus m zeroed parity shards of ceil(len/k) bytes. */
export function splitStripe(data: Uint8Array, k: number, m: number): Uint8Array[] {
  const size = Math.max(1, Math.ceil(data.length / k));
  return Array.from({ length: k + m }, (_, i) => {
    const s = new Uint8Array(size);
    if (i < k) s.set(data.subarray(i * size, Math.min(data.length, (i + 1) * size)));
    return s;
  });
}
