// Proof of storage with Bao slices: a challenge (shard, nonce, count, expected root) selects chunks that neither side can
// steer; the miner answers with the standard Bao slice of each selected 1 KiB chunk plus the final chunk (which proves
// the shard's length) and signs the answer; the warden verifies every slice against the root. Not zero-knowledge:
// the answer reveals the challenged chunks.
//
// Chunk selection (slowdrip pos v1): XOF = BLAKE3 derive_key("slowdrip pos v1 chunk indices", shard(32) || nonce(32)),
// read as little-endian u64 words w_0, w_1, ...; index = w_j mod n for n = the shard's chunk count, skipping repeats,
// until min(count, n) distinct indices; then the final chunk n-1 unless already chosen. The shard hash and nonce fix the
// order, so a warden cannot aim at chunks and a miner cannot know them before the nonce arrives.
import { CorruptBlobError, NotFoundError } from "../store/errors.ts";
import { BaoVerifyError, baoVerifyChunkSlices, baoVerifySlice, blake3Concat, deriveKey, fromHex, isBlobId, toHex } from "../wasm/index.ts";
import { ed25519Sign, ed25519Verify } from "./sign.ts";

/** Bytes per Bao chunk. */
export const CHUNK = 1024;
/** Bounds of challenges and answers. */
export const POS_LIMITS = {
  /** Most chunks one challenge may ask for. */
  maxChunks: 64,
  /** Nonce bytes. */
  nonceLen: 32,
  /** Largest answer (slices) a verifier reads: 65 slices of a 2^40-byte shard fit below it. */
  maxAnswerBytes: 65 * (8 + 64 * 30 + CHUNK),
  /** Largest shard a challenge may name (2^40 bytes). */
  maxShardSize: 2 ** 40,
} as const;

/** A storage challenge. `root` is the expected BLAKE3 root; blobs are named by it, so it equals `shard`. */
export interface PosChallenge {
  /** Shard id: 64 lowercase hex. */
  shard: string;
  nonce: Uint8Array;
  /** Chunks asked for (1..POS_LIMITS.maxChunks); the final chunk is always added. */
  count: number;
  /** Expected root: the shard's BLAKE3 (64 lowercase hex). */
  root: string;
}

/** A miner's signed answer. */
export interface PosAnswer {
  shard: string;
  nonce: Uint8Array;
  /** The shard's size, as every slice's length header states it. */
  size: number;
  /** Chunk indices, in challenge order (the final chunk last unless chosen before). */
  chunks: number[];
  /** The standard Bao slice of each chunk (header, parents, chunk), same order. */
  slices: Uint8Array[];
  /** Node id of the miner (signer). */
  miner: string;
  /** Node id the challenge came from. */
  challenger: string;
  /** Ed25519 signature of the miner over the POS_ANSWER statement. */
  signature: Uint8Array;
}

/** A challenge that cannot be answered as asked (the RPC boundary maps `reason` to a code). */
export class PosError extends Error {
  readonly reason: "bad-challenge" | "not-stored" | "corrupt" | "busy" | "refused";
  constructor(reason: PosError["reason"], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PosError";
    this.reason = reason;
  }
}

/** Why an answer failed verification. */
export type PosFailure =
  | "malformed"
  | "oversized"
  | "wrong-shard"
  | "wrong-nonce"
  | "wrong-miner"
  | "wrong-challenger"
  | "bad-size"
  | "wrong-chunks"
  | "bad-slice"
  | "bad-signature";

/** An answer was refused by the verifier. */
export class PosVerifyError extends Error {
  readonly reason: PosFailure;
  constructor(reason: PosFailure, message: string, options?: { cause?: unknown }) {
    super(`${reason}: ${message}`, options);
    this.name = "PosVerifyError";
    this.reason = reason;
  }
}

