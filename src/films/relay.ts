// The single-hop paid relay: this node fetches a blob that a trusted film names (from the film's holders or origin,
// verified against its BLAKE3 name before any byte goes out) on a caller's behalf and streams it back, metered as the
// relay-bandwidth service. Requests that are themselves relayed are refused (loop guard); bytes are capped per session
// and per peer.
import type { BlobStore } from "../store/types.ts";
import { FilmError } from "./errors.ts";
import type { Scope } from "./fetcher.ts";

/** Header (and RPC metadata key) marking a request a relay makes upstream on someone's behalf. */
export const RELAYED_HEADER = "x-slowdrip-relayed";

/** Why the relay refused a request. */
export type RelayRefusal = "off" | "loop" | "scope" | "cap" | "unavailable";

/** A refused relay request; `reason` says why (mapped to a status at the boundary). */
export class RelayError extends Error {
  readonly reason: RelayRefusal;
  constructor(reason: RelayRefusal, message: string) {
    super(message);
    this.name = "RelayError";
    this.reason = reason;
  }
}

/** What the relay fetches through: the film fetcher (scope check, verified fetch into the store). */
export interface RelayFetcher {
  scope(hash: string): Scope | undefined;
  ensure(hash: string, opts?: { relayed?: boolean }): Promise<string>;
}

/** Relay counters (kept apart from content-download). */
export interface RelayCounters {
  refused(reason: RelayRefusal): void;
  bytes(n: number): void;
}

/** Options of {@link FilmRelay}. */
export interface FilmRelayOptions {
  enabled: boolean;
  fetcher: RelayFetcher;
  store: BlobStore;
  /** Most bytes one session (a payment session id, else one request) may carry. */
  maxSessionBytes: number;
  /** Most bytes relayed to one peer (node id or address) per `windowMs`. */
  maxPeerBytes: number;
  windowMs: number;
  /** Most peers and sessions tracked (the oldest are forgotten first). */
  maxTracked?: number;
  counters?: RelayCounters;
  now?: () => number;
}

/** One admitted relay read: the range to stream and where the blob came from. */
export interface RelayGrant {
  size: number;
  offset: number;
  length: number;
  source: string;
  /** Counts `n` bytes streamed against the caps and in the relay's byte counter (call once the bytes went out). */
  commit(n: number): void;
}

/** Bytes used per key within a window, bounded in keys. */
class Usage {
  readonly #m = new Map<string, { at: number; used: number }>();
  constructor(readonly max: number) {}
  get(key: string, now: number, windowMs: number): number {
    const u = this.#m.get(key);
    return u && now - u.at < windowMs ? u.used : 0;
  }
  add(key: string, n: number, now: number, windowMs: number): void {
    let u = this.#m.get(key);
    if (!u || now - u.at >= windowMs) u = { at: now, used: 0 };
    u.used += n;
    this.#m.delete(key);
    this.#m.set(key, u);
    while (this.#m.size > this.max) this.#m.delete(this.#m.keys().next().value!);
  }
}

/** The relay's admission and accounting; the HTTP and RPC adapters stream the bytes. */
export class FilmRelay {
  readonly #o: FilmRelayOptions;
  readonly #peers: Usage;
  readonly #sessions: Usage;

  constructor(opts: FilmRelayOptions) {
    this.#o = opts;
    this.#peers = new Usage(opts.maxTracked ?? 10_000);
    this.#sessions = new Usage(opts.maxTracked ?? 10_000);
  }

  get enabled(): boolean {
    return this.#o.enabled;
  }

  #refuse(reason: RelayRefusal, message: string): never {
    this.#o.counters?.refused(reason);
    throw new RelayError(reason, message);
  }

  /**
   * Admits one read: refuses a relayed request, a blob no trusted film names, and a read over what the caps leave;
   * otherwise brings the blob here (verified). The grant's `commit` counts the bytes once they were streamed (a 402
   * answer streams none). `range` maps the blob's size to the range asked for.
   */
  async admit(hash: string, req: { relayed: boolean; peer: string; session?: string; range: (size: number) => { offset: number; length: number } }): Promise<RelayGrant> {
    if (!this.#o.enabled) this.#refuse("off", "this node does not relay (films.relay is off)");
    if (req.relayed) this.#refuse("loop", "the request is itself relayed; this relay is single-hop");
    if (!this.#o.fetcher.scope(hash)) this.#refuse("scope", `no trusted film names blob ${hash}; only film blobs are relayed`);
    const now = (this.#o.now ?? Date.now)();
    const peerLeft = this.#o.maxPeerBytes - this.#peers.get(req.peer, now, this.#o.windowMs);
    const sessionLeft = req.session ? this.#o.maxSessionBytes - this.#sessions.get(req.session, now, this.#o.windowMs) : this.#o.maxSessionBytes;
    if (peerLeft <= 0 || sessionLeft <= 0) this.#refuse("cap", `relay byte cap reached (${peerLeft <= 0 ? "films.relay_peer_bytes" : "films.relay_session_bytes"})`);
    let source: string;
    try {
      source = await this.#o.fetcher.ensure(hash, { relayed: true });
    } catch (err) {
      if (err instanceof FilmError) this.#refuse("unavailable", err.message);
      throw err;
    }
    const size = (await this.#o.store.stat(hash)).size;
    const { offset, length } = req.range(size);
    if (length > peerLeft || length > sessionLeft) this.#refuse("cap", `the read of ${length} bytes is over the relay byte cap (${Math.min(peerLeft, sessionLeft)} left)`);
    let done = false;
    const commit = (n: number) => {
      if (done || n <= 0) return;
      done = true;
      const at = (this.#o.now ?? Date.now)();
      this.#peers.add(req.peer, n, at, this.#o.windowMs);
      if (req.session) this.#sessions.add(req.session, n, at, this.#o.windowMs);
      this.#o.counters?.bytes(n);
    };
    return { size, offset, length, source, commit };
  }
}
