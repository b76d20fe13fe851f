// Blossom authorization (BUD-11): the kind 24242 Nostr event in `Authorization: Nostr <base64>`, decoded within
// bounds and checked (signature, verb, expiration, issue time, server and blob scope) before anything is done.
import { verifyEvent, type Event } from "nostr-tools/pure";
import { BlossomError } from "./errors.ts";

/** Kind of Blossom authorization events. */
export const AUTH_KIND = 24242;
/** Largest `Authorization` header value accepted (the base64 text), in bytes. */
export const MAX_AUTH_HEADER = 8 * 1024;
/** Most tags an authorization event may carry. */
export const MAX_AUTH_TAGS = 256;
/** How far ahead of this node's clock an event's `created_at` may be (clock skew), in seconds. */
export const MAX_FUTURE_SKEW_S = 60;

/** Actions an authorization event names in its `t` tag. */
export type AuthVerb = "get" | "upload" | "list" | "delete" | "media";

/** A checked authorization. */
export interface BlossomAuth {
  /** The signer (64 lowercase hex). */
  pubkey: string;
  /** Its `x` tags that are well-formed SHA-256 hashes, in order, without repeats. */
  x: string[];
  /** Its `expiration`, Unix seconds. */
  expiration: number;
  /** The event id. */
  id: string;
}

/** What the endpoint needs the event to allow. */
export interface AuthCheck {
  verb: AuthVerb;
  /** This server's names (lowercase host names); a `server` tag must name one of them when the event has any. */
  serverNames: readonly string[];
  /** The blob the endpoint acts on, when known; an event with `x` tags must name it. */
  sha256?: string;
  /** The endpoint requires an `x` tag (upload, delete, mirror): one naming `sha256`, or any when it is not known yet. */
  requireX?: boolean;
  /** Current time, Unix seconds (default: the clock). */
  now?: number;
}

const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-f]{128}$/;
const fatal = new TextDecoder("utf-8", { fatal: true });

function fail(reason: ConstructorParameters<typeof BlossomError>[0], message: string, cause?: unknown): never {
  throw new BlossomError(reason, message, cause === undefined ? undefined : { cause });
}

/**
 * Decodes the token of `Authorization: Nostr <token>`: base64url without padding (what BUD-11 specifies) or standard
 * base64 (padded or not), strictly (no stray characters, no mixed alphabets), then UTF-8 JSON.
 */
export function decodeAuthHeader(header: string | undefined): unknown {
  if (header === undefined || header.trim() === "") fail("auth-missing", 'this endpoint needs "Authorization: Nostr <base64 kind 24242 event>" (BUD-11)');
  if (header.length > MAX_AUTH_HEADER) fail("auth-too-large", `the Authorization header is ${header.length} bytes; at most ${MAX_AUTH_HEADER} are accepted`);
  const m = /^\s*Nostr\s+(\S+)\s*$/i.exec(header);
  if (!m) fail("auth-scheme", 'the Authorization header must use the Nostr scheme: "Nostr <base64 event>"');
  const token = m[1]!;
  const url = /^[A-Za-z0-9_-]+$/.test(token);
  const std = /^[A-Za-z0-9+/]+={0,2}$/.test(token);
  if ((!url && !std) || token.length % 4 === 1 || (token.includes("=") && token.length % 4 !== 0)) {
    fail("auth-encoding", "the Authorization token is neither base64url (unpadded) nor standard base64");
  }
  const bytes = Buffer.from(token, url ? "base64url" : "base64");
  let json: string;
  try {
    json = fatal.decode(bytes);
  } catch (err) {
    fail("auth-encoding", "the Authorization token does not decode to UTF-8 text", err);
  }
  try {
    return JSON.parse(json);
  } catch (err) {
    fail("auth-malformed", "the Authorization token does not decode to a JSON Nostr event", err);
  }
}

function tagValues(tags: readonly string[][], name: string): string[] {
  return tags.filter((t) => t[0] === name && t.length >= 2).map((t) => t[1]!);
}

