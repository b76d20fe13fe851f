// Event shapes the node publishes (10021 TollGate advert, 30081 seed advert, NIP-53 30311 live event) and the bounded
// check every received event passes before use (shape, size, Nostr id and signature, optional binding tag).
import { finalizeEvent, getEventHash, verifyEvent, type Event } from "nostr-tools/pure";
import { bindingTag, verifyBinding } from "./binding.ts";
import { EventRejected } from "./errors.ts";
import type { NostrKey } from "./keys.ts";
import { verifiedSchnorr } from "./verified.ts";

/** TollGate paid-service advert (replaceable, one per pubkey). */
export const KIND_TOLLGATE = 10021;
/** Seed advert: the BLAKE3 hashes a node serves and its endpoint (addressable, d = "seeds"). */
export const KIND_SEEDS = 30081;
/** Film catalog entry (addressable, d = film id). */
export const KIND_FILM = 30082;
/** NIP-53 live event (addressable, d = path). */
export const KIND_LIVE = 30311;
/** NIP-09 deletion request. */
export const KIND_DELETION = 5;

/** An unsigned event: what the builders return. */
export interface EventTemplate {
  kind: number;
  created_at: number;
  tags: string[][];
  content: string;
}

/** Who signs: the node's Nostr key and its Ed25519 identity (for the binding tag). */
export interface Signer {
  key: NostrKey;
  nodeId: string;
  nodeSecret: Uint8Array;
}

/** Adds the binding tag and signs a template with the node's Nostr key. */
export function signNodeEvent(template: EventTemplate, signer: Signer): Event {
  const tags = [...template.tags.filter((t) => t[0] !== "slowdrip"), bindingTag(signer.nodeId, signer.nodeSecret, signer.key.pubkey)];
  return finalizeEvent({ ...template, tags }, signer.key.secretKey);
}

/** One accepted mint of a TollGate advert. */
export interface TollgatePrice {
  /** Sats (or `unit`) per step. */
  price: number;
  unit: string;
  mint: string;
  minSteps: number;
}

/** What a kind 10021 advert says. */
export interface TollgateAdvert {
  /** "bytes" or "milliseconds". */
  metric: string;
  stepSize: number;
  /** TollGate improvement proposals the service follows. */
  tips: string[];
  prices: TollgatePrice[];
  /** The single-hop paid relay, when the node runs one: `["relay", <endpoint>/relay, price per step, unit]`. */
  relay?: { endpoint: string; price: number; unit: string };
}

/** TIPs the node's advert names (TIP-01 advertisement, TIP-02 Cashu payments, TIP-03 HTTP 402). */
export const TOLLGATE_TIPS = ["1", "2", "3"];

/** The kind 10021 template in TollGate's tag shape: `metric`, `step_size`, `tips`, one `price_per_step` per mint. */
export function tollgateTemplate(advert: TollgateAdvert, createdAt: number): EventTemplate {
  return {
    kind: KIND_TOLLGATE,
    created_at: createdAt,
    tags: [
      ["metric", advert.metric],
      ["step_size", String(advert.stepSize)],
      ["tips", ...advert.tips],
      ...advert.prices.map((p) => ["price_per_step", "cashu", String(p.price), p.unit, p.mint, String(p.minSteps)]),
      ...(advert.relay ? [["relay", advert.relay.endpoint, String(advert.relay.price), advert.relay.unit]] : []),
    ],
    content: "",
  };
}

const UINT = /^(0|[1-9][0-9]{0,15})$/;

/** Parses a kind 10021 event's tags in TollGate's shape; throws EventRejected("shape") when they do not fit it. */
export function parseTollgate(event: { kind: number; tags: string[][] }): TollgateAdvert {
  const bad = (m: string) => new EventRejected("shape", `kind 10021: ${m}`);
  if (event.kind !== KIND_TOLLGATE) throw bad(`wrong kind ${event.kind}`);
  const one = (name: string) => {
    const t = event.tags.filter((x) => x[0] === name);
    if (t.length !== 1) throw bad(`expected one ${name} tag, found ${t.length}`);
    return t[0]!;
  };
  const metric = one("metric")[1];
  if (metric !== "bytes" && metric !== "milliseconds") throw bad(`metric must be bytes or milliseconds, got ${String(metric)}`);
  const step = one("step_size")[1] ?? "";
  if (!UINT.test(step) || Number(step) === 0) throw bad("step_size must be a positive integer");
  const tips = one("tips").slice(1);
  const prices = event.tags
    .filter((t) => t[0] === "price_per_step")
    .map((t) => {
      if (t.length !== 6 || t[1] !== "cashu" || !UINT.test(t[2]!) || !t[3] || !/^https?:\/\//.test(t[4]!) || !UINT.test(t[5]!)) {
        throw bad(`malformed price_per_step tag ${JSON.stringify(t)}`);
      }
      return { price: Number(t[2]), unit: t[3]!, mint: t[4]!, minSteps: Number(t[5]) };
    });
  if (prices.length === 0) throw bad("no price_per_step tag");
  const relays = event.tags.filter((t) => t[0] === "relay");
  if (relays.length > 1) throw bad(`expected at most one relay tag, found ${relays.length}`);
  const r = relays[0];
  if (r && (r.length !== 4 || !/^https?:\/\/[^\s]+$/.test(r[1]!) || !UINT.test(r[2]!) || !r[3])) throw bad(`malformed relay tag ${JSON.stringify(r)}`);
  return { metric, stepSize: Number(step), tips, prices, ...(r ? { relay: { endpoint: r[1]!, price: Number(r[2]), unit: r[3]! } } : {}) };
}

