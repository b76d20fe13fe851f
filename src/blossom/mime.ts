// MIME types of Blossom blobs: the declared type checked and normalised, the allow-list, and the file extension
// a descriptor URL carries (and the type an extension implies when the upload named none).

/** What an unknown type is served and described as. */
export const DEFAULT_TYPE = "application/octet-stream";

// A short table of what Nostr apps store; anything else is served under the type its upload declared.
const BY_EXT: Readonly<Record<string, string>> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  avif: "image/avif",
  svg: "image/svg+xml",
  bmp: "image/bmp",
  ico: "image/x-icon",
  heic: "image/heic",
  mp4: "video/mp4",
  m4v: "video/mp4",
  webm: "video/webm",
  mov: "video/quicktime",
  mkv: "video/x-matroska",
  ts: "video/mp2t",
  m3u8: "application/vnd.apple.mpegurl",
  mp3: "audio/mpeg",
  m4a: "audio/mp4",
  ogg: "audio/ogg",
  opus: "audio/opus",
  wav: "audio/wav",
  flac: "audio/flac",
  aac: "audio/aac",
  pdf: "application/pdf",
  json: "application/json",
  txt: "text/plain",
  md: "text/markdown",
  html: "text/html",
  css: "text/css",
  js: "text/javascript",
  csv: "text/csv",
  xml: "application/xml",
  zip: "application/zip",
  gz: "application/gzip",
  tar: "application/x-tar",
  wasm: "application/wasm",
  epub: "application/epub+zip",
  bin: DEFAULT_TYPE,
};

const EXT_BY_TYPE: Readonly<Record<string, string>> = (() => {
  const out: Record<string, string> = {};
  for (const [ext, type] of Object.entries(BY_EXT)) out[type] ??= ext;
  return out;
})();

const TOKEN = "[a-z0-9][a-z0-9!#$&^_.+-]{0,126}";
const TYPE = new RegExp(`^${TOKEN}/${TOKEN}$`);

/**
 * The media type of a Content-Type header, lowercased and without parameters ("image/png; x=y" -> "image/png"), or
 * undefined when absent. Throws RangeError for one that is not type/subtype (the caller answers 400).
 */
export function parseType(header: string | undefined): string | undefined {
  if (header === undefined || header.trim() === "") return undefined;
  if (header.length > 256) throw new RangeError("the content type is longer than 256 characters");
  const t = header.split(";")[0]!.trim().toLowerCase();
  if (!TYPE.test(t)) throw new RangeError(`"${t.slice(0, 64)}" is not a MIME type (type/subtype)`);
  return t;
}

/** True when `type` is allowed by `allowed` (exact types or "type/*"); an empty list allows every type. */
export function typeAllowed(type: string, allowed: readonly string[]): boolean {
  if (allowed.length === 0) return true;
  const major = type.split("/")[0];
  return allowed.some((a) => a === type || (a.endsWith("/*") && a.slice(0, -2) === major));
}

/** The type a URL extension (without the dot, any case) implies, if it is a known one. */
export function typeOfExtension(ext: string | undefined): string | undefined {
  return ext === undefined ? undefined : BY_EXT[ext.toLowerCase()];
}

/** The extension a descriptor URL gets for a type (".bin" for types without a known one). */
export function extensionOf(type: string): string {
  return `.${EXT_BY_TYPE[type] ?? "bin"}`;
}
