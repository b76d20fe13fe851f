// The film record: what a creator signs (Ed25519 over RFC 8785 canonical JSON) and what a kind 30082 event carries.
import { createHash } from "node:crypto";
import { canonicalBytes } from "../stream/canonical.ts";
import { sign, verify } from "../identity/ed25519.ts";
import { hex, unhex } from "../identity/hex.ts";
import { EventRejected } from "../nostr/errors.ts";
import { KIND_FILM, type EventTemplate } from "../nostr/events.ts";
import { BoundedSet } from "../nostr/verified.ts";

/** Creator signatures already verified, keyed by the signature and the SHA-256 of the signed bytes (bounded). */
const verifiedFilms = new BoundedSet(20_000);

/** Domain-separation prefix of the creator's signature: utf8(prefix) || JCS(film). */
export const FILM_SIG_PREFIX = "slowdrip/v1/SLOWDRIP_FILM\n";

/** One segment of a rendition. */
export interface FilmSegment {
  blake3: string;
  size: number;
  /** Milliseconds. */
  duration: number;
}

/** One rendition (HLS media playlist). */
export interface FilmRendition {
  /** e.g. "720p". */
  name: string;
  /** BLAKE3 of the media playlist blob. */
  playlist: string;
  /** Peak bits per second (BANDWIDTH of the master playlist). */
  bandwidth: number;
  /** WIDTHxHEIGHT. */
  resolution: string;
  /** Media segment extension: "ts" or "m4s". */
  ext: string;
  segments: FilmSegment[];
}

/** What a creator signs about a film. */
export interface Film {
  type: "SLOWDRIP_FILM";
  v: 1;
  /** 32 lowercase hex; the event's `d` tag. */
  id: string;
  title: string;
  /** Ed25519 public key of the creator, 64 lowercase hex. */
  creator: string;
  /** Milliseconds. */
  duration: number;
  /** BLAKE3 of the poster image, or null. */
  poster: string | null;
  /** BLAKE3 of the master playlist. */
  playlist: string;
  renditions: FilmRendition[];
  /** Base URL the blobs can always be fetched from (`<origin>/blobs/<blake3>`), or null. */
  origin: string | null;
  /** Optional monetization hint, e.g. {"service":"content-download","sats_per_mib":1}; null when none. */
  monetization: { service: string; sats_per_mib: number } | null;
  /** Unix seconds the creator signed it. */
  created: number;
}

/** A film with the creator's signature. */
export interface SignedFilm {
  film: Film;
  /** Ed25519 signature, 128 hex. */
  sig: string;
}

const HEX64 = /^[0-9a-f]{64}$/;
const HEX32 = /^[0-9a-f]{32}$/;
const EXT = new Set(["ts", "m4s", "mp4", "aac"]);

/** Bounds of a film record. */
export const FILM_LIMITS = { title: 300, renditions: 8, segments: 20_000, name: 32 } as const;

function message(film: Film): Uint8Array {
  const body = canonicalBytes(film);
  const prefix = new TextEncoder().encode(FILM_SIG_PREFIX);
  const out = new Uint8Array(prefix.length + body.length);
  out.set(prefix);
  out.set(body, prefix.length);
  return out;
}

/** Signs a film with the creator's Ed25519 secret seed. */
export function signFilm(film: Film, creatorSecret: Uint8Array): SignedFilm {
  checkFilm(film);
  return { film, sig: hex(sign(message(film), creatorSecret)) };
}

const uint = (v: unknown, max = Number.MAX_SAFE_INTEGER) => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= max;