/** The kind 30081 seed advert: `d` = "seeds", `endpoint`, one `x` tag per BLAKE3 hash served. */
export function seedTemplate(endpoint: string, hashes: readonly string[], createdAt: number): EventTemplate {
  return { kind: KIND_SEEDS, created_at: createdAt, tags: [["d", "seeds"], ["endpoint", endpoint], ...hashes.map((h) => ["x", h])], content: "" };
}

/** A NIP-53 live stream as the node announces it. */
export interface LiveStream {
  path: string;
  title: string;
  /** The node's `/live/<path>/index.m3u8`. */
  streaming: string;
  /** The creator-signed STREAM_ANNOUNCE, `/live/<path>/announce.json`. */
  announce: string;
  status: "live" | "ended";
  /** Unix seconds the stream went live. */
  starts: number;
  /** Unix seconds it ended (status ended). */
  ends?: number;
}

/** The NIP-53 kind 30311 template of a live stream. */
export function liveTemplate(s: LiveStream, createdAt: number): EventTemplate {
  const tags = [["d", s.path], ["title", s.title], ["streaming", s.streaming], ["status", s.status], ["starts", String(s.starts)]];
  if (s.ends !== undefined) tags.push(["ends", String(s.ends)]);
  tags.push(["announce", s.announce]);
  return { kind: KIND_LIVE, created_at: createdAt, tags, content: "" };
}

/** Bounds of {@link checkEvent}. */
export interface EventLimits {
  /** Most tags an event may carry. */
  maxTags: number;
  /** Longest tag value or content, in characters. */
  maxFieldChars: number;
  /** How far ahead of this clock created_at may be, in seconds. */
  maxFutureSkew: number;
  /** Also require and check the binding tag. */
  binding: boolean;
}

/** Defaults of {@link EventLimits}. */
export const DEFAULT_EVENT_LIMITS: EventLimits = { maxTags: 5000, maxFieldChars: 64 * 1024, maxFutureSkew: 600, binding: true };

const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-f]{128}$/;

/** A received event after {@link checkEvent}: shape, id and Nostr signature checked; `node` when the binding was checked. */
export type CheckedEvent = Event & { node?: string };

/**
 * Checks an untrusted event: shape within bounds, id and Schnorr signature (nostr-tools verifyEvent), created_at not
 * in the future, and (when `limits.binding`) the binding tag. Throws EventRejected with a reason code.
 */
export function checkEvent(raw: unknown, limits: EventLimits = DEFAULT_EVENT_LIMITS, now = Math.floor(Date.now() / 1000)): CheckedEvent {
  const e = raw as Record<string, unknown>;
  const shape = (m: string) => new EventRejected("shape", m);
  if (typeof e !== "object" || e === null) throw shape("not an object");
  if (typeof e.id !== "string" || !HEX64.test(e.id)) throw shape("bad id");
  if (typeof e.pubkey !== "string" || !HEX64.test(e.pubkey)) throw shape("bad pubkey");
  if (typeof e.sig !== "string" || !HEX128.test(e.sig)) throw shape("bad sig");
  if (!Number.isSafeInteger(e.kind) || (e.kind as number) < 0 || (e.kind as number) > 65535) throw shape("bad kind");
  if (!Number.isSafeInteger(e.created_at) || (e.created_at as number) < 0) throw shape("bad created_at");
  if (typeof e.content !== "string" || e.content.length > limits.maxFieldChars) throw shape("bad or oversized content");
  if (!Array.isArray(e.tags) || e.tags.length > limits.maxTags) throw shape("bad or too many tags");
  for (const t of e.tags as unknown[]) {
    if (!Array.isArray(t) || t.length === 0 || t.length > 16 || !t.every((v) => typeof v === "string" && v.length <= limits.maxFieldChars)) throw shape("bad tag");
  }
  if ((e.created_at as number) > now + limits.maxFutureSkew) throw new EventRejected("future", "created_at is in the future");
  const event = { id: e.id, pubkey: e.pubkey, sig: e.sig, kind: e.kind as number, created_at: e.created_at as number, content: e.content, tags: e.tags as string[][] } as Event;
  // An (id, pubkey, sig) verified before needs only its id checked against the content (a SHA-256).
  const memo = `${event.id}${event.pubkey}${event.sig}`;
  if (verifiedSchnorr.has(memo)) {
    if (getEventHash(event) !== event.id) throw new EventRejected("signature", "the event's id does not match its content");
  } else {
    if (!verifyEvent(event)) throw new EventRejected("signature", "the event's id or Schnorr signature does not verify");
    verifiedSchnorr.add(memo);
  }
  if (!limits.binding) return event;
  return Object.assign(event, { node: verifyBinding(event) });
}

/** The `d` tag's value of an addressable event ("" when none). */
export function dTag(e: { tags: string[][] }): string {
  return e.tags.find((t) => t[0] === "d")?.[1] ?? "";
}
