// Service receipts: a viewer signs one receipt per segment it played (stream, segment BLAKE3, serving node, bytes,
// time to first byte, total time, the viewer's clock); serving nodes seal receipts into Merkle batches they sign.
// Receipts and batch headers are signed over domain-separated RFC 8785 canonical JSON (sign.ts): SERVICE_RECEIPT and
// RECEIPT_BATCH. Leaf of a receipt = BLAKE3(JCS({receipt, signature})); the tree is the hashing core's Merkle tree.
// A batch file holds the header, the node's signature, the receipts and one inclusion proof per receipt.
import { canonicalBytes } from "../stream/canonical.ts";
import { blake3, fromHex, isBlobId, MerkleBuilder, MerkleTree, toHex, verifyMerkleProof } from "../wasm/index.ts";
import { signStatement, verifyStatement } from "./sign.ts";

/** Bounds on a receipt's fields. */
export const RECEIPT_LIMITS = {
  maxStream: 256,
  maxBytes: 256 * 1024 * 1024,
  /** Ten minutes, in microseconds. */
  maxMicros: 600_000_000,
  maxSeq: Number.MAX_SAFE_INTEGER,
} as const;

/** What a viewer signs for one segment. */
export interface ServiceReceipt {
  type: "SERVICE_RECEIPT";
  v: 1;
  /** Live path, e.g. "live/cam". */
  stream: string;
  /** Segment sequence number in the stream's manifest. */
  seq: number;
  /** Segment BLAKE3 (hex). */
  segment: string;
  /** Node id of the node that served the segment. */
  node: string;
  /** The viewer's Ed25519 public key (hex). */
  viewer: string;
  /** Segment bytes received (and verified). */
  bytes: number;
  /** Time to first byte of the segment body, microseconds. */
  ttfb_us: number;
  /** Time until the last byte, microseconds. */
  total_us: number;
  /** The viewer's clock when it sent the request, Unix ms. */
  viewer_ms: number;
}

/** A receipt with the viewer's signature (hex). */
export interface SignedReceipt {
  receipt: ServiceReceipt;
  signature: string;
}

/** A sealed batch's header. */
export interface BatchHeader {
  type: "RECEIPT_BATCH";
  v: 1;
  node: string;
  id: number;
  created_ms: number;
  count: number;
  /** Merkle root of the leaves (hex). */
  root: string;
  /** Root of the previous batch (hex), "" for the first: batches form a chain. */
  prev: string;
}

/** A batch as stored and as a batch file. */
export interface BatchFile {
  header: BatchHeader;
  /** The node's signature over the RECEIPT_BATCH statement (hex). */
  signature: string;
  receipts: SignedReceipt[];
  /** Inclusion proof of receipt i (hex siblings, bottom level first); present in batch files. */
  proofs?: { index: number; siblings: string[] }[];
}

/** A receipt or batch that does not hold. */
export class ReceiptError extends Error {
  readonly reason: "malformed" | "forged" | "bad-batch" | "bad-proof";
  constructor(reason: ReceiptError["reason"], message: string, options?: { cause?: unknown }) {
    super(`${reason}: ${message}`, options);
    this.name = "ReceiptError";
    this.reason = reason;
  }
}

const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-f]{128}$/;
const int = (v: unknown, max: number) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0 && v <= max;

/** Throws ReceiptError("malformed") unless `r` is a well-formed receipt (exact fields, bounded values). */
export function checkReceipt(r: unknown): asserts r is ServiceReceipt {
  const o = r as Record<string, unknown>;
  if (typeof r !== "object" || r === null || Array.isArray(r)) throw new ReceiptError("malformed", "a receipt is a JSON object");
  const keys = ["type", "v", "stream", "seq", "segment", "node", "viewer", "bytes", "ttfb_us", "total_us", "viewer_ms"];
  const extra = Object.keys(o).filter((k) => !keys.includes(k));
  if (extra.length) throw new ReceiptError("malformed", `unknown receipt field ${extra[0]!.slice(0, 40)}`);
  if (o.type !== "SERVICE_RECEIPT" || o.v !== 1) throw new ReceiptError("malformed", 'type must be "SERVICE_RECEIPT" and v 1');
  if (typeof o.stream !== "string" || o.stream.length === 0 || o.stream.length > RECEIPT_LIMITS.maxStream) throw new ReceiptError("malformed", "stream must be a path name");
  if (!int(o.seq, RECEIPT_LIMITS.maxSeq)) throw new ReceiptError("malformed", "seq must be a non-negative integer");
  if (!isBlobId(o.segment)) throw new ReceiptError("malformed", "segment must be a BLAKE3 hash (64 lowercase hex)");
  if (typeof o.node !== "string" || !HEX64.test(o.node)) throw new ReceiptError("malformed", "node must be a node id (64 lowercase hex)");
  if (typeof o.viewer !== "string" || !HEX64.test(o.viewer)) throw new ReceiptError("malformed", "viewer must be an Ed25519 public key (64 lowercase hex)");
  if (!int(o.bytes, RECEIPT_LIMITS.maxBytes)) throw new ReceiptError("malformed", `bytes must be 0..${RECEIPT_LIMITS.maxBytes}`);
  if (!int(o.ttfb_us, RECEIPT_LIMITS.maxMicros) || !int(o.total_us, RECEIPT_LIMITS.maxMicros)) throw new ReceiptError("malformed", "ttfb_us and total_us must be 0..600000000");
  if ((o.ttfb_us as number) > (o.total_us as number)) throw new ReceiptError("malformed", "ttfb_us cannot exceed total_us");
  if (!int(o.viewer_ms, 8.64e15)) throw new ReceiptError("malformed", "viewer_ms must be Unix milliseconds");
}

