// The film catalog: verified kind 30082 events of trusted creators, newest per (creator, d), NIP-09 deletions applied,
// refreshed from the relays every films.refresh and cached atomically so that a restart serves the last good catalog.
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { writeSecretFile } from "../identity/identity.ts";
import { EventRejected } from "../nostr/errors.ts";
import { KIND_DELETION, KIND_FILM, dTag, type CheckedEvent } from "../nostr/events.ts";
import type { Filter } from "../nostr/pool.ts";
import { verifyFilm, type Film } from "./record.ts";

/** One listed film. */
export interface CatalogEntry {
  /** The creator's Ed25519 key (64 hex): who vouches for the film. */
  publisher: string;
  /** The event's `d` tag (= film.id). */
  d: string;
  film: Film;
  /** The creator's signature over the film. */
  sig: string;
  /** The Nostr event it came in. */
  event: { id: string; pubkey: string; node: string; created_at: number };
}

/** What GET /api/film-catalog answers. */
export interface CatalogSnapshot {
  /** When the catalog was last built from the relays (ms since the epoch), 0 when never. */
  updated: number;
  /** "relays" (this run read it), "cache" (the last good catalog from disk), "empty" (neither yet). */
  source: "relays" | "cache" | "empty";
  films: CatalogEntry[];
}

/** Largest cache file read at start. */
const MAX_CACHE_BYTES = 256 * 1024 * 1024;

/**
 * Merges events into catalog entries: each film event's content is verified (shape, creator's Ed25519 signature, `d`
 * and `c` tags matching the film), its creator must be trusted, and the newest per (creator, d) wins (ties: the lower
 * event id). A kind 5 deletion from the same Nostr pubkey naming `30082:<pubkey>:<d>` in an `a` tag removes the entries
 * at that address not newer than itself. At most `maxEntries` entries, newest first.
 */
export function mergeFilms(events: Iterable<CheckedEvent>, opts: { trusted: ReadonlySet<string>; maxEntries: number; onReject?: (reason: string, e: CheckedEvent, err: Error) => void }): CatalogEntry[] {
  const best = new Map<string, CatalogEntry>();
  const deletions = new Map<string, number>();
  for (const e of events) {
    if (e.kind === KIND_DELETION) {
      for (const t of e.tags) {
        if (t[0] === "a" && typeof t[1] === "string" && t[1].startsWith(`${KIND_FILM}:${e.pubkey}:`)) {
          deletions.set(t[1], Math.max(deletions.get(t[1]) ?? 0, e.created_at));
        }
      }
      continue;
    }
    if (e.kind !== KIND_FILM) continue;
    let entry: CatalogEntry;
    try {
      let content: unknown;
      try {
        content = JSON.parse(e.content);
      } catch {
        throw new EventRejected("film", "content is not JSON");
      }
      const s = verifyFilm(content);
      const d = dTag(e);
      if (d !== s.film.id) throw new EventRejected("film", `d tag ${d.slice(0, 64)} is not the film id ${s.film.id}`);
      if (e.tags.find((t) => t[0] === "c")?.[1] !== s.film.creator) throw new EventRejected("film", "c tag is not the film's creator");
      if (!opts.trusted.has(s.film.creator)) throw new EventRejected("trust", `creator ${s.film.creator} is not in films.trusted_publishers`);
      entry = { publisher: s.film.creator, d, film: s.film, sig: s.sig, event: { id: e.id, pubkey: e.pubkey, node: e.node ?? "", created_at: e.created_at } };
    } catch (err) {
      opts.onReject?.(err instanceof EventRejected ? err.reason : "film", e, err as Error);
      continue;
    }
    const key = `${entry.publisher}\u0000${entry.d}`;
    const old = best.get(key);
    if (!old || entry.event.created_at > old.event.created_at || (entry.event.created_at === old.event.created_at && entry.event.id < old.event.id)) best.set(key, entry);
  }
  const out = [...best.values()].filter((x) => {
    const del = deletions.get(`${KIND_FILM}:${x.event.pubkey}:${x.d}`);
    return del === undefined || del < x.event.created_at;
  });
  out.sort((a, b) => b.event.created_at - a.event.created_at || (a.event.id < b.event.id ? -1 : 1));
  return out.slice(0, opts.maxEntries);
}

/** Where the catalog reads events from (the relay pool). */
export interface EventSource {
  query(filters: Filter[], timeoutMs: number): Promise<{ events: CheckedEvent[]; relays: number; complete: string[] }>;
}

