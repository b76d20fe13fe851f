// Stream statements: delegation, MANIFEST_ROOT (segment entries + append-only Merkle root) and STREAM_ANNOUNCE; browser-safe.
//
// Canonical bytes: RFC 8785 JCS (canonical.ts), signed with a per-type domain prefix (signing.ts).
// Merkle: the hashing core's tree (src/wasm/merkle.ts, "slowdrip merkle v1"). Leaf i is BLAKE3(JCS(segment entry i)),
// so the root binds sequence, duration, both hashes and size of every segment since the stream started.
// A manifest lists only the live window (segments base..count-1). It carries `peaks`, the append-only builder's
// state after the first `base` leaves (roots of perfect subtrees, largest first; popcount(base) of them), so anyone
// can recompute the root of all `count` leaves from the peaks and the listed entries alone.
import { blake3, merkleLeafHash, merkleNodeHash, merkleRoot } from "../wasm/browser.ts";
import { canonicalBytes } from "./canonical.ts";
import { bytesOf, hexOf, isHex32, signStatement, verifyStatement } from "./signing.ts";

/** Limits on what a manifest may hold (verifiers refuse more). */
export const MANIFEST_LIMITS = {
  maxSegments: 2048,
  maxSegmentBytes: 256 * 1024 * 1024,
  maxSegmentMs: 10 * 60 * 1000,
  maxNameLength: 256,
  maxPeaks: 64,
} as const;

/** One segment of a rendition. */
export interface SegmentEntry {
  /** Position in the rendition since the stream started (0-based, contiguous). */
  seq: number;
  /** Duration in milliseconds. */
  duration: number;
  /** BLAKE3-256 of the segment bytes (its blob id), lowercase hex. */
  blake3: string;
  /** SHA-256 of the segment bytes, lowercase hex. */
  sha256: string;
  /** Bytes. */
  size: number;
  /** True when timestamps restart at this segment (publisher reconnected): HLS EXT-X-DISCONTINUITY. */
  disc: boolean;
}

/** "node K may sign manifests for stream S until T", signed by the creator. Times are Unix seconds. */
export interface Delegation {
  type: "STREAM_DELEGATION";
  v: 1;
  /** Stream id, or "*" for every stream of this creator. */
  stream: string;
  creator: string;
  node: string;
  notBefore: number;
  notAfter: number;
}

export interface SignedDelegation {
  statement: Delegation;
  signature: string;
}

/** The signed state of one rendition's manifest. */
export interface ManifestBody {
  type: "MANIFEST_ROOT";
  v: 1;
  stream: string;
  rendition: string;
  creator: string;
  node: string;
  /** Increments with every signed state. */
  version: number;
  /** Unix milliseconds when the node signed this state. */
  issuedAt: number;
  /** Segments before the window. */
  base: number;
  /** Builder state after `base` leaves (hex). */
  peaks: string[];
  /** Segments since the start: base + segments.length. */
  count: number;
  /** Merkle root of all `count` leaves (hex). */
  root: string;
  /** HLS target duration, whole seconds. */
  targetDuration: number;
  /** The stream ended (HLS EXT-X-ENDLIST). */
  ended: boolean;
  segments: SegmentEntry[];
}

/** manifest.json: the manifest, the node's signature and the creator's delegation. */
export interface SignedManifest {
  manifest: ManifestBody;
  signature: string;
  delegation: SignedDelegation;
}

/** STREAM_ANNOUNCE: what the stream is and where to get it, signed by the creator. */
export interface AnnounceBody {
  type: "STREAM_ANNOUNCE";
  v: 1;
  stream: string;
  title: string;
  creator: string;
  renditions: { name: string; playlist: string; manifest: string }[];
  origins: string[];
  trackers: string[];
  issuedAt: number;
}

export interface SignedAnnounce {
  announce: AnnounceBody;
  signature: string;
}

/** Leaf input of a segment: BLAKE3(JCS(entry)). */
export function segmentLeaf(e: SegmentEntry): Uint8Array {
  return blake3(canonicalBytes(e));
}

