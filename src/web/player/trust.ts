// The player's trust in a stream: announce and manifest verified against the creator key (stream/verify.ts), live
// manifests re-fetched and re-verified, and every segment checked against a verified manifest entry before use.
import { verifySignedManifest, type SegmentEntry, type SignedAnnounce, type SignedManifest } from "../../stream/manifest.ts";
import { checkSegment, verifyStreamDocuments, type SegmentHash } from "../../stream/verify.ts";
import { isHex32 } from "../../stream/signing.ts";

/** Why a segment or a manifest was refused. */
export interface Refusal {
  code: string;
  message: string;
}

/** Entries kept from past manifests, so that a segment that just left the window still verifies. */
const MAX_ENTRIES = 4096;
/** Largest announce/manifest accepted. */
const MAX_DOC = 4 * 1024 * 1024;
/** Least time between two manifest fetches that a segment check starts: what a peer naming unknown hashes can cause. */
const MIN_REFRESH_MS = 250;

/** The BLAKE3 a segment URL names (".../<64 hex>.ts"), or null. */
export function segmentHashOf(url: string): string | null {
  let path: string;
  try {
    path = new URL(url, "http://x.invalid").pathname;
  } catch {
    return null;
  }
  const m = /\/([0-9a-f]{64})\.ts$/.exec(path);
  return m ? m[1]! : null;
}

/** Verified state of one stream. */
export class StreamTrust {
  readonly base: URL;
  readonly hash: SegmentHash;
  #creator: string;
  #pinned: boolean;
  #announce: SignedAnnounce | null = null;
  #manifest: SignedManifest | null = null;
  readonly #entries = new Map<string, SegmentEntry>();
  #refreshing: Promise<void> | null = null;
  /** When the newest manifest fetch was sent (0: none yet). */
  #refreshSent = 0;
  /** The last refused manifest refresh, shown by the stats panel. */
  lastRefusal: Refusal | null = null;
  /** Called after every newly verified manifest. */
  onManifest: (m: SignedManifest) => void = () => {};

  /** `creator`: the pinned creator key (from the page URL), or null to take the announce's (shown as unpinned). */
  constructor(base: URL, creator: string | null, hash: SegmentHash = "blake3") {
    if (creator !== null && !isHex32(creator)) throw new RangeError("creator must be a 64-hex Ed25519 public key");
    this.base = base;
    this.#creator = creator ?? "";
    this.#pinned = creator !== null;
    this.hash = hash;
  }

  get creator(): string {
    return this.#creator;
  }
  /** True when the creator key came from the page URL, not from the announce itself. */
  get pinned(): boolean {
    return this.#pinned;
  }
  get announce(): SignedAnnounce | null {
    return this.#announce;
  }
  get manifest(): SignedManifest | null {
    return this.#manifest;
  }

  /** Verifies announce, manifest and playlist; the refusal names the first failure. */
  async start(): Promise<Refusal | null> {
    if (!this.#pinned) {
      const r = await fetch(new URL("announce.json", this.base), { cache: "no-store" }).catch(() => null);
      const a = r?.ok ? ((await r.json().catch(() => null)) as SignedAnnounce | null) : null;
      const c = a?.announce?.creator;
      if (!isHex32(c)) return { code: "announce-fetch", message: `no usable announce.json at ${this.base.href}` };
      this.#creator = c;
    }
    const v = await verifyStreamDocuments(this.base.href, { creator: this.#creator, segments: 0, maxDocumentBytes: MAX_DOC });
    if (!v.report.ok || !v.manifest || !v.announce) return v.report.failure ?? { code: "bad-input", message: "verification failed" };
    this.#announce = v.announce;
    this.#accept(v.manifest);
    return null;
  }

  /** Re-fetches manifest.json and accepts it only if it verifies, is for this stream and is not older. */
  refresh(): Promise<void> {
    if (!this.#refreshing) {
      this.#refreshSent = Date.now();
      this.#refreshing = this.#refresh().finally(() => {
        this.#refreshing = null;
      });
    }
    return this.#refreshing;
  }

  /**
   * Waits for a manifest fetched no earlier than `since`: it joins a fetch in flight, and starts one at most every
   * MIN_REFRESH_MS. A segment listed by a playlist newer than the last manifest fetch is then known, not refused.
   */
  async #fetchedSince(since: number): Promise<void> {
    for (let i = 0; i < 3 && this.#refreshSent < since; i++) {
      if (this.#refreshing) {
        await this.#refreshing;
        continue;
      }
      const wait = this.#refreshSent + MIN_REFRESH_MS - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (this.#refreshSent < since) await this.refresh();
    }
  }

  async #refresh(): Promise<void> {
    const r = await fetch(new URL("manifest.json", this.base), { cache: "no-store" }).catch(() => null);
    if (!r?.ok) {
      this.lastRefusal = { code: "manifest-fetch", message: `manifest.json answered ${r ? `HTTP ${r.status}` : "nothing"}` };
      return;
    }
    const len = Number(r.headers.get("content-length") ?? "0");
    if (len > MAX_DOC) {
      this.lastRefusal = { code: "manifest-fetch", message: `manifest.json is ${len} bytes` };
      return;
    }
    let sm: SignedManifest;
    try {
      sm = JSON.parse(await r.text()) as SignedManifest;
      verifySignedManifest(sm, this.#creator);
    } catch (e) {
      const code = (e as { code?: string }).code ?? "manifest-structure";
      this.lastRefusal = { code, message: `refreshed manifest refused: ${(e as Error).message}` };
      console.warn(`slowdrip player: ${this.lastRefusal.message}`);
      return;
    }
    const cur = this.#manifest!.manifest;
    if (sm.manifest.stream !== cur.stream) {
      this.lastRefusal = { code: "stream-mismatch", message: `refreshed manifest is for '${sm.manifest.stream}'` };
      return;
    }
    if (sm.manifest.version < cur.version) return;
    this.#accept(sm);
  }

  #accept(sm: SignedManifest): void {
    this.#manifest = sm;
    for (const e of sm.manifest.segments) {
      this.#entries.delete(e.blake3);
      this.#entries.set(e.blake3, e);
    }
    while (this.#entries.size > MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!);
    this.onManifest(sm);
  }

  /** The verified entry a segment URL names, if any manifest listed it. */
  entryFor(url: string): SegmentEntry | undefined {
    const h = segmentHashOf(url);
    return h ? this.#entries.get(h) : undefined;
  }

  /**
   * Checks segment bytes fetched from `url` (a peer's or the origin's): the URL must name a segment of a verified
   * manifest (if it is not known yet, a manifest fetched after the check began is awaited first) and the bytes must
   * match its size and hash.
   */
  async check(url: string, bytes: Uint8Array): Promise<{ entry: SegmentEntry } | Refusal> {
    if (segmentHashOf(url) === null) return { code: "segment-unknown", message: `${url.slice(0, 120)} does not name a segment by its BLAKE3` };
    let e = this.entryFor(url);
    if (!e) {
      await this.#fetchedSince(Date.now());
      e = this.entryFor(url);
    }
    if (!e) return { code: "segment-unknown", message: `segment ${segmentHashOf(url)} is in no verified manifest` };
    const bad = await checkSegment(e, bytes, this.hash);
    return bad ?? { entry: e };
  }
}
