// ECVRF-EDWARDS25519-SHA512-TAI against RFC 9381 Appendix B.3 (every value of every example), and verification
// refusing every mutation of each vector: proof bytes, key, message and each proof component, each naming its case.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ED25519_TORSION_SUBGROUP, ed25519 } from "@noble/curves/ed25519.js";
import { sha512 } from "@noble/hashes/sha2.js";
import { encodeToCurve, expandSecret, proofToHash, vrfIsValid, vrfProve, vrfVerify, VrfError, VrfProver, type VrfFailure } from "../../src/proofs/vrf.ts";
import { fromHex, toHex } from "../../src/wasm/index.ts";

interface Example {
  example: number;
  SK: string;
  PK: string;
  alpha: string;
  x: string;
  ctr: number;
  H: string;
  k: string;
  U: string;
  V: string;
  pi: string;
  beta: string;
}
const file = JSON.parse(readFileSync(join(import.meta.dirname, "../vectors/vrf/rfc9381-edwards25519-sha512-tai.json"), "utf8")) as { examples: Example[] };
const examples = file.examples;
const Q = ed25519.Point.Fn.ORDER;
const le = (h: string) => {
  const b = fromHex(h);
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
  return n;
};
const leBytes = (n: bigint, len: number) => {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
};

/** The reason vrfVerify gives, or "valid". */
function outcome(pk: Uint8Array, alpha: Uint8Array, pi: Uint8Array): VrfFailure | "valid" {
  try {
    vrfVerify(pk, alpha, pi);
    return "valid";
  } catch (err) {
    if (err instanceof VrfError) return err.reason;
    throw err;
  }
}