/** Checks the event's shape (NIP-01 fields, bounded) and returns it typed. */
function shape(v: unknown): Event {
  if (v === null || typeof v !== "object" || Array.isArray(v)) fail("auth-malformed", "the authorization is not a JSON object");
  const e = v as Record<string, unknown>;
  if (e.sig === undefined || e.sig === "") fail("auth-unsigned", "the authorization event is not signed (no sig)");
  const bad = (field: string, want: string) => fail("auth-malformed", `the authorization event's ${field} must be ${want}`);
  if (typeof e.id !== "string" || !HEX64.test(e.id)) bad("id", "64 lowercase hex characters");
  if (typeof e.pubkey !== "string" || !HEX64.test(e.pubkey)) bad("pubkey", "64 lowercase hex characters");
  if (typeof e.sig !== "string" || !HEX128.test(e.sig)) bad("sig", "128 lowercase hex characters");
  if (typeof e.kind !== "number" || !Number.isSafeInteger(e.kind)) bad("kind", "an integer");
  if (typeof e.created_at !== "number" || !Number.isSafeInteger(e.created_at) || e.created_at < 0) bad("created_at", "a Unix time in seconds");
  if (typeof e.content !== "string") bad("content", "a string");
  if (!Array.isArray(e.tags) || e.tags.length > MAX_AUTH_TAGS) bad("tags", `a list of at most ${MAX_AUTH_TAGS} tags`);
  for (const t of e.tags as unknown[]) {
    if (!Array.isArray(t) || t.length === 0 || t.length > 16 || !t.every((x) => typeof x === "string")) bad("tags", "lists of 1..16 strings");
  }
  return e as unknown as Event;
}

/**
 * Decodes and checks an authorization header for one endpoint (the BUD-11 validation list, plus bounds and the
 * signature). Throws BlossomError naming the failed check; returns the signer and scope.
 */
export function checkAuth(header: string | undefined, check: AuthCheck): BlossomAuth {
  const event = shape(decodeAuthHeader(header));
  const now = check.now ?? Math.floor(Date.now() / 1000);
  if (event.kind !== AUTH_KIND) fail("auth-kind", `the authorization event has kind ${event.kind}; Blossom needs kind ${AUTH_KIND}`);
  let valid = false;
  try {
    valid = verifyEvent(event);
  } catch {
    valid = false;
  }
  if (!valid) fail("auth-signature", "the authorization event's id or signature does not verify");
  if (event.created_at > now + MAX_FUTURE_SKEW_S) {
    fail("auth-future", `the authorization event was issued ${event.created_at - now} s in the future (this node allows ${MAX_FUTURE_SKEW_S} s of clock skew)`);
  }
  const exp = tagValues(event.tags, "expiration");
  if (exp.length !== 1 || !/^\d{1,12}$/.test(exp[0]!)) fail("auth-expiration", "the authorization event needs one expiration tag with a Unix time (NIP-40)");
  const expiration = Number(exp[0]);
  if (expiration <= now) fail("auth-expired", `the authorization event expired ${now - expiration} s ago`);
  const verb = tagValues(event.tags, "t")[0];
  if (verb !== check.verb) fail("auth-verb", `the authorization event is for "${verb ?? "(no t tag)"}"; this endpoint needs t=${check.verb}`);
  const servers = tagValues(event.tags, "server").map((s) => s.toLowerCase());
  if (servers.length > 0 && !servers.some((s) => check.serverNames.includes(s))) {
    fail("auth-server", `the authorization event is scoped to other servers; this one is ${check.serverNames.join(", ") || "(unnamed)"}`);
  }
  const x = [...new Set(tagValues(event.tags, "x").filter((h) => HEX64.test(h)))];
  if (check.sha256 !== undefined && (x.length > 0 || check.requireX) && !x.includes(check.sha256)) {
    fail("auth-x", `the authorization event does not name blob ${check.sha256} in an x tag`);
  }
  if (check.requireX && x.length === 0) fail("auth-x", "the authorization event needs an x tag naming the blob's SHA-256");
  return { pubkey: event.pubkey, x, expiration, id: event.id };
}