/** Signs a receipt with the viewer's secret seed (its public key must be `receipt.viewer`). */
export function signReceipt(receipt: ServiceReceipt, viewerSecret: Uint8Array): SignedReceipt {
  checkReceipt(receipt);
  return { receipt, signature: toHex(signStatement("SERVICE_RECEIPT", receipt, viewerSecret)) };
}

/** Checks shape and viewer signature of a signed receipt; throws ReceiptError (malformed, forged). */
export function verifyReceipt(s: unknown): asserts s is SignedReceipt {
  const o = s as Record<string, unknown>;
  if (typeof s !== "object" || s === null || Array.isArray(s)) throw new ReceiptError("malformed", 'a signed receipt is {"receipt": {...}, "signature": HEX}');
  const extra = Object.keys(o).filter((k) => k !== "receipt" && k !== "signature");
  if (extra.length) throw new ReceiptError("malformed", `unknown field ${extra[0]!.slice(0, 40)}`);
  checkReceipt(o.receipt);
  if (typeof o.signature !== "string" || !HEX128.test(o.signature)) throw new ReceiptError("malformed", "signature must be 128 lowercase hex characters");
  if (!verifyStatement("SERVICE_RECEIPT", o.receipt, fromHex(o.signature), fromHex(o.receipt.viewer))) {
    throw new ReceiptError("forged", "the signature is not the viewer's over this receipt");
  }
}

/** Leaf of a signed receipt: BLAKE3(JCS({receipt, signature})). */
export function receiptLeaf(s: SignedReceipt): Uint8Array {
  return blake3(canonicalBytes({ receipt: s.receipt, signature: s.signature }));
}

/** Seals receipts into a signed batch (root through the append-only MerkleBuilder). */
export function sealBatch(node: string, secret: Uint8Array, id: number, prev: string, receipts: SignedReceipt[], createdMs: number): BatchFile {
  const b = new MerkleBuilder();
  for (const r of receipts) b.append(receiptLeaf(r));
  const header: BatchHeader = { type: "RECEIPT_BATCH", v: 1, node, id, created_ms: createdMs, count: receipts.length, root: toHex(b.root()), prev };
  return { header, signature: toHex(signStatement("RECEIPT_BATCH", header, secret)), receipts };
}

/** The batch file of a stored batch: the same with one inclusion proof per receipt. */
export function withProofs(batch: BatchFile): BatchFile {
  const tree = new MerkleTree(batch.receipts.map(receiptLeaf));
  return { ...batch, proofs: batch.receipts.map((_, i) => ({ index: i, siblings: tree.proof(i).siblings.map(toHex) })) };
}

/** Inclusion proof of receipt `index` in a batch. */
export function receiptProof(batch: BatchFile, index: number): { leaf: string; siblings: string[] } {
  const leaves = batch.receipts.map(receiptLeaf);
  return { leaf: toHex(leaves[index]!), siblings: new MerkleTree(leaves).proof(index).siblings.map(toHex) };
}

/**
 * Verifies a batch file: the header's shape and the node's signature, every receipt's viewer signature and that it
 * names the batch's node, and every inclusion proof against the root. Throws ReceiptError naming the first failure.
 */
export function verifyBatchFile(doc: unknown): { count: number; node: string; root: string } {
  const d = doc as BatchFile;
  if (typeof d !== "object" || d === null || typeof d.header !== "object" || d.header === null || !Array.isArray(d.receipts)) {
    throw new ReceiptError("bad-batch", "a batch file has header, signature, receipts and proofs");
  }
  const h = d.header;
  if (h.type !== "RECEIPT_BATCH" || h.v !== 1 || typeof h.node !== "string" || !HEX64.test(h.node) || !int(h.id, RECEIPT_LIMITS.maxSeq) || !int(h.created_ms, 8.64e15)
    || !int(h.count, 1 << 20) || typeof h.root !== "string" || !HEX64.test(h.root) || typeof h.prev !== "string" || !(h.prev === "" || HEX64.test(h.prev))) {
    throw new ReceiptError("bad-batch", "the header is not a RECEIPT_BATCH header");
  }
  if (typeof d.signature !== "string" || !HEX128.test(d.signature) || !verifyStatement("RECEIPT_BATCH", h, fromHex(d.signature), fromHex(h.node))) {
    throw new ReceiptError("bad-batch", `the header is not signed by node ${h.node}`);
  }
  if (d.receipts.length !== h.count) throw new ReceiptError("bad-batch", `the header counts ${h.count} receipts, the file holds ${d.receipts.length}`);
  if (!Array.isArray(d.proofs) || d.proofs.length !== h.count) throw new ReceiptError("bad-proof", "the file needs one inclusion proof per receipt");
  const root = fromHex(h.root);
  d.receipts.forEach((r, i) => {
    try {
      verifyReceipt(r);
    } catch (err) {
      throw new ReceiptError((err as ReceiptError).reason ?? "malformed", `receipt ${i}: ${(err as Error).message}`, { cause: err });
    }
    if (r.receipt.node !== h.node) throw new ReceiptError("bad-batch", `receipt ${i} names node ${r.receipt.node}, the batch is node ${h.node}'s`);
    const p = d.proofs![i]!;
    if (typeof p !== "object" || p === null || p.index !== i || !Array.isArray(p.siblings) || p.siblings.some((x) => typeof x !== "string" || !HEX64.test(x))) {
      throw new ReceiptError("bad-proof", `proof ${i} is malformed`);
    }
    if (!verifyMerkleProof(root, receiptLeaf(r), { index: i, size: h.count, siblings: p.siblings.map(fromHex) })) {
      throw new ReceiptError("bad-proof", `receipt ${i} is not included under the root`);
    }
  });
  return { count: h.count, node: h.node, root: h.root };
}
