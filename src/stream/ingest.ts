// Segment ingest: hash (BLAKE3 via the store, SHA-256 via WebCrypto), store and pin, append to the rendition's manifest,
// sign MANIFEST_ROOT under the creator's delegation, keep a live window (unpinning what leaves it), persist.
import { EventEmitter } from "node:events";
import {
  MANIFEST_LIMITS,
  MerkleFrontier,
  segmentLeaf,
  signAnnounce,
  signManifest,
  type AnnounceBody,
  type ManifestBody,
  type SegmentEntry,
  type SignedAnnounce,
  type SignedDelegation,
  type SignedManifest,
} from "./manifest.ts";
import type { ManifestPersistence, PersistedRendition } from "./persist.ts";
import { bytesOf, hexOf, publicKeyHex } from "./signing.ts";

/** The narrow view of the blob store the ingest needs (BlobStore satisfies it). */
export interface SegmentStore {
  import(
    source: Iterable<Uint8Array>,
    options?: { pin?: boolean; source?: string; tags?: string[]; records?: (blob: { hash: string; size: number }) => Promise<Readonly<Record<string, unknown>>> },
  ): Promise<{ hash: string; size: number; timing?: { hashMs: number; commitMs: number } }>;
  pin(hash: string): Promise<unknown>;
  unpin(hash: string): Promise<unknown>;
  stat(hash: string): Promise<{ tags: string[] }>;
}

/** Emitted ("sealed") after a segment's manifest state is signed and saved. */
export interface SegmentSealed {
  stream: string;
  rendition: string;
  entry: SegmentEntry;
  version: number;
  root: string;
  /** Unix ms when the signed manifest became available. */
  at: number;
  /** Where the ingest's time went (ms): BLAKE3 + outboard and SHA-256, the store commit, signing, saving the manifest. */
  timing: IngestTiming;
}

/** Stage durations of one segment's ingest, in ms. */
export interface IngestTiming {
  /** Set by the segment intake: the notice's wait for reordering, and reading the file. */
  waitMs?: number;
  readMs?: number;
  hashMs: number;
  commitMs: number;
  signMs: number;
  saveMs: number;
}

export interface IngestOptions {
  store: SegmentStore;
  persistence: ManifestPersistence;
  /** The node's 32-byte secret seed (signs MANIFEST_ROOT). */
  nodeSecret: Uint8Array;
  /** The delegation for a stream (exact or "*"), or null when none is configured. */
  delegationFor: (stream: string) => SignedDelegation | null;
  /** The creator's secret when this node holds it (default setup: node key = creator); signs STREAM_ANNOUNCE. */
  creatorSecret?: Uint8Array;
  /** A creator-signed STREAM_ANNOUNCE supplied by the operator, for nodes that do not hold the creator key. */
  announceFor?: (stream: string) => SignedAnnounce | null | Promise<SignedAnnounce | null>;
  /** Segments kept in the live window. Default 12. */
  windowSegments?: number;
  /** Paths whose segments stay pinned after leaving the window (recording). */
  keepRecording?: (stream: string) => boolean;
  /** Rendition name. Default "source". */
  rendition?: string;
  /** Origins and trackers advertised in STREAM_ANNOUNCE. */
  origins?: string[];
  trackers?: string[];
  /** Largest segment accepted. Default 64 MiB. */
  maxSegmentBytes?: number;
  /** Clock (Unix ms); tests may pin it. */
  now?: () => number;
}

/** Why a segment could not be ingested. */
export class IngestError extends Error {
  readonly stream: string;
  readonly code: "too-large" | "bad-duration" | "no-delegation" | "delegation-expired" | "bad-stream";
  constructor(stream: string, code: IngestError["code"], message: string, options?: { cause?: unknown }) {
    super(`stream '${stream}': ${message}`, options);
    this.name = "IngestError";
    this.stream = stream;
    this.code = code;
  }
}

