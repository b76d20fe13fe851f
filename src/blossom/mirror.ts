// BUD-04 mirror requests: the body's URL checked against blossom.mirror_hosts (never an open proxy), and which SHA-256
// the mirrored bytes must have.
import { BlossomError } from "./errors.ts";

/** Largest PUT /mirror body read (a JSON object with one URL). */
export const MAX_MIRROR_BODY = 4096;
/** Longest mirror URL accepted. */
export const MAX_MIRROR_URL = 2048;

const HEX64 = /^[0-9a-f]{64}$/;

/** True when `url`'s host is listed in `hosts` ("host" for any port, "host:port" for one). */
export function hostAllowed(url: URL, hosts: readonly string[]): boolean {
  const host = url.hostname.toLowerCase();
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return hosts.some((h) => {
    const entry = h.toLowerCase();
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(entry);
    if (!m) return false;
    return m[1] === host && (m[2] === undefined || m[2] === port);
  });
}

/** Parses a mirror request body and returns the origin URL, refusing anything but http(s) URLs on allowed hosts. */
export function mirrorUrl(body: string, hosts: readonly string[]): URL {
  if (hosts.length === 0) throw new BlossomError("mirror-off", "this server does not mirror blobs (blossom.mirror_hosts is empty)");
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (err) {
    throw new BlossomError("bad-body", 'the mirror request body must be JSON: {"url": "https://..."}', { cause: err });
  }
  const raw = parsed !== null && typeof parsed === "object" ? (parsed as { url?: unknown }).url : undefined;
  if (typeof raw !== "string" || raw.length === 0 || raw.length > MAX_MIRROR_URL) {
    throw new BlossomError("bad-url", `the mirror request needs "url": an http(s) URL of at most ${MAX_MIRROR_URL} characters`);
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch (err) {
    throw new BlossomError("bad-url", "the mirror URL does not parse", { cause: err });
  }
  checkOrigin(url, hosts);
  return url;
}

/** Refuses a URL (the request's, or a redirect's) that is not http(s) on an allowed host, or carries credentials. */
export function checkOrigin(url: URL, hosts: readonly string[]): void {
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new BlossomError("bad-url", `mirror URLs must be http or https, not ${url.protocol}`);
  if (url.username || url.password) throw new BlossomError("bad-url", "mirror URLs must not carry credentials");
  if (!hostAllowed(url, hosts)) throw new BlossomError("mirror-host", `${url.host} is not a host this server mirrors from (blossom.mirror_hosts)`);
}

/**
 * The SHA-256 the mirrored bytes must have: the X-SHA-256 header, else the last 64-hex run in the URL path (Blossom
 * URLs carry it), else undefined (then the authorization's single x tag decides).
 */
export function impliedSha256(url: URL, header: string | undefined): string | undefined {
  if (header !== undefined) {
    const h = header.trim().toLowerCase();
    if (!HEX64.test(h)) throw new BlossomError("bad-sha256", "X-SHA-256 must be 64 hex characters");
    return h;
  }
  const found = [...url.pathname.toLowerCase().matchAll(/[0-9a-f]{64}/g)];
  return found.at(-1)?.[0];
}
