// Stream verifier: fetches announce, manifest, playlist and segments from an origin (or any peer) and checks every
// signature, the delegation window, the Merkle root and each segment's BLAKE3 and SHA-256; names the first failure.
// Browser-safe: fetch, WebCrypto, @noble/ed25519 and the WASM hashing core only (the player uses the same module).
import { readCapped } from "../net/capped.ts";
import { blake3 } from "../wasm/browser.ts";
import { StatementError, verifySignedAnnounce, verifySignedManifest, type SegmentEntry, type SignedAnnounce, type SignedManifest } from "./manifest.ts";
import { playlistUris, segmentUri } from "./playlist.ts";
import { hexOf, isHex32 } from "./signing.ts";

/** Stable names of what can fail, in the order they are checked. */
export type VerifyFailureCode =
  | "bad-input"
  | "announce-fetch"
  | "announce-structure"
  | "announce-creator"
  | "announce-signature"
  | "manifest-fetch"
  | "manifest-structure"
  | "manifest-sequence"
  | "manifest-creator"
  | "delegation-structure"
  | "delegation-creator"
  | "delegation-signature"
  | "delegation-stream"
  | "delegation-node"
  | "delegation-window"
  | "manifest-signature"
  | "merkle-root"
  | "stream-mismatch"
  | "playlist-fetch"
  | "playlist-mismatch"
  | "segment-fetch"
  | "segment-size"
  | "segment-blake3"
  | "segment-sha256";

/** The verifier's answer. */
export interface VerifyReport {
  ok: boolean;
  /** The first failure, when not ok. */
  failure?: { code: VerifyFailureCode; message: string };
  stream?: string;
  manifestVersion?: number;
  count?: number;
  root?: string;
  segmentsChecked: number;
}

/** A report with the documents it verified (when ok), for callers that go on using them (the browser player). */
export interface VerifiedStream {
  report: VerifyReport;
  announce?: SignedAnnounce;
  manifest?: SignedManifest;
}

/** Which digest a segment check computes: BLAKE3 (the WASM core), SHA-256 (WebCrypto), or both. */
export type SegmentHash = "blake3" | "sha256" | "both";

/**
 * Checks segment bytes against their signed manifest entry: size, then BLAKE3 and/or SHA-256. Returns the failure, or
 * null when the bytes are the segment.
 */
export async function checkSegment(e: SegmentEntry, bytes: Uint8Array, hash: SegmentHash = "both"): Promise<{ code: VerifyFailureCode; message: string } | null> {
  if (bytes.byteLength !== e.size) return { code: "segment-size", message: `segment ${e.seq} (${e.blake3}) is ${bytes.byteLength} bytes, manifest says ${e.size}` };
  if (hash !== "sha256") {
    const b3 = hexOf(blake3(bytes));
    if (b3 !== e.blake3) return { code: "segment-blake3", message: `segment ${e.seq}: BLAKE3 is ${b3}, manifest says ${e.blake3}` };
  }
  if (hash !== "blake3") {
    const sha = hexOf(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>)));
    if (sha !== e.sha256) return { code: "segment-sha256", message: `segment ${e.seq}: SHA-256 is ${sha}, manifest says ${e.sha256}` };
  }
  return null;
}

export interface VerifyOptions {
  /** The creator's Ed25519 public key (64 hex chars): the only trust anchor. */
  creator: string;
  /** How many of the newest listed segments to fetch and hash (default: all listed). */
  segments?: number;
  fetch?: typeof fetch;
  /** Per-request timeout. Default 15 s. */
  timeoutMs?: number;
  /** Largest announce/manifest/playlist accepted. Default 4 MiB. */
  maxDocumentBytes?: number;
  signal?: AbortSignal;
}

class Fail extends Error {
  readonly code: VerifyFailureCode;
  constructor(code: VerifyFailureCode, message: string) {
    super(message);
    this.code = code;
  }
}

async function readBounded(res: Response, max: number, what: string, code: VerifyFailureCode): Promise<Uint8Array> {
  const bytes = await readCapped(res, max);
  if (!bytes) throw new Fail(code, `${what}: more than the ${max} byte limit`);
  return bytes;
}

/**
 * Verifies the stream published at `baseUrl` (the directory holding announce.json, manifest.json and index.m3u8, e.g.
 * "http://node:8080/live/cam/"). Never throws for verification failures: the report names the first one.
 */
export async function verifyStream(baseUrl: string, opts: VerifyOptions): Promise<VerifyReport> {
  return (await verifyStreamDocuments(baseUrl, opts)).report;
}

/** verifyStream, also returning the announce and manifest it verified (when ok). */
export async function verifyStreamDocuments(baseUrl: string, opts: VerifyOptions): Promise<VerifiedStream> {
  const out: VerifiedStream = { report: { ok: false, segmentsChecked: 0 } };
  try {
    await run(baseUrl, opts, out);
    out.report.ok = true;
  } catch (e) {
    delete out.announce;
    delete out.manifest;
    if (e instanceof Fail) out.report.failure = { code: e.code, message: e.message };
    else if (e instanceof StatementError) out.report.failure = { code: e.code as VerifyFailureCode, message: e.message };
    else throw e;
  }
  return out;
}