/** Throws PosError("bad-challenge") unless the challenge is well formed. */
export function checkChallenge(ch: PosChallenge): void {
  if (typeof ch !== "object" || ch === null) throw new PosError("bad-challenge", "a challenge is an object");
  if (!isBlobId(ch.shard)) throw new PosError("bad-challenge", "shard must be a BLAKE3 hash (64 lowercase hex)");
  if (ch.root !== ch.shard) throw new PosError("bad-challenge", `expected root ${String(ch.root).slice(0, 64)} is not the shard's BLAKE3 (shards are named by their root)`);
  if (!(ch.nonce instanceof Uint8Array) || ch.nonce.length !== POS_LIMITS.nonceLen) throw new PosError("bad-challenge", `nonce must be ${POS_LIMITS.nonceLen} bytes`);
  if (!Number.isInteger(ch.count) || ch.count < 1 || ch.count > POS_LIMITS.maxChunks) {
    throw new PosError("bad-challenge", `count must be 1..${POS_LIMITS.maxChunks}, got ${ch.count}`);
  }
}

/** Chunks of a shard of `size` bytes (an empty shard has one empty chunk). */
export function chunkCountOf(size: number): number {
  return size === 0 ? 1 : Math.ceil(size / CHUNK);
}

/** The chunk indices a challenge selects in a shard of `size` bytes (see the header comment). */
export function challengeIndices(shard: string, nonce: Uint8Array, count: number, size: number): number[] {
  if (!Number.isSafeInteger(size) || size < 0 || size > POS_LIMITS.maxShardSize) throw new RangeError(`shard size ${size} out of range`);
  const n = chunkCountOf(size);
  const want = Math.min(count, n);
  const material = new Uint8Array(64);
  material.set(fromHex(shard), 0);
  material.set(nonce, 32);
  const picked: number[] = [];
  const seen = new Set<number>();
  const nn = BigInt(n);
  // w mod n = ((hi mod n) * 2^32 + lo) mod n, exact in doubles while n <= 2^21 (below 2^53); BigInt above.
  const small = n <= 2 ** 21;
  // Enough words for the common case in one call; more when repeats are frequent (count close to n).
  for (let words = Math.max(16, want * 2); picked.length < want; words *= 2) {
    const xof = deriveKey("slowdrip pos v1 chunk indices", material, { length: words * 8 });
    const view = new DataView(xof.buffer, xof.byteOffset, xof.byteLength);
    picked.length = 0;
    seen.clear();
    for (let j = 0; j < words && picked.length < want; j++) {
      const idx = small
        ? (((view.getUint32(j * 8 + 4, true) % n) * 2 ** 32) + view.getUint32(j * 8, true)) % n
        : Number(view.getBigUint64(j * 8, true) % nn);
      if (!seen.has(idx)) {
        seen.add(idx);
        picked.push(idx);
      }
    }
  }
  if (!seen.has(n - 1)) picked.push(n - 1);
  return picked;
}

/** BLAKE3 over the slices, each framed by its 4-byte big-endian length (what the signature binds); hashed in one call. */
function slicesDigest(slices: readonly Uint8Array[]): string {
  const parts: Uint8Array[] = [];
  for (const s of slices) {
    const n = s.length;
    parts.push(new Uint8Array([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]), s);
  }
  return toHex(blake3Concat(parts));
}

const utf8 = new TextEncoder();

/**
 * The bytes of the POS_ANSWER statement the miner signs: statementBytes("POS_ANSWER", body) for the body { type:
 * "POS_ANSWER", v: 1, shard, root (= shard), nonce (hex), size, chunks, slices: slicesDigest(slices) (hex), miner,
 * challenger }, written straight in its RFC 8785 form (keys sorted; strings as JSON.stringify writes them; size and
 * chunks are safe integers), without building the object or canonicalizing it. `slices` is the digest in hex (the
 * verifier has it from the wasm check).
 */
function answerStatement(a: Omit<PosAnswer, "signature">, slices: string): Uint8Array {
  const shard = JSON.stringify(a.shard);
  return utf8.encode(
    `slowdrip/v1/POS_ANSWER\n{"challenger":${JSON.stringify(a.challenger)},"chunks":[${a.chunks.join(",")}],"miner":${JSON.stringify(a.miner)},` +
      `"nonce":"${toHex(a.nonce)}","root":${shard},"shard":${shard},"size":${a.size},"slices":"${slices}","type":"POS_ANSWER","v":1}`,
  );
}

