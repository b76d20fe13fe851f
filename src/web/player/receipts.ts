// Service receipts from the browser: one signed SERVICE_RECEIPT per segment the origin served and the player verified,
// posted to <stream>/receipts. The viewer key lives in sessionStorage; timings come from the Resource Timing entries.
import * as ed from "@noble/ed25519";
import { canonicalBytes } from "../../stream/canonical.ts";
import type { SegmentEntry } from "../../stream/manifest.ts";
import { bytesOf, hexOf } from "../../stream/signing.ts";

const KEY = "slowdrip.viewer-key";
const MAX_QUEUE = 32;

/** The signed bytes of a receipt: utf8("slowdrip/v1/SERVICE_RECEIPT\n") || RFC 8785 JCS(receipt) (docs/proofs.md). */
function receiptBytes(receipt: object): Uint8Array {
  const head = new TextEncoder().encode("slowdrip/v1/SERVICE_RECEIPT\n");
  const body = canonicalBytes(receipt);
  const out = new Uint8Array(head.length + body.length);
  out.set(head, 0);
  out.set(body, head.length);
  return out;
}

/** This tab's viewer key (made on first use, kept for the session only). */
function viewerSecret(): Uint8Array {
  const have = sessionStorage.getItem(KEY);
  if (have && /^[0-9a-f]{64}$/.test(have)) return bytesOf(have, 32, "viewer key");
  const s = ed.utils.randomSecretKey();
  sessionStorage.setItem(KEY, hexOf(s));
  return s;
}

/** Counts of posted receipts by the node's answer. */
export interface ReceiptCounts {
  accepted: number;
  refused: number;
  lastRefusal: string;
}

/** Signs and posts receipts for one stream, one at a time, dropping receipts when the node falls far behind. */
export class ReceiptPoster {
  readonly counts: ReceiptCounts = { accepted: 0, refused: 0, lastRefusal: "" };
  readonly #url: URL;
  readonly #stream: string;
  readonly #node: () => string;
  readonly #secret: Uint8Array;
  readonly #viewer: string;
  readonly #sent = new Set<string>();
  #queue: Promise<void> = Promise.resolve();
  #pending = 0;

  constructor(base: URL, stream: string, node: () => string) {
    this.#url = new URL("receipts", base);
    this.#stream = stream;
    this.#node = node;
    this.#secret = viewerSecret();
    this.#viewer = hexOf(ed.getPublicKey(this.#secret));
  }

  /** Records that the origin served `entry` at `url`: one receipt per segment, signed and posted in order. */
  record(url: string, entry: SegmentEntry): void {
    if (this.#sent.has(entry.blake3) || this.#pending >= MAX_QUEUE) return;
    this.#sent.add(entry.blake3);
    if (this.#sent.size > 4096) this.#sent.delete(this.#sent.values().next().value!);
    const t = performance.getEntriesByName(new URL(url, location.href).href).at(-1) as PerformanceResourceTiming | undefined;
    const startMs = t ? performance.timeOrigin + t.startTime : Date.now();
    const ttfb = t ? Math.max(0, Math.round((t.responseStart - t.startTime) * 1000)) : 0;
    const total = t ? Math.max(ttfb, Math.round((t.responseEnd - t.startTime) * 1000)) : ttfb;
    const receipt = {
      type: "SERVICE_RECEIPT",
      v: 1,
      stream: this.#stream,
      seq: entry.seq,
      segment: entry.blake3,
      node: this.#node(),
      viewer: this.#viewer,
      bytes: entry.size,
      ttfb_us: Math.min(ttfb, 600_000_000),
      total_us: Math.min(total, 600_000_000),
      viewer_ms: Math.round(startMs),
    };
    const signed = { receipt, signature: hexOf(ed.sign(receiptBytes(receipt), this.#secret)) };
    this.#pending++;
    this.#queue = this.#queue.then(async () => {
      try {
        const r = await fetch(this.#url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(signed) });
        if (r.status === 201) this.counts.accepted++;
        else {
          this.counts.refused++;
          this.counts.lastRefusal = r.headers.get("x-reason") ?? `HTTP ${r.status}`;
        }
      } catch {
        this.counts.refused++;
        this.counts.lastRefusal = "network";
      } finally {
        this.#pending--;
      }
    });
  }
}