async function run(baseUrl: string, opts: VerifyOptions, out: VerifiedStream): Promise<void> {
  const report = out.report;
  if (!isHex32(opts.creator)) throw new Fail("bad-input", "creator must be a 64-hex Ed25519 public key");
  let base: URL;
  try {
    base = new URL(baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`);
  } catch {
    throw new Fail("bad-input", `'${baseUrl}' is not a URL`);
  }
  if (opts.segments !== undefined && !(Number.isInteger(opts.segments) && opts.segments >= 0)) {
    throw new Fail("bad-input", "segments must be a non-negative integer");
  }
  const f = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const maxDoc = opts.maxDocumentBytes ?? 4 * 1024 * 1024;
  const get = async (url: URL, what: string, code: VerifyFailureCode, max: number, sizeCode: VerifyFailureCode = code): Promise<Uint8Array> => {
    const t = AbortSignal.timeout(timeoutMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, t]) : t;
    let res: Response;
    try {
      res = await f(url, { signal, redirect: "follow" });
    } catch (e) {
      throw new Fail(code, `${what}: fetching ${url} failed: ${(e as Error).message}`);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new Fail(code, `${what}: ${url} answered HTTP ${res.status}`);
    }
    try {
      return await readBounded(res, max, what, sizeCode);
    } catch (e) {
      if (e instanceof Fail) throw e;
      throw new Fail(code, `${what}: reading ${url} failed: ${(e as Error).message}`);
    }
  };
  const getJson = async <T>(name: string, code: VerifyFailureCode): Promise<T> => {
    const bytes = await get(new URL(name, base), name, code, maxDoc);
    try {
      return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) as T;
    } catch {
      throw new Fail(code, `${name} is not UTF-8 JSON`);
    }
  };

  const announce = await getJson<SignedAnnounce>("announce.json", "announce-fetch");
  verifySignedAnnounce(announce, opts.creator);
  const rendition = announce.announce.renditions[0]!;
  if (typeof rendition.manifest !== "string" || typeof rendition.playlist !== "string") {
    throw new Fail("announce-structure", "rendition names no manifest/playlist");
  }
  const manifestUrl = new URL(rendition.manifest, base);
  if (manifestUrl.origin !== base.origin) throw new Fail("announce-structure", "the manifest must be on the same origin");
  const sm = JSON.parse(new TextDecoder().decode(await get(manifestUrl, "manifest", "manifest-fetch", maxDoc))) as SignedManifest;
  verifySignedManifest(sm, opts.creator);
  const m = sm.manifest;
  if (m.stream !== announce.announce.stream) throw new Fail("stream-mismatch", `manifest is for '${m.stream}', announce for '${announce.announce.stream}'`);
  report.stream = m.stream;
  report.manifestVersion = m.version;
  report.count = m.count;
  report.root = m.root;
  out.announce = announce;
  out.manifest = sm;

  const playlistUrl = new URL(rendition.playlist, base);
  const text = new TextDecoder().decode(await get(playlistUrl, "playlist", "playlist-fetch", maxDoc));
  let uris: string[];
  try {
    uris = playlistUris(text);
  } catch (e) {
    throw new Fail("playlist-mismatch", `index.m3u8: ${(e as Error).message}`);
  }
  // The playlist may be a newer or older state than the manifest; every segment it lists must be in the manifest's
  // window with the same hash-named URI, and every URI must name a BLAKE3.
  const listed = new Map(m.segments.map((e) => [new URL(segmentUri(e), playlistUrl).href, e]));
  const overlap = uris.filter((u) => listed.has(new URL(u, playlistUrl).href));
  if (m.segments.length > 0 && uris.length > 0 && overlap.length === 0) {
    throw new Fail("playlist-mismatch", "index.m3u8 lists none of the manifest's segments");
  }
  for (const u of uris) {
    const name = new URL(u, playlistUrl).pathname.split("/").pop() ?? "";
    if (!/^[0-9a-f]{64}\.ts$/.test(name)) throw new Fail("playlist-mismatch", `playlist URI '${u.slice(0, 100)}' does not name a BLAKE3`);
  }

  const n = Math.min(opts.segments ?? m.segments.length, m.segments.length);
  const toCheck = m.segments.slice(m.segments.length - n);
  for (const e of toCheck) {
    const url = new URL(segmentUri(e), playlistUrl);
    const bytes = await get(url, `segment ${e.seq}`, "segment-fetch", e.size, "segment-size");
    const bad = await checkSegment(e, bytes);
    if (bad) throw new Fail(bad.code, bad.message);
    report.segmentsChecked++;
  }
}