/** Checks a film's shape and bounds; throws EventRejected("film") naming the first problem. */
export function checkFilm(f: unknown): asserts f is Film {
  const bad = (m: string) => new EventRejected("film", `film: ${m}`);
  const o = f as Record<string, unknown>;
  if (typeof o !== "object" || o === null || Array.isArray(o)) throw bad("not an object");
  const keys = ["type", "v", "id", "title", "creator", "duration", "poster", "playlist", "renditions", "origin", "monetization", "created"];
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw bad(`unknown field ${k.slice(0, 40)}`);
  if (o.type !== "SLOWDRIP_FILM" || o.v !== 1) throw bad("not a SLOWDRIP_FILM v1");
  if (typeof o.id !== "string" || !HEX32.test(o.id)) throw bad("id must be 32 lowercase hex");
  if (typeof o.title !== "string" || o.title.length === 0 || o.title.length > FILM_LIMITS.title) throw bad(`title must be 1-${FILM_LIMITS.title} characters`);
  if (typeof o.creator !== "string" || !HEX64.test(o.creator)) throw bad("creator must be 64 lowercase hex");
  if (!uint(o.duration)) throw bad("duration must be a non-negative integer (ms)");
  if (o.poster !== null && (typeof o.poster !== "string" || !HEX64.test(o.poster))) throw bad("poster must be a BLAKE3 hash or null");
  if (typeof o.playlist !== "string" || !HEX64.test(o.playlist)) throw bad("playlist must be a BLAKE3 hash");
  if (o.origin !== null && (typeof o.origin !== "string" || o.origin.length > 512 || !/^https?:\/\/[^\s/]+(\/[^\s]*)?$/.test(o.origin))) throw bad("origin must be an http(s) URL or null");
  if (o.monetization !== null) {
    const m = o.monetization as Record<string, unknown>;
    if (typeof m !== "object" || Array.isArray(m) || typeof m.service !== "string" || m.service.length > 64 || !uint(m.sats_per_mib, 1_000_000_000) || Object.keys(m).length !== 2) {
      throw bad("monetization must be null or {service, sats_per_mib}");
    }
  }
  if (!uint(o.created)) throw bad("created must be unix seconds");
  if (!Array.isArray(o.renditions) || o.renditions.length === 0 || o.renditions.length > FILM_LIMITS.renditions) throw bad(`1-${FILM_LIMITS.renditions} renditions`);
  let total = 0;
  for (const r of o.renditions as Record<string, unknown>[]) {
    if (typeof r !== "object" || r === null) throw bad("rendition is not an object");
    for (const k of Object.keys(r)) if (!["name", "playlist", "bandwidth", "resolution", "ext", "segments"].includes(k)) throw bad(`unknown rendition field ${k.slice(0, 40)}`);
    if (typeof r.name !== "string" || !/^[A-Za-z0-9_.-]{1,32}$/.test(r.name)) throw bad("rendition name must be 1-32 of [A-Za-z0-9_.-]");
    if (typeof r.playlist !== "string" || !HEX64.test(r.playlist)) throw bad("rendition playlist must be a BLAKE3 hash");
    if (!uint(r.bandwidth)) throw bad("bandwidth must be a non-negative integer");
    if (typeof r.resolution !== "string" || !/^\d{1,5}x\d{1,5}$/.test(r.resolution)) throw bad("resolution must be WIDTHxHEIGHT");
    if (typeof r.ext !== "string" || !EXT.has(r.ext)) throw bad("ext must be ts, m4s, mp4 or aac");
    if (!Array.isArray(r.segments) || r.segments.length === 0) throw bad("a rendition needs segments");
    total += r.segments.length;
    if (total > FILM_LIMITS.segments) throw bad(`more than ${FILM_LIMITS.segments} segments`);
    for (const s of r.segments as Record<string, unknown>[]) {
      if (typeof s !== "object" || s === null || Object.keys(s).length !== 3 || typeof s.blake3 !== "string" || !HEX64.test(s.blake3) || !uint(s.size) || !uint(s.duration)) {
        throw bad("segment must be {blake3, size, duration}");
      }
    }
  }
}

/** Checks shape and the creator's Ed25519 signature; throws EventRejected("film" | "creator"). */
export function verifyFilm(s: unknown): SignedFilm {
  const o = s as Record<string, unknown>;
  if (typeof o !== "object" || o === null || Object.keys(o).length !== 2 || typeof o.sig !== "string" || !/^[0-9a-f]{128}$/.test(o.sig)) {
    throw new EventRejected("film", "film event content must be {film, sig}");
  }
  checkFilm(o.film);
  const film = o.film;
  const msg = message(film);
  const memo = `${o.sig}${createHash("sha256").update(msg).digest("hex")}`;
  if (!verifiedFilms.has(memo)) {
    if (!verify(unhex(o.sig, 64), msg, unhex(film.creator, 32))) throw new EventRejected("creator", `the creator's signature does not verify for film ${film.id}`);
    verifiedFilms.add(memo);
  }
  return { film, sig: o.sig };
}

/** The kind 30082 event template of a signed film (the node adds its binding tag when it signs). */
export function filmTemplate(s: SignedFilm, createdAt: number): EventTemplate {
  return {
    kind: KIND_FILM,
    created_at: createdAt,
    tags: [["d", s.film.id], ["c", s.film.creator], ["title", s.film.title], ["x", s.film.playlist]],
    content: JSON.stringify(s),
  };
}
