// HLS media playlist (RFC 8216, no LL-HLS parts) rendered from a manifest; segment URIs name each segment's BLAKE3.
// Browser-safe.
import type { ManifestBody, SegmentEntry } from "./manifest.ts";

/** The default segment URI, relative to the playlist: "<blake3>.ts". */
export function segmentUri(e: SegmentEntry): string {
  return `${e.blake3}.ts`;
}

/** Renders index.m3u8 for a manifest. */
export function renderMediaPlaylist(m: ManifestBody, uri: (e: SegmentEntry) => string = segmentUri): string {
  const maxDur = m.segments.reduce((a, e) => Math.max(a, e.duration), 0);
  const target = Math.max(1, m.targetDuration, Math.ceil(maxDur / 1000));
  const lines = ["#EXTM3U", "#EXT-X-VERSION:3", `#EXT-X-TARGETDURATION:${target}`, `#EXT-X-MEDIA-SEQUENCE:${m.base}`];
  for (const e of m.segments) {
    if (e.disc) lines.push("#EXT-X-DISCONTINUITY");
    lines.push(`#EXTINF:${(e.duration / 1000).toFixed(3)},`, uri(e));
  }
  if (m.ended) lines.push("#EXT-X-ENDLIST");
  return `${lines.join("\n")}\n`;
}

/** The segment URIs of a media playlist, in order (for checking a playlist against its manifest). */
export function playlistUris(text: string, maxLines = 100_000): string[] {
  const lines = text.split(/\r?\n/, maxLines);
  if (lines[0]?.trim() !== "#EXTM3U") throw new RangeError("not an HLS playlist (no #EXTM3U)");
  return lines.map((l) => l.trim()).filter((l) => l.length > 0 && !l.startsWith("#"));
}