interface RenditionState {
  all: MerkleFrontier;
  windowBase: MerkleFrontier;
  window: SegmentEntry[];
  version: number;
  targetDuration: number;
  ended: boolean;
  discNext: boolean;
  signed: SignedManifest | null;
}

const STREAM_NAME = /^[A-Za-z0-9._~-][A-Za-z0-9._~\/-]{0,255}$/;

/** Turns finished segments into signed manifests. Emits "sealed" (SegmentSealed) and "error" is never emitted. */
export class StreamIngest extends EventEmitter {
  readonly #o: Required<Omit<IngestOptions, "creatorSecret" | "announceFor">> & Pick<IngestOptions, "creatorSecret" | "announceFor">;
  readonly #node: string;
  readonly #states = new Map<string, RenditionState>();
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(opts: IngestOptions) {
    super();
    if (!(opts.nodeSecret instanceof Uint8Array) || opts.nodeSecret.length !== 32) throw new TypeError("nodeSecret must be a 32-byte seed");
    const windowSegments = opts.windowSegments ?? 12;
    if (!Number.isInteger(windowSegments) || windowSegments < 1 || windowSegments > MANIFEST_LIMITS.maxSegments) {
      throw new RangeError(`windowSegments must be in 1-${MANIFEST_LIMITS.maxSegments}`);
    }
    const maxSegmentBytes = opts.maxSegmentBytes ?? 64 * 1024 * 1024;
    if (!Number.isInteger(maxSegmentBytes) || maxSegmentBytes < 1 || maxSegmentBytes > MANIFEST_LIMITS.maxSegmentBytes) {
      throw new RangeError(`maxSegmentBytes must be in 1-${MANIFEST_LIMITS.maxSegmentBytes}`);
    }
    this.#o = {
      windowSegments,
      keepRecording: () => false,
      rendition: "source",
      origins: [],
      trackers: [],
      now: () => Date.now(),
      ...opts,
      maxSegmentBytes,
    };
    this.#node = publicKeyHex(opts.nodeSecret);
  }

  /** The node's public key (hex). */
  get nodeKey(): string {
    return this.#node;
  }

  /** The rendition this ingest writes. */
  get rendition(): string {
    return this.#o.rendition;
  }

  /** Serialises work per stream so appends never interleave. */
  #serial<T>(stream: string, f: () => Promise<T>): Promise<T> {
    const prev = this.#queues.get(stream) ?? Promise.resolve();
    const next = prev.then(f, f);
    const tail = next.catch(() => undefined);
    this.#queues.set(stream, tail);
    void tail.then(() => {
      if (this.#queues.get(stream) === tail) this.#queues.delete(stream);
    });
    return next;
  }

  /**
   * The state of `stream`: in memory, else loaded from persistence. Only an ingest (`create`) makes a new one: reads of
   * names that never had a segment (anyone can ask for any name) leave nothing behind.
   */
  async #state(stream: string, create: true): Promise<RenditionState>;
  async #state(stream: string, create: false): Promise<RenditionState | null>;
  async #state(stream: string, create: boolean): Promise<RenditionState | null> {
    const have = this.#states.get(stream);
    if (have) return have;
    const saved = await this.#o.persistence.load(stream, this.#o.rendition);
    if (!saved && !create) return null;
    let st: RenditionState;
    if (saved) {
      const m = saved.signed.manifest;
      st = {
        all: new MerkleFrontier(m.count, saved.allPeaks.map((p, i) => bytesOf(p, 32, `peak ${i}`))),
        windowBase: new MerkleFrontier(m.base, m.peaks.map((p, i) => bytesOf(p, 32, `peak ${i}`))),
        window: m.segments.slice(),
        version: m.version,
        targetDuration: m.targetDuration,
        ended: m.ended,
        // Timestamps restart after a node restart too.
        discNext: true,
        signed: saved.signed,
      };
    } else {
      st = { all: new MerkleFrontier(), windowBase: new MerkleFrontier(), window: [], version: 0, targetDuration: 1, ended: false, discNext: false, signed: null };
    }
    this.#states.set(stream, st);
    return st;
  }

  #delegation(stream: string, at: number): SignedDelegation {
    const d = this.#o.delegationFor(stream);
    if (!d) throw new IngestError(stream, "no-delegation", "no delegation lets this node sign manifests for it");
    const s = d.statement;
    const t = Math.floor(at / 1000);
    if (s.node !== this.#node) throw new IngestError(stream, "no-delegation", `the delegation names node ${s.node}, this node is ${this.#node}`);
    if (t < s.notBefore || t >= s.notAfter) {
      throw new IngestError(stream, "delegation-expired", `the delegation is valid ${new Date(s.notBefore * 1000).toISOString()} - ${new Date(s.notAfter * 1000).toISOString()}`);
    }
    return d;
  }

  /** Signs the next manifest version of `st` (not yet adopted: `st.version`/`st.signed` change once it is saved). */
  #sign(stream: string, st: RenditionState): SignedManifest {
    const at = this.#o.now();
    const d = this.#delegation(stream, at);
    const body: ManifestBody = {
      type: "MANIFEST_ROOT",
      v: 1,
      stream,
      rendition: this.#o.rendition,
      creator: d.statement.creator,
      node: this.#node,
      version: st.version + 1,
      issuedAt: at,
      base: st.windowBase.size,
      peaks: st.windowBase.peaks().map(hexOf),
      count: st.all.size,
      root: hexOf(st.all.root()),
      targetDuration: st.targetDuration,
      ended: st.ended,
      segments: st.window.slice(),
    };
    return signManifest(body, d, this.#o.nodeSecret);
  }

  /** What persistence keeps of `st` once `signed` is adopted. */
  #persisted(st: RenditionState, signed: SignedManifest): PersistedRendition {
    return { signed, allPeaks: st.all.peaks().map(hexOf), discNext: st.discNext };
  }

  /** Makes `signed` the served manifest of `st` (after it is durable). */
  #adopt(st: RenditionState, signed: SignedManifest): void {
    st.version = signed.manifest.version;
    st.signed = signed;
  }

  async #signAndSave(stream: string, st: RenditionState, timing?: IngestTiming): Promise<SignedManifest> {
    const t0 = performance.now();
    const signed = this.#sign(stream, st);
    const t1 = performance.now();
    await this.#o.persistence.save(stream, this.#o.rendition, this.#persisted(st, signed));
    if (timing) {
      timing.signMs = t1 - t0;
      timing.saveMs = performance.now() - t1;
    }
    this.#adopt(st, signed);
    return signed;
  }

  /** Appends `entry` to `st` (window, frontiers, target duration); returns the entries that left the window. */
  #append(st: RenditionState, entry: SegmentEntry): SegmentEntry[] {
    st.all.append(segmentLeaf(entry));
    st.window.push(entry);
    st.discNext = false;
    st.ended = false;
    st.targetDuration = Math.max(st.targetDuration, Math.ceil(entry.duration / 1000));
    const dropped: SegmentEntry[] = [];
    while (st.window.length > this.#o.windowSegments) {
      const old = st.window.shift()!;
      st.windowBase.append(segmentLeaf(old));
      dropped.push(old);
    }
    return dropped;
  }

  /**
   * Ingests one finished segment of `stream` lasting `durationMs`: stores and pins it, appends it, drops what leaves the
   * live window (unpinned unless the path keeps a recording), signs and saves the manifest, emits "sealed".
   *
   * Crash safety: a manifest is served (`manifest()`, "sealed") only once the write that saves it has committed, and it
   * never names a segment that is not stored and pinned. When the persistence keeps its records in this ingest's store
   * (the node's StoreManifestStore), the new manifest state is written in the very transaction that stores and pins
   * the segment: one write per segment, and after a crash both or neither are there. A node restarted after its
   * process died (kill, OOM, crash) resumes from the last manifest it may have served, or from a newer one it had not
   * served yet, never an older one. After a power loss the store (LMDB, overlapping sync) reopens at its last flushed
   * transaction: segments and manifest roll back together, still consistent, though the last segments committed before
   * the loss may be lost and their sequence numbers reused. Otherwise (another persistence) the segment is committed
   * first and the manifest saved after it.
   */
  ingestSegment(stream: string, bytes: Uint8Array, durationMs: number): Promise<SegmentSealed> {
    if (typeof stream !== "string" || !STREAM_NAME.test(stream) || stream.includes("..")) {
      return Promise.reject(new IngestError(String(stream), "bad-stream", "stream names are 1-256 chars of [A-Za-z0-9._~/-]"));
    }
    if (!(bytes instanceof Uint8Array) || bytes.byteLength === 0 || bytes.byteLength > this.#o.maxSegmentBytes) {
      return Promise.reject(new IngestError(stream, "too-large", `segment of ${bytes?.byteLength} bytes is outside 1-${this.#o.maxSegmentBytes}`));
    }
    const dur = Math.round(durationMs);
    if (!Number.isFinite(durationMs) || dur < 1 || dur > MANIFEST_LIMITS.maxSegmentMs) {
      return Promise.reject(new IngestError(stream, "bad-duration", `duration ${durationMs} ms is outside 1-${MANIFEST_LIMITS.maxSegmentMs}`));
    }
    return this.#serial(stream, async () => {
      // Check the delegation before storing anything.
      this.#delegation(stream, this.#o.now());
      const st = await this.#state(stream, true);
      const sha = crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>).then((d) => hexOf(new Uint8Array(d)));
      sha.catch(() => undefined); // awaited below; an import that fails first must not leave it unhandled
      const timing: IngestTiming = { hashMs: 0, commitMs: 0, signMs: 0, saveMs: 0 };
      const p = this.#o.persistence;
      const oneWrite = p.records !== undefined && p.recordStore === this.#o.store;
      let staged: { entry: SegmentEntry; dropped: SegmentEntry[]; signed: SignedManifest } | undefined;
      let added: SegmentEntry | undefined;
      // Appends the stored segment to the state and signs the next manifest (adopted once it is durable).
      const stage = async (blake3: string, size: number) => {
        const entry: SegmentEntry = { seq: st.all.size, duration: dur, blake3, sha256: await sha, size, disc: st.discNext && st.all.size > 0 };
        added = entry;
        const dropped = this.#append(st, entry);
        const t = performance.now();
        const signed = this.#sign(stream, st);
        timing.signMs = performance.now() - t;
        staged = { entry, dropped, signed };
        return staged;
      };
      const t0 = performance.now();
      try {
        const stored = await this.#o.store.import([bytes], {
          pin: true,
          source: "segment",
          tags: [`live:${stream}`],
          // One durable write: the manifest state naming the segment is committed in the segment's own transaction.
          ...(oneWrite ? { records: async (b: { hash: string; size: number }) => p.records!(stream, this.#o.rendition, this.#persisted(st, (await stage(b.hash, b.size)).signed)) } : {}),
        });
        timing.hashMs = (stored.timing?.hashMs ?? performance.now() - t0) - timing.signMs;
        timing.commitMs = stored.timing?.commitMs ?? 0;
        if (!staged) {
          const { signed } = await stage(stored.hash, stored.size);
          const t1 = performance.now();
          await p.save(stream, this.#o.rendition, this.#persisted(st, signed));
          timing.saveMs = performance.now() - t1;
        }
      } catch (err) {
        if (!added) throw err;
        // Nothing changes on failure: forget the mutated state (the next call reloads the saved one) and, when the
        // segment was stored on its own, release it unless the saved window still lists it.
        this.#states.delete(stream);
        if (!oneWrite) {
          const blake3 = added.blake3;
          const saved = await this.#state(stream, false).catch(() => null);
          if (!saved?.window.some((e) => e.blake3 === blake3)) await this.#o.store.unpin(blake3).catch(() => undefined);
        }
        throw err;
      }
      const { entry, dropped, signed } = staged!;
      this.#adopt(st, signed);
      // Announced before the segments that left the window are unpinned: viewers need not wait for that commit.
      const sealed: SegmentSealed = { stream, rendition: this.#o.rendition, entry, version: signed.manifest.version, root: signed.manifest.root, at: this.#o.now(), timing };
      this.emit("sealed", sealed);
      if (!this.#o.keepRecording(stream)) {
        for (const old of dropped) if (!(await this.#stillNeeded(old.blake3))) await this.#o.store.unpin(old.blake3).catch(() => undefined);
      }
      return sealed;
    });
  }

  /**
   * Whether a segment blob leaving a window must stay pinned: identical bytes are one blob, so it may still be listed in
   * a window (this stream's or another loaded one's) or belong to a path that keeps its recording (the import tags the
   * blob `live:<path>` for every path that stored it).
   */
  async #stillNeeded(blake3: string): Promise<boolean> {
    for (const st of this.#states.values()) if (st.window.some((e) => e.blake3 === blake3)) return true;
    const meta = await this.#o.store.stat(blake3).catch(() => null);
    return (meta?.tags ?? []).some((t) => t.startsWith("live:") && this.#o.keepRecording(t.slice(5)));
  }

  /** Streams whose state is held in memory (ingested or loaded from persistence). */
  get trackedStreams(): number {
    return this.#states.size;
  }

  /** Streams with segments this process has ingested or loaded whose manifest is not ended. */
  openStreams(): string[] {
    return [...this.#states].filter(([, st]) => !st.ended && st.all.size > 0).map(([name]) => name);
  }

  /** Marks that the next segment of `stream` restarts timestamps (the publisher left). */
  markDiscontinuity(stream: string): Promise<void> {
    return this.#serial(stream, async () => {
      const st = await this.#state(stream, false);
      if (st) st.discNext = true; // a stream without segments starts without a discontinuity anyway
    });
  }

  /** Marks the stream ended (HLS EXT-X-ENDLIST) and re-signs; a new segment reopens it. */
  end(stream: string): Promise<SignedManifest | null> {
    return this.#serial(stream, async () => {
      const st = await this.#state(stream, false);
      if (!st) return null;
      if (st.all.size === 0 || st.ended) return st.signed;
      st.ended = true;
      st.discNext = true;
      return this.#signAndSave(stream, st);
    });
  }

  /** The latest signed manifest of `stream` (loaded from persistence after a restart), or null. */
  async manifest(stream: string): Promise<SignedManifest | null> {
    if (typeof stream !== "string" || !STREAM_NAME.test(stream) || stream.includes("..")) return null;
    // A loaded stream's `signed` is replaced only once the new manifest is saved, so it is read without queueing
    // behind an ingest that is still unpinning old segments.
    const loaded = this.#states.get(stream);
    if (loaded) return loaded.signed;
    return this.#serial(stream, async () => (await this.#state(stream, false))?.signed ?? null);
  }

  /** STREAM_ANNOUNCE for `stream`: signed with the creator key this node holds, else the operator-supplied one, else null. */
  async announce(stream: string, title = stream): Promise<SignedAnnounce | null> {
    const sm = await this.manifest(stream);
    if (!sm) return null;
    if (!this.#o.creatorSecret) return (await this.#o.announceFor?.(stream)) ?? null;
    const creator = publicKeyHex(this.#o.creatorSecret);
    if (creator !== sm.manifest.creator) return null;
    const body: AnnounceBody = {
      type: "STREAM_ANNOUNCE",
      v: 1,
      stream,
      title,
      creator,
      renditions: [{ name: this.#o.rendition, playlist: "index.m3u8", manifest: "manifest.json" }],
      origins: this.#o.origins.slice(),
      trackers: this.#o.trackers.slice(),
      issuedAt: Math.floor(this.#o.now() / 1000),
    };
    return signAnnounce(body, this.#o.creatorSecret);
  }
}