/** What answering needs from the blob store (a BlobStore has both). */
export interface ShardSource {
  stat(hash: string): Promise<{ size: number }>;
  /**
   * The standard Bao slices of single 1 KiB chunks (same order), rebuilt in one pass from the compact outboard and the
   * bytes of the chunk groups they fall in.
   */
  baoChunkSlices(hash: string, chunks: readonly number[]): Promise<Uint8Array[]>;
}

/** The miner's key. */
export interface PosSigner {
  nodeId: string;
  secretKey: Uint8Array;
}

const tick = () => new Promise<void>((r) => setImmediate(r));

/**
 * Answers a challenge from the stored shard: the standard Bao slice of every selected chunk, built in one pass (the
 * outboard read once, each chunk group read and re-hashed once), signed by the miner; it yields to the event loop once
 * per answer so that concurrent proofs interleave. Throws PosError: bad-challenge, not-stored (no such shard), corrupt
 * (stored bytes do not match the outboard).
 */
export async function answerChallenge(source: ShardSource, ch: PosChallenge, signer: PosSigner, challenger: string, signal?: AbortSignal): Promise<PosAnswer> {
  checkChallenge(ch);
  let size: number;
  try {
    size = (await source.stat(ch.shard)).size;
  } catch (err) {
    if (err instanceof NotFoundError) throw new PosError("not-stored", `shard ${ch.shard} is not stored here`, { cause: err });
    throw err;
  }
  const chunks = challengeIndices(ch.shard, ch.nonce, ch.count, size);
  // One yield per answer: requests that arrived meanwhile run (and meet tuning.pos_concurrency) before this proof ends.
  await tick();
  signal?.throwIfAborted();
  let slices: Uint8Array[];
  try {
    slices = await source.baoChunkSlices(ch.shard, chunks);
  } catch (err) {
    if (err instanceof NotFoundError) throw new PosError("not-stored", `shard ${ch.shard} is not stored here`, { cause: err });
    if (err instanceof CorruptBlobError || err instanceof BaoVerifyError) {
      throw new PosError("corrupt", `stored shard ${ch.shard} is damaged: ${(err as Error).message}`, { cause: err });
    }
    throw err;
  }
  if (slices.length !== chunks.length) throw new Error(`the shard source gave ${slices.length} slices for ${chunks.length} chunks`);
  const unsigned = { shard: ch.shard, nonce: ch.nonce.slice(), size, chunks, slices, miner: signer.nodeId, challenger };
  return { ...unsigned, signature: ed25519Sign(answerStatement(unsigned, slicesDigest(slices)), signer.secretKey) };
}

/** Total bytes of an answer's slices. */
export function answerBytes(a: Pick<PosAnswer, "slices">): number {
  return a.slices.reduce((n, s) => n + s.length, 0);
}

/**
 * Verifies an answer to `ch` from `miner` (node id) to `challenger`: binding (shard, nonce, parties), size bounds, the
 * selected chunks, every slice against the shard's root, and the miner's signature. Throws PosVerifyError naming the
 * first failure; returns the proven size.
 */
export function verifyAnswer(ch: PosChallenge, a: PosAnswer, miner: string, challenger: string): { size: number } {
  const c = checkAnswer(ch, a, miner, challenger);
  if (!ed25519Verify(c.signature, c.statement, c.publicKey)) throw badSignature();
  return { size: c.size };
}

/** An answer that passed every check but the signature's, and what that check needs. */
export interface CheckedAnswer {
  size: number;
  /** The POS_ANSWER statement bytes the signature must cover. */
  statement: Uint8Array;
  signature: Uint8Array;
  /** The miner's 32-byte Ed25519 key. */
  publicKey: Uint8Array;
}

/** The failure of an answer whose signature does not verify. */
export function badSignature(): PosVerifyError {
  return new PosVerifyError("bad-signature", "the miner's signature does not cover this answer");
}

/**
 * Every check of verifyAnswer except the signature's (the caller verifies `signature` over `statement`, e.g. on another
 * thread; badSignature() is its failure). Throws PosVerifyError naming the first failure.
 */