/** Logging the catalog needs. */
export interface CatalogLog {
  info(o: object, m: string): void;
  warn(o: object, m: string): void;
}

/** Options of {@link FilmCatalog}. */
export interface FilmCatalogOptions {
  /** The cache file (written atomically). */
  file: string;
  /** Trusted creators' Ed25519 keys (64 hex), the node's own included. */
  trusted: () => ReadonlySet<string>;
  maxEntries: number;
  /** How long one refresh waits for the relays, ms. */
  queryTimeoutMs: number;
  log: CatalogLog;
  onReject?: (reason: string) => void;
}

/** The node's film catalog. */
export class FilmCatalog {
  readonly #o: FilmCatalogOptions;
  #snap: CatalogSnapshot = { updated: 0, source: "empty", films: [] };

  constructor(opts: FilmCatalogOptions) {
    this.#o = opts;
  }

  /** The current catalog. */
  snapshot(): CatalogSnapshot {
    return this.#snap;
  }

  /** Loads the cache file; entries are verified again and filtered by the current trust list. */
  load(): void {
    let raw: string;
    try {
      if (statSync(this.#o.file).size > MAX_CACHE_BYTES) throw new RangeError("cache file too large");
      raw = readFileSync(this.#o.file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") this.#o.log.warn({ err, file: this.#o.file }, "films: cannot read the catalog cache");
      return;
    }
    try {
      const doc = JSON.parse(raw) as { updated?: unknown; films?: unknown };
      if (!Array.isArray(doc.films) || typeof doc.updated !== "number") throw new RangeError("not a catalog cache");
      const trusted = this.#o.trusted();
      const films: CatalogEntry[] = [];
      for (const x of doc.films as CatalogEntry[]) {
        try {
          const s = verifyFilm({ film: x.film, sig: x.sig });
          if (trusted.has(s.film.creator) && films.length < this.#o.maxEntries) films.push({ ...x, publisher: s.film.creator, d: s.film.id });
        } catch {
          /* a damaged entry is dropped */
        }
      }
      this.#snap = { updated: doc.updated, source: "cache", films };
      this.#o.log.info({ films: films.length, file: this.#o.file }, "films: serving the cached catalog");
    } catch (err) {
      this.#o.log.warn({ err, file: this.#o.file }, "films: the catalog cache is damaged; ignored");
    }
  }

  /**
   * Reads the film events and deletions of trusted creators from the relays and replaces the catalog, when at least
   * one relay answered completely; otherwise the last good catalog stays. Returns whether it was replaced.
   */
  async refresh(source: EventSource): Promise<boolean> {
    const trusted = [...this.#o.trusted()];
    const film: Filter = { kinds: [KIND_FILM], limit: this.#o.maxEntries };
    // Relays index single-letter tags: ask only for trusted creators' films while the list is short.
    if (trusted.length <= 256) film["#c"] = trusted;
    const r = await source.query([film, { kinds: [KIND_DELETION], "#k": [String(KIND_FILM)], limit: this.#o.maxEntries }], this.#o.queryTimeoutMs);
    if (r.complete.length === 0) {
      this.#o.log.warn({ relays: r.relays }, "films: no relay answered; keeping the last catalog");
      return false;
    }
    // Verify the creators' signatures a few at a time, yielding in between, so that a large catalog does not hold up
    // the event loop; mergeFilms then finds them remembered.
    for (const [i, e] of r.events.entries()) {
      if (e.kind === KIND_FILM) {
        try {
          verifyFilm(JSON.parse(e.content));
        } catch {
          /* mergeFilms refuses and logs it */
        }
      }
      if (i % 25 === 24) await new Promise((done) => setImmediate(done));
    }
    const films = mergeFilms(r.events, {
      trusted: new Set(trusted),
      maxEntries: this.#o.maxEntries,
      onReject: (reason, e, err) => {
        this.#o.onReject?.(reason);
        this.#o.log.warn({ reason, event: e.id, pubkey: e.pubkey, err: err.message }, "films: film event ignored");
      },
    });
    this.#snap = { updated: Date.now(), source: "relays", films };
    mkdirSync(dirname(this.#o.file), { recursive: true, mode: 0o700 });
    writeSecretFile(this.#o.file, `${JSON.stringify({ updated: this.#snap.updated, films })}\n`);
    return true;
  }
}
