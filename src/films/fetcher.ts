// Film blobs for GET /api/film/<blake3>: local first; else from holders found through kind 30081 seed adverts (paying a
// 402 through fetchPaid within the budget), each with a timeout and verified against the hash as it is stored; else
// from the catalog's origin. Blobs over films.range_size come in verified ranges, in parallel across holders (ranges.ts).
// Only blobs a catalog film names are fetched; a holder that sends bad bytes is dropped. Last, films.relay_via relays
// (GET /relay/, paid as relay-bandwidth); a relay's own upstream fetch is marked and never goes through another relay.
import { Readable } from "node:stream";
import { KIND_SEEDS } from "../nostr/events.ts";
import type { CheckedEvent } from "../nostr/events.ts";
import type { Filter } from "../nostr/pool.ts";
import { fetchPaid, type FetchPaidOptions } from "../pay/fetch.ts";
import { HashMismatchError } from "../store/errors.ts";
import type { BlobStore } from "../store/types.ts";
import type { CatalogSnapshot } from "./catalog.ts";
import { FilmError } from "./errors.ts";
import { fetchRanges } from "./ranges.ts";

/** Largest playlist or poster fetched (their size is not in the film record; segments must have their recorded size). */
export const MAX_UNSIZED_BLOB = 16 * 1024 * 1024;

/** Passes chunks through, throwing once more than `max` bytes went by. */
async function* capped(source: AsyncIterable<Uint8Array>, max: number): AsyncGenerator<Uint8Array> {
  let n = 0;
  for await (const chunk of source) {
    n += chunk.byteLength;
    if (n > max) throw new FilmError(`more than ${max} bytes`, "invalid");
    yield chunk;
  }
}

/** What a fetched blob is tagged with: cached (unpinned, so GC may evict it) and seeded (listed in the seed advert). */
export const CACHE_TAGS = ["seed", "film-cache"];

/** Where holders are looked up (the relay pool). */
export interface HolderSource {
  query(filters: Filter[], timeoutMs: number): Promise<{ events: CheckedEvent[] }>;
}

/** Outcome counters. */
export interface FetchCounters {
  /** source: local, peer, paid, origin. */
  served(source: string): void;
  badHolder(): void;
  /** A verified range of a large blob arrived (source: peer, paid, origin). */
  range?(source: string): void;
}

/** Options of {@link FilmFetcher}. */
export interface FilmFetcherOptions {
  store: BlobStore;
  catalog: () => CatalogSnapshot;
  holders: () => HolderSource | undefined;
  /** This node's own endpoints (never asked). */
  self: () => string[];
  /** One holder's (or the origin's) whole answer must arrive within this, ms. */
  timeoutMs: number;
  /** Paying options (wallet, budget, price and fee caps); absent: holders that answer 402 are skipped. */
  pay?: Omit<FetchPaidOptions, "origin" | "expectedBytes" | "signal" | "headers">;
  counters?: FetchCounters;
  log: { info(o: object, m: string): void; warn(o: object, m: string): void };
  /** Most fetches in flight at once. */
  maxInFlight?: number;
  /** Blobs of a known size above this are fetched in verified ranges of this many bytes, in parallel across holders. */
  rangeSize?: number;
  /** Most ranges of one blob in flight at once. */
  rangeParallel?: number;
  /** Relay endpoints (GET /relay/<hash>, paid as relay-bandwidth) asked after the holders and origins failed. */
  relays?: () => string[];
  /** Fetch only through `relays`, never from holders or origins directly. */
  relayOnly?: boolean;
}

/** Header a relay puts on its upstream requests (the loop guard; see relay.ts). */
const RELAYED = "x-slowdrip-relayed";

/** A film blob the catalog names: its expected size (segments) and the origins of the films naming it. */
export interface Scope {
  size?: number;
  origins: string[];
  /** What the blob is in the film: a playlist (master or media), a media segment (with its extension) or the poster. */
  role: "playlist" | "segment" | "poster";
  ext?: string;
}

/** Fetches film blobs into the local store. */
export class FilmFetcher {
  readonly #o: FilmFetcherOptions;
  readonly #inflight = new Map<string, Promise<string>>();
  /** hash -> holder endpoints that sent bad bytes for it (bounded). */
  readonly #bad = new Map<string, Set<string>>();

  constructor(opts: FilmFetcherOptions) {
    this.#o = opts;
  }

