// Conditional requests on immutable blobs (RFC 9110 §13): If-None-Match by weak comparison, If-Range by strong comparison.

/** The parsed value of an entity-tag list header: `*`, or the listed tags; undefined when the value is not valid. */
export type EntityTags = { any: true } | { any: false; tags: { weak: boolean; opaque: string }[] };

/** True for etagc (RFC 9110 §8.8.3): %x21 / %x23-7E / obs-text. */
const isEtagChar = (c: number) => c === 0x21 || (c >= 0x23 && c <= 0x7e) || (c >= 0x80 && c <= 0xff);
const isOws = (c: number) => c === 0x20 || c === 0x09;

/**
 * Parses `"*" / #entity-tag` (RFC 9110 §13.1.2), where entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE and list elements
 * are separated by commas with optional whitespace (empty elements allowed, RFC 9110 §5.6.1). Anything else, including
 * `*` inside a list, is not valid and gives undefined: a recipient then ignores the header.
 */
export function parseEntityTags(value: string): EntityTags | undefined {
  if (value.trim() === "*") return { any: true };
  const tags: { weak: boolean; opaque: string }[] = [];
  let i = 0;
  const n = value.length;
  for (;;) {
    while (i < n && (isOws(value.charCodeAt(i)) || value[i] === ",")) i++;
    if (i >= n) break;
    let weak = false;
    if (value.startsWith("W/", i)) {
      weak = true;
      i += 2;
    }
    if (value[i] !== '"') return undefined;
    const start = ++i;
    while (i < n && isEtagChar(value.charCodeAt(i))) i++;
    if (value[i] !== '"') return undefined;
    tags.push({ weak, opaque: value.slice(start, i) });
    i++;
    while (i < n && isOws(value.charCodeAt(i))) i++;
    if (i < n && value[i] !== ",") return undefined;
  }
  return tags.length > 0 ? { any: false, tags } : undefined;
}

/**
 * If-None-Match against a representation that exists with the strong tag `"opaque"`: true when the condition is false,
 * i.e. the answer to a GET or HEAD is 304. `*` matches; listed tags match by weak comparison (`W/"x"` matches `"x"`).
 * A missing or invalid header never matches.
 */
export function ifNoneMatchHits(header: string | undefined, opaque: string): boolean {
  if (header === undefined) return false;
  const t = parseEntityTags(header);
  if (t === undefined) return false;
  return t.any || t.tags.some((x) => x.opaque === opaque);
}

/**
 * If-Range (RFC 9110 §13.1.5): true when the Range header may be honoured. Without If-Range it may; with it, only when
 * it is exactly one strong entity tag equal to ours (strong comparison: a weak tag or an HTTP date never matches, as
 * blobs carry no Last-Modified).
 */
export function ifRangeAllows(header: string | undefined, opaque: string): boolean {
  if (header === undefined) return true;
  const t = parseEntityTags(header);
  return t !== undefined && !t.any && t.tags.length === 1 && !t.tags[0]!.weak && t.tags[0]!.opaque === opaque;
}
