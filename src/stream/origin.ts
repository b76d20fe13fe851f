// HLS origin answers for /live/<path>/...: index.m3u8, manifest.json, announce.json and hash-named segments from the
// blob store. Framework-free: returns {status, headers, body} for the HTTP layer to send.
import type { SegmentEntry } from "./manifest.ts";
import type { StreamIngest } from "./ingest.ts";
import { renderMediaPlaylist } from "./playlist.ts";

/** What the origin needs from the blob store. */
export interface SegmentReader {
  readAll(hash: string): Promise<Uint8Array>;
}

/** One origin answer. */
export interface OriginAnswer {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array | string;
}

const json = (v: unknown): string => `${JSON.stringify(v)}\n`;
const notFound = (msg: string): OriginAnswer => ({ status: 404, headers: { "content-type": "application/json", "cache-control": "no-store" }, body: json({ error: msg }) });

/** Splits "/live/<path>/<file>" into [path, file]; null when it is not an origin URL. */
export function parseLivePath(pathname: string): [string, string] | null {
  const m = /^\/live\/(.+)\/([^/]+)$/.exec(pathname);
  if (!m) return null;
  let path: string;
  try {
    path = decodeURIComponent(m[1]!);
  } catch {
    return null;
  }
  if (path.length > 256 || path.split("/").some((s) => s === "" || s === "." || s === "..")) return null;
  return [path, m[2]!];
}

/** Answers GET /live/<path>/<file>. Segments are served only while listed in the path's signed manifest. */
export async function originAnswer(ingest: StreamIngest, store: SegmentReader, path: string, file: string): Promise<OriginAnswer> {
  const sm = await ingest.manifest(path);
  if (!sm) return notFound(`no live stream '${path}'`);
  const live = { "cache-control": "no-cache", "access-control-allow-origin": "*" };
  if (file === "index.m3u8") {
    return { status: 200, headers: { "content-type": "application/vnd.apple.mpegurl", ...live }, body: renderMediaPlaylist(sm.manifest) };
  }
  if (file === "manifest.json") return { status: 200, headers: { "content-type": "application/json", ...live }, body: json(sm) };
  if (file === "announce.json") {
    const a = await ingest.announce(path);
    if (!a) return notFound(`no announce for '${path}' (this node does not hold the creator key)`);
    return { status: 200, headers: { "content-type": "application/json", ...live }, body: json(a) };
  }
  const m = /^([0-9a-f]{64})\.ts$/.exec(file);
  if (m) {
    const entry: SegmentEntry | undefined = sm.manifest.segments.find((e) => e.blake3 === m[1]);
    if (!entry) return notFound(`segment ${m[1]} is not in the live window of '${path}'`);
    const bytes = await store.readAll(entry.blake3);
    return {
      status: 200,
      headers: {
        "content-type": "video/mp2t",
        "cache-control": "public, max-age=31536000, immutable",
        etag: `"${entry.blake3}"`,
        "access-control-allow-origin": "*",
      },
      body: bytes,
    };
  }
  return notFound(`no such file '${file}'`);
}