export function checkAnswer(ch: PosChallenge, a: PosAnswer, miner: string, challenger: string): CheckedAnswer {
  checkChallenge(ch);
  if (typeof a !== "object" || a === null || !Array.isArray(a.slices) || !Array.isArray(a.chunks) || !(a.nonce instanceof Uint8Array) || !(a.signature instanceof Uint8Array)) {
    throw new PosVerifyError("malformed", "the answer is not a PosAnswer");
  }
  if (a.shard !== ch.shard) throw new PosVerifyError("wrong-shard", `answer is for shard ${String(a.shard).slice(0, 64)}, challenge for ${ch.shard}`);
  if (toHex(a.nonce) !== toHex(ch.nonce)) throw new PosVerifyError("wrong-nonce", "the answer is for another nonce (replayed or stale)");
  if (a.miner !== miner) throw new PosVerifyError("wrong-miner", `answer names miner ${String(a.miner).slice(0, 64)}, expected ${miner}`);
  if (a.challenger !== challenger) throw new PosVerifyError("wrong-challenger", `answer names challenger ${String(a.challenger).slice(0, 64)}, expected ${challenger}`);
  if (a.slices.length > ch.count + 1 || a.slices.length !== a.chunks.length) {
    throw new PosVerifyError("oversized", `${a.slices.length} slices for ${a.chunks.length} chunks; at most ${ch.count + 1} allowed`);
  }
  const bytes = answerBytes(a);
  if (bytes > POS_LIMITS.maxAnswerBytes) throw new PosVerifyError("oversized", `${bytes} bytes of slices, more than ${POS_LIMITS.maxAnswerBytes}`);
  if (!Number.isSafeInteger(a.size) || a.size < 0 || a.size > POS_LIMITS.maxShardSize) throw new PosVerifyError("bad-size", `size ${a.size} out of range`);
  const want = challengeIndices(ch.shard, ch.nonce, ch.count, a.size);
  if (want.length !== a.chunks.length || want.some((c, i) => c !== a.chunks[i])) {
    throw new PosVerifyError("wrong-chunks", "the answered chunks are not the ones the nonce selects");
  }
  const root = fromHex(ch.root);
  for (let i = 0; i < want.length; i++) {
    const s = a.slices[i];
    if (!(s instanceof Uint8Array) || s.length < 8) throw new PosVerifyError("malformed", `slice ${i} is not a Bao slice`);
    const header = (s[0]! | (s[1]! << 8) | (s[2]! << 16)) + (s[3]! * 2 ** 24) + (s[4]! | (s[5]! << 8) | (s[6]! << 16)) * 2 ** 32 + s[7]! * 2 ** 56;
    if (header !== a.size) throw new PosVerifyError("bad-size", `slice ${i} states ${header} bytes, the answer ${a.size}`);
  }
  // Every slice in one wasm call (paths four at a time), which also hashes the framed slices for the signature check.
  const verdict = baoVerifyChunkSlices(root, a.size, a.slices, want, { digest: true });
  if (verdict.bad >= 0) throw badSlice(root, a, want, verdict.bad);
  const { signature, ...unsigned } = a;
  return { size: a.size, statement: answerStatement(unsigned, toHex(verdict.digest!)), signature, publicKey: fromHex(miner) };
}

/** The failure of slice `i`, which the one-call check refused, as the streaming decoder names it. */
function badSlice(root: Uint8Array, a: PosAnswer, want: readonly number[], i: number): PosVerifyError {
  const start = want[i]! * CHUNK;
  const len = Math.min(CHUNK, a.size - start);
  try {
    baoVerifySlice(root, a.slices[i]!, start, len);
  } catch (err) {
    if (err instanceof BaoVerifyError) return new PosVerifyError("bad-slice", `chunk ${want[i]} does not verify against the root: ${err.message}`, { cause: err });
    throw err;
  }
  // Not reached for a standard slice (both checks accept exactly the same slices); refused all the same.
  return new PosVerifyError("bad-slice", `chunk ${want[i]} is not the standard single-chunk slice`);
}

/** A fresh random challenge nonce. */
export function randomNonce(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(POS_LIMITS.nonceLen));
}
