// The node's own films (published from this node with `slowdrip film add`): kept in <data_dir>/films/local.json,
// published as kind 30082 events, unpublished with a NIP-09 deletion.
import { mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { writeSecretFile } from "../identity/identity.ts";
import { KIND_DELETION, KIND_FILM } from "../nostr/events.ts";
import { FilmError } from "./errors.ts";
import { filmTemplate, verifyFilm, type SignedFilm } from "./record.ts";

/** Publishes signed templates with the node's Nostr key (the node publisher); returns the event id. */
export interface FilmPublisher {
  publish(template: { kind: number; tags: string[][]; content: string }): { id: string; pubkey: string };
}

/** Which blobs the node holds. */
export interface BlobCheck {
  has(hash: string): Promise<boolean>;
}

/** Every blob a film names: poster, master playlist, rendition playlists and segments. */
export function filmBlobs(s: SignedFilm): string[] {
  const f = s.film;
  return [...new Set([...(f.poster ? [f.poster] : []), f.playlist, ...f.renditions.flatMap((r) => [r.playlist, ...r.segments.map((x) => x.blake3)])])];
}

/** The node's own films. */
export class FilmLibrary {
  readonly #file: string;
  readonly #max: number;
  readonly #maxEventBytes: number;
  #films = new Map<string, SignedFilm>();

  /** `maxEventBytes`: the largest event readers take (nostr.max_event_size); a bigger film record is refused. */
  constructor(file: string, max: number, maxEventBytes: number) {
    this.#file = file;
    this.#max = max;
    this.#maxEventBytes = maxEventBytes;
    try {
      const doc = JSON.parse(readFileSync(file, "utf8")) as { films?: unknown[] };
      for (const x of doc.films ?? []) {
        const s = verifyFilm(x);
        this.#films.set(s.film.id, s);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw new FilmError(`${file}: cannot read the film library (${(err as Error).message})`);
    }
  }

  list(): SignedFilm[] {
    return [...this.#films.values()].sort((a, b) => b.film.created - a.film.created);
  }

  get(id: string): SignedFilm {
    const s = this.#films.get(id);
    if (!s) throw new FilmError(`no film ${id} on this node`, "not-found");
    return s;
  }

  #save(): void {
    mkdirSync(dirname(this.#file), { recursive: true, mode: 0o700 });
    writeSecretFile(this.#file, `${JSON.stringify({ films: this.list() })}\n`);
  }

  /**
   * Adds a signed film whose blobs are all stored here and publishes it. Throws FilmError when it does not verify,
   * a blob is missing, or the library is full.
   */
  async add(raw: unknown, blobs: BlobCheck, publisher: () => FilmPublisher): Promise<{ film: SignedFilm; event: string }> {
    let s: SignedFilm;
    try {
      s = verifyFilm(raw);
    } catch (err) {
      throw new FilmError((err as Error).message, "invalid");
    }
    // The event adds its id, pubkey, signature and tags (about 1 KiB) to the content.
    const size = JSON.stringify(filmTemplate(s, 0)).length + 1024;
    if (size > this.#maxEventBytes) {
      throw new FilmError(`the film's event would be about ${size} bytes, more than nostr.max_event_size (${this.#maxEventBytes}): use longer segments (films.segment_duration) or fewer renditions`, "invalid");
    }
    const pub = publisher();
    if (!this.#films.has(s.film.id) && this.#films.size >= this.#max) throw new FilmError(`the library holds ${this.#max} films already`, "full");
    for (const h of filmBlobs(s)) if (!(await blobs.has(h))) throw new FilmError(`blob ${h} of the film is not stored on this node`, "invalid");
    this.#films.set(s.film.id, s);
    this.#save();
    return { film: s, event: this.publish(s.film.id, pub) };
  }

  /** Publishes (again) the kind 30082 event of one of the node's films; returns the event id. */
  publish(id: string, pub: FilmPublisher): string {
    const s = this.get(id);
    return pub.publish(filmTemplate(s, 0)).id;
  }

  /** Removes a film and publishes its NIP-09 deletion; returns the removed film. */
  remove(id: string, pub: FilmPublisher | undefined, nostrPubkey: string): SignedFilm {
    const s = this.get(id);
    this.#films.delete(id);
    this.#save();
    pub?.publish({ kind: KIND_DELETION, tags: [["a", `${KIND_FILM}:${nostrPubkey}:${id}`], ["k", String(KIND_FILM)]], content: "film removed" });
    return s;
  }
}