/** Append-only Merkle frontier (same tree as the hashing core's MerkleBuilder), restartable from saved peaks. */
export class MerkleFrontier {
  #peaks: Uint8Array[];
  #size: number;

  /** Starts from `peaks` after `size` leaves (default: empty). */
  constructor(size = 0, peaks: Uint8Array[] = []) {
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError("size must be a non-negative safe integer");
    if (peaks.length !== popcount(size)) throw new RangeError(`a frontier of ${size} leaves has ${popcount(size)} peaks, got ${peaks.length}`);
    for (const p of peaks) if (!(p instanceof Uint8Array) || p.length !== 32) throw new RangeError("peaks must be 32-byte hashes");
    this.#size = size;
    this.#peaks = peaks.map((p) => p.slice());
  }

  get size(): number {
    return this.#size;
  }

  /** Appends a 32-byte leaf input. */
  append(leaf: Uint8Array): void {
    let h = merkleLeafHash(leaf);
    for (let n = this.#size; n & 1; n = Math.floor(n / 2)) h = merkleNodeHash(this.#peaks.pop()!, h);
    this.#peaks.push(h);
    this.#size++;
  }

  /** Root of all leaves so far (equals merkleRoot of them). */
  root(): Uint8Array {
    if (this.#size === 0) return merkleRootEmpty();
    let r = this.#peaks[this.#peaks.length - 1]!;
    for (let i = this.#peaks.length - 2; i >= 0; i--) r = merkleNodeHash(this.#peaks[i]!, r);
    return r.slice();
  }

  /** Copies of the peaks, largest subtree first. */
  peaks(): Uint8Array[] {
    return this.#peaks.map((p) => p.slice());
  }

  clone(): MerkleFrontier {
    return new MerkleFrontier(this.#size, this.#peaks);
  }
}

function merkleRootEmpty(): Uint8Array {
  return merkleRoot([]);
}

/** Number of set bits of a non-negative safe integer. */
export function popcount(n: number): number {
  let c = 0;
  for (let x = n; x > 0; x = Math.floor(x / 2)) c += x % 2;
  return c;
}

/** Signs a delegation with the creator's secret seed. */
export function signDelegation(d: Delegation, creatorSecret: Uint8Array): SignedDelegation {
  checkDelegationShape(d);
  return { statement: d, signature: signStatement("STREAM_DELEGATION", d, creatorSecret) };
}

/** Signs a manifest body with the node's secret seed. */
export function signManifest(body: ManifestBody, delegation: SignedDelegation, nodeSecret: Uint8Array): SignedManifest {
  return { manifest: body, signature: signStatement("MANIFEST_ROOT", body, nodeSecret), delegation };
}

/** Signs an announce with the creator's secret seed. */
export function signAnnounce(a: AnnounceBody, creatorSecret: Uint8Array): SignedAnnounce {
  return { announce: a, signature: signStatement("STREAM_ANNOUNCE", a, creatorSecret) };
}

/** A structural problem in a statement; `code` names it for the verifier's report. */
export class StatementError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "StatementError";
    this.code = code;
  }
}

const isInt = (v: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): v is number =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= min && v <= max;
const isName = (v: unknown): v is string => typeof v === "string" && v.length > 0 && v.length <= MANIFEST_LIMITS.maxNameLength;

/** Checks a delegation's fields (not its signature). */
export function checkDelegationShape(d: unknown): asserts d is Delegation {
  const o = d as Record<string, unknown>;
  if (typeof o !== "object" || o === null) throw new StatementError("delegation-structure", "delegation is not an object");
  if (o.type !== "STREAM_DELEGATION" || o.v !== 1) throw new StatementError("delegation-structure", "not a STREAM_DELEGATION v1");
  if (!isName(o.stream)) throw new StatementError("delegation-structure", "delegation stream must be 1-256 chars");
  if (!isHex32(o.creator) || !isHex32(o.node)) throw new StatementError("delegation-structure", "delegation creator/node must be 64-hex public keys");
  if (!isInt(o.notBefore) || !isInt(o.notAfter) || (o.notAfter as number) <= (o.notBefore as number)) {
    throw new StatementError("delegation-structure", "delegation window must be integers with notBefore < notAfter");
  }
  const extra = Object.keys(o).filter((k) => !["type", "v", "stream", "creator", "node", "notBefore", "notAfter"].includes(k));
  if (extra.length) throw new StatementError("delegation-structure", `unknown delegation fields: ${extra.join(", ")}`);
}

/** Checks a manifest body's structure, sequence and Merkle root; throws StatementError naming the first problem. */
export function checkManifestBody(m: unknown): asserts m is ManifestBody {
  const o = m as Record<string, unknown>;
  if (typeof o !== "object" || o === null) throw new StatementError("manifest-structure", "manifest is not an object");
  if (o.type !== "MANIFEST_ROOT" || o.v !== 1) throw new StatementError("manifest-structure", "not a MANIFEST_ROOT v1");
  if (!isName(o.stream) || !isName(o.rendition)) throw new StatementError("manifest-structure", "stream/rendition must be 1-256 chars");
  if (!isHex32(o.creator) || !isHex32(o.node)) throw new StatementError("manifest-structure", "creator/node must be 64-hex public keys");
  for (const k of ["version", "issuedAt", "base", "count", "targetDuration"]) {
    if (!isInt(o[k])) throw new StatementError("manifest-structure", `${k} must be a non-negative integer`);
  }
  if (typeof o.ended !== "boolean") throw new StatementError("manifest-structure", "ended must be a boolean");
  if (!Array.isArray(o.segments) || o.segments.length > MANIFEST_LIMITS.maxSegments) {
    throw new StatementError("manifest-structure", `segments must be a list of at most ${MANIFEST_LIMITS.maxSegments}`);
  }
  if (!Array.isArray(o.peaks) || o.peaks.length > MANIFEST_LIMITS.maxPeaks || !o.peaks.every(isHex32)) {
    throw new StatementError("manifest-structure", "peaks must be a list of 64-hex hashes");
  }
  const base = o.base as number;
  if ((o.count as number) !== base + o.segments.length) {
    throw new StatementError("manifest-structure", `count ${o.count} is not base ${base} + ${o.segments.length} segments`);
  }
  if (o.peaks.length !== popcount(base)) throw new StatementError("manifest-structure", `base ${base} needs ${popcount(base)} peaks, got ${o.peaks.length}`);
  if (!isHex32(o.root)) throw new StatementError("manifest-structure", "root must be a 64-hex hash");
  let maxDur = 0;
  o.segments.forEach((s: unknown, i: number) => {
    const e = s as Record<string, unknown>;
    const at = `segment ${base + i}`;
    if (typeof e !== "object" || e === null) throw new StatementError("manifest-structure", `${at} is not an object`);
    if (e.seq !== base + i) throw new StatementError("manifest-sequence", `${at}: seq is ${String(e.seq)}, expected ${base + i}`);
    if (!isInt(e.duration, 1, MANIFEST_LIMITS.maxSegmentMs)) throw new StatementError("manifest-structure", `${at}: duration out of range`);
    if (!isInt(e.size, 1, MANIFEST_LIMITS.maxSegmentBytes)) throw new StatementError("manifest-structure", `${at}: size out of range`);
    if (!isHex32(e.blake3) || !isHex32(e.sha256)) throw new StatementError("manifest-structure", `${at}: hashes must be 64 hex chars`);
    if (typeof e.disc !== "boolean") throw new StatementError("manifest-structure", `${at}: disc must be a boolean`);
    const extra = Object.keys(e).filter((k) => !["seq", "duration", "blake3", "sha256", "size", "disc"].includes(k));
    if (extra.length) throw new StatementError("manifest-structure", `${at}: unknown fields ${extra.join(", ")}`);
    maxDur = Math.max(maxDur, e.duration as number);
  });
  // RFC 8216: each EXTINF rounded to the nearest integer must not exceed the target duration.
  if ((o.targetDuration as number) < Math.round(maxDur / 1000)) {
    throw new StatementError("manifest-structure", `targetDuration ${o.targetDuration} is below the longest segment (${maxDur} ms)`);
  }
  const f = new MerkleFrontier(base, (o.peaks as string[]).map((p, i) => bytesOf(p, 32, `peak ${i}`)));
  for (const e of o.segments as SegmentEntry[]) f.append(segmentLeaf(e));
  const root = hexOf(f.root());
  if (root !== o.root) throw new StatementError("merkle-root", `Merkle root ${o.root} does not match the entries (computed ${root})`);
}

/** Verifies a delegation's signature and fields against the expected creator. */
export function verifyDelegation(d: SignedDelegation, creator: string): void {
  checkDelegationShape(d?.statement);
  if (d.statement.creator !== creator) throw new StatementError("delegation-creator", `delegation is by ${d.statement.creator}, not the creator ${creator}`);
  if (!verifyStatement("STREAM_DELEGATION", d.statement, d.signature, creator)) {
    throw new StatementError("delegation-signature", "delegation signature does not verify with the creator key");
  }
}

/**
 * Verifies manifest.json against the creator key: delegation (signature, creator, stream, window covering issuedAt),
 * node signature, structure, sequence and Merkle root. Throws StatementError naming the first failure.
 */
export function verifySignedManifest(sm: SignedManifest, creator: string): void {
  if (typeof sm !== "object" || sm === null) throw new StatementError("manifest-structure", "manifest.json is not an object");
  verifyDelegation(sm.delegation, creator);
  checkManifestBody(sm.manifest);
  const m = sm.manifest;
  const d = sm.delegation.statement;
  if (m.creator !== creator) throw new StatementError("manifest-creator", `manifest names creator ${m.creator}, not ${creator}`);
  if (d.stream !== "*" && d.stream !== m.stream) throw new StatementError("delegation-stream", `delegation covers stream '${d.stream}', not '${m.stream}'`);
  if (d.node !== m.node) throw new StatementError("delegation-node", `delegation names node ${d.node}, manifest is by ${m.node}`);
  const t = Math.floor(m.issuedAt / 1000);
  if (t < d.notBefore || t >= d.notAfter) {
    throw new StatementError("delegation-window", `manifest signed at ${new Date(m.issuedAt).toISOString()} is outside the delegation window ${new Date(d.notBefore * 1000).toISOString()} - ${new Date(d.notAfter * 1000).toISOString()}`);
  }
  if (!verifyStatement("MANIFEST_ROOT", m, sm.signature, m.node)) throw new StatementError("manifest-signature", "manifest signature does not verify with the delegated node key");
}

/** Verifies announce.json against the creator key. */
export function verifySignedAnnounce(sa: SignedAnnounce, creator: string): void {
  const a = sa?.announce as unknown as Record<string, unknown>;
  if (typeof a !== "object" || a === null || a.type !== "STREAM_ANNOUNCE" || a.v !== 1) throw new StatementError("announce-structure", "not a STREAM_ANNOUNCE v1");
  if (!isName(a.stream) || typeof a.title !== "string" || !isHex32(a.creator) || !isInt(a.issuedAt)) {
    throw new StatementError("announce-structure", "announce stream/title/creator/issuedAt malformed");
  }
  if (!Array.isArray(a.renditions) || a.renditions.length === 0 || a.renditions.length > 16) throw new StatementError("announce-structure", "announce needs 1-16 renditions");
  for (const k of ["origins", "trackers"]) {
    const l = a[k];
    if (!Array.isArray(l) || l.length > 64 || !l.every((x) => typeof x === "string" && x.length <= 2048)) throw new StatementError("announce-structure", `announce ${k} malformed`);
  }
  if (a.creator !== creator) throw new StatementError("announce-creator", `announce is by ${String(a.creator)}, not the creator ${creator}`);
  if (!verifyStatement("STREAM_ANNOUNCE", a, sa.signature, creator)) throw new StatementError("announce-signature", "announce signature does not verify with the creator key");
}
