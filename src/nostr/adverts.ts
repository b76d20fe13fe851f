// What the node announces on Nostr: its TollGate price advert from the pricing, its seed advert from the blobs it
// serves, and one NIP-53 live event per live path, updated when the path goes live and when it ends.
import type { Event } from "nostr-tools/pure";
import { liveTemplate, seedTemplate, signNodeEvent, tollgateTemplate, TOLLGATE_TIPS, type LiveStream, type Signer, type TollgateAdvert } from "./events.ts";

/** One MiB: the advert's step for byte-metered services. */
export const STEP_BYTES = 1024 * 1024;

/** The paid-service advert of the content-download price (sats per MiB) for every accepted mint, and the relay's. */
export function tollgateFromPricing(p: { ratePerMiB: number; unit: string; mints: readonly string[]; relay?: { endpoint: string; ratePerMiB: number } }): TollgateAdvert {
  return {
    ...(p.relay ? { relay: { endpoint: p.relay.endpoint, price: p.relay.ratePerMiB, unit: p.unit } } : {}),
    metric: "bytes",
    stepSize: STEP_BYTES,
    tips: [...TOLLGATE_TIPS],
    prices: p.mints.map((mint) => ({ price: p.ratePerMiB, unit: p.unit, mint, minSteps: 1 })),
  };
}

/** Where a publisher puts signed events (the relay pool). */
export interface EventSink {
  publish(event: Event): void;
}

const nowS = () => Math.floor(Date.now() / 1000);

/** Signs and publishes the node's adverts; keeps `created_at` strictly increasing so that relays replace the old one. */
export class NodePublisher {
  readonly #signer: Signer;
  readonly #sink: EventSink;
  #last = 0;

  constructor(signer: Signer, sink: EventSink) {
    this.#signer = signer;
    this.#sink = sink;
  }

  #at(): number {
    this.#last = Math.max(nowS(), this.#last + 1);
    return this.#last;
  }

  /** Publishes the kind 10021 advert. */
  tollgate(advert: TollgateAdvert): Event {
    const e = signNodeEvent(tollgateTemplate(advert, this.#at()), this.#signer);
    this.#sink.publish(e);
    return e;
  }

  /** Publishes the kind 30081 seed advert. */
  seeds(endpoint: string, hashes: readonly string[]): Event {
    const e = signNodeEvent(seedTemplate(endpoint, hashes, this.#at()), this.#signer);
    this.#sink.publish(e);
    return e;
  }

  /** Publishes a NIP-53 kind 30311 event. */
  live(stream: LiveStream): Event {
    const e = signNodeEvent(liveTemplate(stream, this.#at()), this.#signer);
    this.#sink.publish(e);
    return e;
  }

  /** Signs and publishes any template (film events, deletions). */
  publish(template: { kind: number; tags: string[][]; content: string }): Event {
    const e = signNodeEvent({ ...template, created_at: this.#at() }, this.#signer);
    this.#sink.publish(e);
    return e;
  }
}

/** Tracks live paths and publishes their NIP-53 events (bounded: at most `maxPaths` tracked at once). */
export class LiveAnnouncer {
  readonly #pub: NodePublisher;
  readonly #base: () => string;
  readonly #streams = new Map<string, LiveStream>();
  readonly #maxPaths: number;

  constructor(pub: NodePublisher, baseUrl: () => string, maxPaths = 256) {
    this.#pub = pub;
    this.#base = baseUrl;
    this.#maxPaths = maxPaths;
  }

  /** A path got a publisher: status live. */
  available(path: string, at = Date.now()): void {
    if (!this.#streams.has(path) && this.#streams.size >= this.#maxPaths) {
      // Forget the oldest ended stream first; if every tracked stream is live, this one is not announced.
      const ended = [...this.#streams.entries()].find(([, s]) => s.status === "ended");
      if (!ended) return;
      this.#streams.delete(ended[0]);
    }
    const base = this.#base().replace(/\/+$/, "");
    const enc = path.split("/").map(encodeURIComponent).join("/");
    const s: LiveStream = {
      path,
      title: path,
      streaming: `${base}/live/${enc}/index.m3u8`,
      announce: `${base}/live/${enc}/announce.json`,
      status: "live",
      starts: Math.floor(at / 1000),
    };
    this.#streams.set(path, s);
    this.#pub.live(s);
  }

  /** A path lost its publisher: status ended. */
  unavailable(path: string, at = Date.now()): void {
    const s = this.#streams.get(path);
    if (!s || s.status === "ended") return;
    const ended: LiveStream = { ...s, status: "ended", ends: Math.floor(at / 1000) };
    this.#streams.set(path, ended);
    this.#pub.live(ended);
  }
}