describe.each(examples)("RFC 9381 B.3 example $example", (v) => {
  const sk = fromHex(v.SK);
  const pk = fromHex(v.PK);
  const alpha = fromHex(v.alpha);
  const pi = fromHex(v.pi);

  it("derives x and PK from SK", () => {
    const e = expandSecret(sk);
    expect(e.x).toBe(le(v.x) % Q);
    expect(toHex(e.publicKey)).toBe(v.PK);
  });
  it("encodes alpha to H (try-and-increment succeeds at the RFC's ctr)", () => {
    expect(toHex(encodeToCurve(pk, alpha).toBytes())).toBe(v.H);
    // ctr: every earlier counter gives no valid point, the RFC's counter does.
    const hashAt = (ctr: number) => sha512(new Uint8Array([0x03, 0x01, ...pk, ...alpha, ctr, 0x00])).subarray(0, 32);
    for (let c = 0; c < v.ctr; c++) expect(() => ed25519.Point.fromBytes(hashAt(c))).toThrow();
    expect(ed25519.Point.fromBytes(hashAt(v.ctr)).clearCofactor().toHex()).toBe(v.H);
  });
  it("generates the nonce k and the points U = k*B, V = k*H", () => {
    const e = expandSecret(sk);
    expect(toHex(sha512(new Uint8Array([...e.nonceKey, ...fromHex(v.H)])))).toBe(v.k);
    const k = le(v.k) % Q;
    expect(ed25519.Point.BASE.multiply(k).toHex()).toBe(v.U);
    expect(ed25519.Point.fromHex(v.H).multiply(k).toHex()).toBe(v.V);
  });
  it("proves: pi and beta equal the RFC's", () => {
    const r = vrfProve(sk, alpha);
    expect(toHex(r.pi)).toBe(v.pi);
    expect(toHex(r.beta)).toBe(v.beta);
    const again = new VrfProver(sk).prove(alpha);
    expect(toHex(again.pi)).toBe(v.pi);
  });
  it("verifies: beta from verify and from proof_to_hash", () => {
    expect(toHex(vrfVerify(pk, alpha, pi))).toBe(v.beta);
    expect(toHex(proofToHash(pi))).toBe(v.beta);
    expect(vrfIsValid(pk, alpha, pi)).toBe(true);
  });

  it("rejects every single-bit flip of the proof, naming the failed check", () => {
    const reasons = new Set<string>();
    for (let i = 0; i < pi.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const m = pi.slice();
        m[i]! ^= 1 << bit;
        const r = outcome(pk, alpha, m);
        expect(r, `byte ${i} bit ${bit}`).not.toBe("valid");
        // Gamma flips either break the encoding or change the point; c and s flips break the challenge or s's range.
        if (i < 32) expect(["bad-gamma-encoding", "challenge-mismatch"], `byte ${i} bit ${bit}: ${r}`).toContain(r);
        else if (i < 48) expect(r, `byte ${i} bit ${bit}`).toBe("challenge-mismatch");
        else expect(["challenge-mismatch", "s-out-of-range"], `byte ${i} bit ${bit}: ${r}`).toContain(r);
        reasons.add(r);
      }
    }
    expect(reasons.has("challenge-mismatch")).toBe(true);
    expect(reasons.has("s-out-of-range")).toBe(true);
  });
  it("rejects truncated and extended proofs", () => {
    expect(outcome(pk, alpha, pi.subarray(0, 79))).toBe("bad-proof-length");
    expect(outcome(pk, alpha, new Uint8Array([...pi, 0]))).toBe("bad-proof-length");
    expect(outcome(pk, alpha, new Uint8Array(0))).toBe("bad-proof-length");
  });
  it("rejects each component replaced: Gamma, c, s (s + q and other non-canonical forms included)", () => {
    const gamma = pi.subarray(0, 32);
    const c = le(toHex(pi.subarray(32, 48)));
    const s = le(toHex(pi.subarray(48, 80)));
    const withParts = (g: Uint8Array, cc: bigint, ss: bigint) => new Uint8Array([...g, ...leBytes(cc, 16), ...leBytes(ss, 32)]);
    // Another valid point as Gamma; its negation; the identity.
    expect(outcome(pk, alpha, withParts(ed25519.Point.BASE.toBytes(), c, s))).toBe("challenge-mismatch");
    expect(outcome(pk, alpha, withParts(ed25519.Point.fromBytes(gamma).negate().toBytes(), c, s))).toBe("challenge-mismatch");
    expect(outcome(pk, alpha, withParts(ed25519.Point.ZERO.toBytes(), c, s))).toBe("challenge-mismatch");
    // Gamma + a small-order point: same cofactor-cleared output, but the challenge binds the exact Gamma.
    const torsion = ed25519.Point.fromHex(ED25519_TORSION_SUBGROUP[1]!);
    expect(torsion.isSmallOrder()).toBe(true);
    expect(outcome(pk, alpha, withParts(ed25519.Point.fromBytes(gamma).add(torsion).toBytes(), c, s))).toBe("challenge-mismatch");
    // A non-canonical encoding of Gamma's y (y + p fits in 255 bits only when y < 19).
    const big = new Uint8Array(32).fill(0xff);
    big[31] = 0x7f; // y = 2^255 - 1 >= p
    expect(outcome(pk, alpha, withParts(big, c, s))).toBe("bad-gamma-encoding");
    // c changed; c = 0.
    expect(outcome(pk, alpha, withParts(gamma, c ^ 1n, s))).toBe("challenge-mismatch");
    expect(outcome(pk, alpha, withParts(gamma, 0n, s))).toBe("challenge-mismatch");
    // s changed; s + q (same residue, non-canonical); s = q; s = 0.
    expect(outcome(pk, alpha, withParts(gamma, c, (s + 1n) % Q))).toBe("challenge-mismatch");
    expect(outcome(pk, alpha, withParts(gamma, c, s + Q))).toBe("s-out-of-range");
    expect(outcome(pk, alpha, withParts(gamma, c, Q))).toBe("s-out-of-range");
    expect(outcome(pk, alpha, withParts(gamma, c, 0n))).toBe("challenge-mismatch");
  });
  it("rejects the proof under every single-bit flip of the public key", () => {
    for (let i = 0; i < pk.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const m = pk.slice();
        m[i]! ^= 1 << bit;
        const r = outcome(m, alpha, pi);
        expect(["bad-key-encoding", "small-order-key", "challenge-mismatch"], `key byte ${i} bit ${bit}: ${r}`).toContain(r);
      }
    }
  });
  it("rejects other keys: another example's key, small-order keys, bad lengths", () => {
    const other = examples.find((e) => e.example !== v.example)!;
    expect(outcome(fromHex(other.PK), alpha, pi)).toBe("challenge-mismatch");
    expect(outcome(ed25519.Point.ZERO.toBytes(), alpha, pi)).toBe("small-order-key");
    for (const t of ED25519_TORSION_SUBGROUP) {
      // Every small-order point with a canonical encoding is refused as a key.
      if (ed25519.Point.fromHex(t).toHex() === t) expect(outcome(fromHex(t), alpha, pi), t).toBe("small-order-key");
    }
    expect(outcome(pk.subarray(0, 31), alpha, pi)).toBe("bad-key-length");
    expect(outcome(new Uint8Array([...pk, 0]), alpha, pi)).toBe("bad-key-length");
  });
  it("rejects the proof for changed messages: bit flips, appended and dropped bytes, another example's alpha", () => {
    const variants: [string, Uint8Array][] = [
      ["appended 0x00", new Uint8Array([...alpha, 0])],
      ["appended 0x72", new Uint8Array([...alpha, 0x72])],
      ["prepended 0x00", new Uint8Array([0, ...alpha])],
    ];
    if (alpha.length > 0) variants.push(["last byte dropped", alpha.subarray(0, alpha.length - 1)]);
    for (let i = 0; i < alpha.length; i++) for (let bit = 0; bit < 8; bit++) {
      const m = alpha.slice();
      m[i]! ^= 1 << bit;
      variants.push([`byte ${i} bit ${bit}`, m]);
    }
    for (const e of examples) if (e.alpha !== v.alpha) variants.push([`alpha of example ${e.example}`, fromHex(e.alpha)]);
    for (const [name, m] of variants) expect(outcome(pk, m, pi), name).toBe("challenge-mismatch");
  });
});

describe("keys and inputs", () => {
  it("the VRF public key of a seed is its Ed25519 public key (node ids are VRF keys)", () => {
    for (let i = 0; i < 8; i++) {
      const sk = crypto.getRandomValues(new Uint8Array(32));
      expect(toHex(new VrfProver(sk).publicKey)).toBe(toHex(ed25519.getPublicKey(sk)));
    }
  });
  it("random keys and messages round-trip; beta differs per message and per key", () => {
    const sk = crypto.getRandomValues(new Uint8Array(32));
    const p = new VrfProver(sk);
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const alpha = crypto.getRandomValues(new Uint8Array(i * 7));
      const r = p.prove(alpha);
      expect(toHex(vrfVerify(p.publicKey, alpha, r.pi))).toBe(toHex(r.beta));
      seen.add(toHex(r.beta));
    }
    expect(seen.size).toBe(6);
    const other = new VrfProver(crypto.getRandomValues(new Uint8Array(32)));
    expect(toHex(other.prove(new Uint8Array(0)).beta)).not.toBe(toHex(p.prove(new Uint8Array(0)).beta));
  });
  it("checks its arguments", () => {
    expect(() => new VrfProver(new Uint8Array(31))).toThrow(/bad-secret/);
    expect(() => vrfVerify("00" as never, new Uint8Array(0), new Uint8Array(80))).toThrow(TypeError);
    expect(() => proofToHash(new Uint8Array(79))).toThrow(/bad-proof-length/);
  });
});