  /** Whether a catalog film names `hash`, with its size and origins. */
  scope(hash: string): Scope | undefined {
    let found: Scope | undefined;
    for (const e of this.#o.catalog().films) {
      const f = e.film;
      let size: number | undefined;
      let role: Scope["role"] | undefined = f.playlist === hash ? "playlist" : f.poster === hash ? "poster" : undefined;
      let ext: string | undefined;
      for (const r of f.renditions) {
        if (r.playlist === hash) role = "playlist";
        for (const s of r.segments) if (s.blake3 === hash) [role, size, ext] = ["segment", s.size, r.ext];
      }
      if (!role) continue;
      found ??= { origins: [], role };
      if (size !== undefined) found.size = size;
      if (ext !== undefined) found.ext = ext;
      if (f.origin) found.origins.push(f.origin.replace(/\/+$/, ""));
    }
    return found;
  }

  /**
   * Makes sure the blob is stored here; returns where it came from (local, peer, paid, origin). Throws FilmError
   * not-found when no catalog film names it, unavailable when no holder or origin delivered it.
   */
  async ensure(hash: string, opts: { relayed?: boolean } = {}): Promise<string> {
    if (await this.#o.store.has(hash)) {
      this.#o.counters?.served("local");
      return "local";
    }
    const scope = this.scope(hash);
    if (!scope) throw new FilmError(`no film in the catalog names blob ${hash}`, "not-found");
    const running = this.#inflight.get(hash);
    if (running) return running;
    if (this.#inflight.size >= (this.#o.maxInFlight ?? 64)) throw new FilmError("too many film fetches in flight; try again", "unavailable");
    const p = this.#fetch(hash, scope, opts.relayed ? { [RELAYED]: "1" } : {}).finally(() => this.#inflight.delete(hash));
    this.#inflight.set(hash, p);
    return p;
  }

  async #holders(hash: string): Promise<string[]> {
    const src = this.#o.holders();
    if (!src) return [];
    const { events } = await src.query([{ kinds: [KIND_SEEDS], "#x": [hash], limit: 50 }], this.#o.timeoutMs);
    const self = new Set(this.#o.self().map((u) => u.replace(/\/+$/, "")));
    const bad = this.#bad.get(hash);
    const out = new Set<string>();
    for (const e of events) {
      const ep = e.tags.find((t) => t[0] === "endpoint")?.[1]?.replace(/\/+$/, "");
      if (!ep || !/^https?:\/\/[^\s/]+(\/[^\s]*)?$/.test(ep) || ep.length > 512 || self.has(ep) || bad?.has(ep)) continue;
      out.add(ep);
    }
    // Shuffled, so that load spreads over the holders.
    return [...out].map((u) => [Math.random(), u] as const).sort((a, b) => a[0] - b[0]).map((x) => x[1]);
  }

  #markBad(hash: string, endpoint: string): void {
    if (this.#bad.size > 10_000) this.#bad.clear();
    let s = this.#bad.get(hash);
    if (!s) this.#bad.set(hash, (s = new Set()));
    s.add(endpoint);
    this.#o.counters?.badHolder();
  }

  /** Stores the body, verified against the hash; false (and nothing stored) when the bytes do not match. */
  async #import(hash: string, res: Response, scope: Scope, source: string): Promise<boolean> {
    if (!res.body) return false;
    const declared = Number(res.headers.get("content-length") ?? NaN);
    if (scope.size !== undefined && Number.isFinite(declared) && declared !== scope.size) return false;
    try {
      const body = Readable.fromWeb(res.body as never) as AsyncIterable<Uint8Array>;
      await this.#o.store.import(capped(body, scope.size ?? MAX_UNSIZED_BLOB), {
        expectedHash: hash,
        source,
        tags: CACHE_TAGS,
        ...(scope.size !== undefined ? { size: scope.size } : {}),
      });
      return true;
    } catch (err) {
      if (err instanceof HashMismatchError || err instanceof FilmError || /size|length|mismatch/i.test((err as Error).message)) return false;
      throw err;
    }
  }

  /** A large blob in verified ranges from the holders (then the origins); undefined when that failed. */
  async #fetchRanges(hash: string, size: number, holders: string[], scope: Scope, mark: Record<string, string>): Promise<string | undefined> {
    const sources = new Set<string>();
    const sessions = new Map<string, string>();
    const pay = this.#o.pay;
    try {
      await this.#o.store.import(
        fetchRanges({
          hash,
          size,
          rangeSize: this.#o.rangeSize!,
          parallel: this.#o.rangeParallel ?? 4,
          timeoutMs: this.#o.timeoutMs,
          holders,
          origins: scope.origins,
          isBad: (ep) => this.#bad.get(hash)?.has(ep) ?? false,
          markBad: (ep) => this.#markBad(hash, ep),
          onRange: (source) => {
            sources.add(source);
            this.#o.counters?.range?.(source);
          },
          log: this.#o.log,
          get: async (url, h, signal, bytes, holder) => {
            const headers = { ...h, ...mark };
            if (!pay || !holder) return { response: await fetch(url, { headers, signal }), paid: false };
            const ep = url.slice(0, url.indexOf("/blobs/"));
            const session = sessions.get(ep);
            const r = await fetchPaid(url, { ...pay, headers, signal, expectedBytes: bytes, ...(session ? { session } : {}) });
            if (r.session) sessions.set(ep, r.session);
            return { response: r.response, paid: r.paid > 0 };
          },
        }),
        { expectedHash: hash, source: "film-ranges", tags: CACHE_TAGS, size },
      );
    } catch (err) {
      this.#o.log.warn({ hash, err: (err as Error).message }, "films: ranged fetch failed");
      return undefined;
    }
    const source = sources.has("paid") ? "paid" : sources.has("peer") ? "peer" : "origin";
    this.#o.counters?.served(source);
    return source;
  }

  async #fetch(hash: string, scope: Scope, mark: Record<string, string>): Promise<string> {
    const log = this.#o.log;
    let holders: string[] = [];
    if (this.#o.relayOnly) return this.#viaRelays(hash, scope);
    try {
      holders = await this.#holders(hash);
    } catch (err) {
      log.warn({ err, hash }, "films: holder lookup failed");
    }
    if (this.#o.rangeSize && scope.size !== undefined && scope.size > this.#o.rangeSize) {
      const source = await this.#fetchRanges(hash, scope.size, holders, scope, mark);
      if (source) return source;
      // Holders and origins all failed a range; the origins are still asked for the whole blob below.
      holders = [];
    }
    for (const ep of holders) {
      const url = `${ep}/blobs/${hash}`;
      const signal = AbortSignal.timeout(this.#o.timeoutMs);
      try {
        let res: Response;
        let source = "peer";
        if (this.#o.pay) {
          const r = await fetchPaid(url, { ...this.#o.pay, signal, headers: mark, ...(scope.size !== undefined ? { expectedBytes: scope.size } : {}) });
          res = r.response;
          if (r.paid > 0) source = "paid";
        } else {
          res = await fetch(url, { signal, headers: mark });
        }
        if (res.status !== 200) {
          await res.body?.cancel().catch(() => undefined);
          log.info({ hash, holder: ep, status: res.status }, "films: holder did not serve the blob");
          continue;
        }
        if (await this.#import(hash, res, scope, `peer:${ep}`)) {
          this.#o.counters?.served(source);
          return source;
        }
        this.#markBad(hash, ep);
        log.warn({ hash, holder: ep }, "films: holder sent bytes that do not match the hash; dropped for this blob");
      } catch (err) {
        log.info({ hash, holder: ep, err: (err as Error).message }, "films: holder failed");
      }
    }
    for (const origin of scope.origins) {
      try {
        const res = await fetch(`${origin}/blobs/${hash}`, { signal: AbortSignal.timeout(this.#o.timeoutMs), headers: mark });
        if (res.status === 200 && (await this.#import(hash, res, scope, `origin:${origin}`))) {
          this.#o.counters?.served("origin");
          return "origin";
        }
        await res.body?.cancel().catch(() => undefined);
        log.warn({ hash, origin, status: res.status }, "films: the origin did not serve the blob");
      } catch (err) {
        log.warn({ hash, origin, err: (err as Error).message }, "films: the origin failed");
      }
    }
    // A relay's own fetch never goes through another relay (single hop).
    if (!mark[RELAYED] && this.#o.relays?.().length) return this.#viaRelays(hash, scope);
    throw new FilmError(`no holder or origin delivered blob ${hash}`, "unavailable");
  }

  /** The blob through a relay (GET <relay>/relay/<hash>, paid as relay-bandwidth), verified as it is stored. */
  async #viaRelays(hash: string, scope: Scope): Promise<string> {
    const log = this.#o.log;
    const self = new Set(this.#o.self().map((u) => u.replace(/\/+$/, "")));
    for (const raw of this.#o.relays?.() ?? []) {
      const ep = raw.replace(/\/+$/, "");
      if (self.has(ep)) continue;
      const url = `${ep}/relay/${hash}`;
      const signal = AbortSignal.timeout(this.#o.timeoutMs);
      try {
        const res = this.#o.pay
          ? (await fetchPaid(url, { ...this.#o.pay, service: "relay-bandwidth", signal, ...(scope.size !== undefined ? { expectedBytes: scope.size } : {}) })).response
          : await fetch(url, { signal });
        if (res.status === 200 && (await this.#import(hash, res, scope, `relay:${ep}`))) {
          this.#o.counters?.served("relay");
          return "relay";
        }
        await res.body?.cancel().catch(() => undefined);
        log.warn({ hash, relay: ep, status: res.status }, "films: the relay did not deliver the blob");
      } catch (err) {
        log.warn({ hash, relay: ep, err: (err as Error).message }, "films: the relay failed");
      }
    }
    throw new FilmError(`no holder, origin or relay delivered blob ${hash}`, "unavailable");
  }
}
