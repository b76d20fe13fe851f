// Relay pool: one WebSocket per relay with reconnect back-off; publishes the node's current events to every relay with
// retry and back-off (re-sent on every reconnect); subscriptions re-subscribe; every frame and event is bounded and
// every event verified (Nostr signature, binding tag) before a handler sees it.
import type { Event } from "nostr-tools/pure";
import { checkEvent, dTag, type CheckedEvent, type EventLimits } from "./events.ts";
import { EventRejected } from "./errors.ts";

/** A Nostr filter (NIP-01). */
export type Filter = { ids?: string[]; authors?: string[]; kinds?: number[]; since?: number; until?: number; limit?: number } & Record<`#${string}`, string[]>;

/** Logging the pool needs. */
export interface PoolLog {
  debug(o: object, m: string): void;
  info(o: object, m: string): void;
  warn(o: object, m: string): void;
}

/** Options of {@link RelayPool}. */
export interface PoolOptions {
  /** ws:// or wss:// relay URLs. */
  relays: readonly string[];
  /** Connect and publish-acknowledgement timeout, ms. */
  timeoutMs: number;
  /** Largest relay frame read (an EVENT frame holds one event), in bytes; larger frames are dropped unread. */
  maxFrameBytes: number;
  /** Most events one subscription takes from one relay per (re)subscription; the rest are dropped and the REQ closed. */
  maxEventsPerSubscription: number;
  /** Most subscriptions open at once. */
  maxSubscriptions: number;
  /** Bounds and binding requirement of received events. */
  limits: EventLimits;
  /** Back-off between reconnects and publish retries, ms: doubles from min up to max. */
  backoffMinMs: number;
  backoffMaxMs: number;
  log: PoolLog;
  /** Called for every event or frame refused (reason: size, shape, signature, binding, future, count). */
  onReject?(reason: string, relay: string): void;
  /** Called when a relay acknowledges (ok) or refuses one of our events. */
  onPublish?(relay: string, ok: boolean): void;
}

/** An open subscription. */
export interface Subscription {
  close(): void;
}

interface Sub {
  id: string;
  filters: Filter[];
  onEvent: (e: CheckedEvent, relay: string) => void;
  onEose?: (relay: string) => void;
  verify?: (e: CheckedEvent) => void;
}

/** The replaceable address of an event: kind, plus `d` for addressable kinds; regular events use their id. */
export function addressOf(e: { kind: number; id: string; tags: string[][] }): string {
  if (e.kind >= 30000 && e.kind < 40000) return `${e.kind}:${dTag(e)}`;
  if ((e.kind >= 10000 && e.kind < 20000) || e.kind === 0 || e.kind === 3) return `${e.kind}`;
  return e.id;
}

const sleepMs = (min: number, max: number, attempt: number) => Math.min(max, min * 2 ** Math.min(attempt, 20)) * (0.75 + Math.random() * 0.5);

/** Reasons a relay gives (NIP-01 OK prefixes) after which sending the same event again is pointless. */
const FINAL = /^(invalid|blocked|pow|restricted|duplicate|mute):/;

class RelayConn {
  readonly url: string;
  #pool: RelayPool;
  #ws: WebSocket | undefined;
  #open = false;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** address -> id of the event this relay acknowledged (or refused for good). */
  readonly done = new Map<string, string>();
  /** address -> earliest retry time and attempts so far. */
  readonly retry = new Map<string, { at: number; attempts: number }>();
  #inflight: { address: string; id: string; timer: NodeJS.Timeout } | undefined;
  #counts = new Map<string, number>();

  constructor(url: string, pool: RelayPool) {
    this.url = url;
    this.#pool = pool;
  }

  get connected(): boolean {
    return this.#open;
  }

  start(): void {
    if (this.#closed) return;
    const o = this.#pool.opts;
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      o.log.warn({ relay: this.url, err: (err as Error).message }, "nostr: cannot open relay connection");
      this.#scheduleReconnect();
      return;
    }
    this.#ws = ws;
    const connectTimer = setTimeout(() => ws.close(), o.timeoutMs);
    ws.onopen = () => {
      clearTimeout(connectTimer);
      this.#open = true;
      this.#attempt = 0;
      o.log.debug({ relay: this.url }, "nostr: relay connected");
      for (const s of this.#pool.subs.values()) this.req(s);
      this.pump();
    };
    ws.onmessage = (m) => this.#frame(m.data);
    ws.onerror = () => undefined;
    ws.onclose = () => {
      clearTimeout(connectTimer);
      const was = this.#open;
      this.#open = false;
      this.#ws = undefined;
      if (this.#inflight) {
        clearTimeout(this.#inflight.timer);
        this.#failed(this.#inflight.address, "connection closed");
        this.#inflight = undefined;
      }
      if (was) o.log.info({ relay: this.url }, "nostr: relay connection closed; reconnecting");
      this.#scheduleReconnect();
    };
  }

  #scheduleReconnect(): void {
    if (this.#closed) return;
    const o = this.#pool.opts;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.start(), sleepMs(o.backoffMinMs, o.backoffMaxMs, this.#attempt++));
    this.#timer.unref?.();
  }

  req(s: Sub): void {
    if (!this.#open) return;
    this.#counts.set(s.id, 0);
    this.#send(["REQ", s.id, ...s.filters]);
  }

  unreq(id: string): void {
    this.#counts.delete(id);
    if (this.#open) this.#send(["CLOSE", id]);
  }

  #send(msg: unknown[]): void {
    try {
      this.#ws?.send(JSON.stringify(msg));
    } catch {
      this.#ws?.close();
    }
  }

  /** Sends the next wanted event this relay has not acknowledged, one at a time. */
  pump(): void {
    if (!this.#open || this.#inflight) return;
    const now = Date.now();
    let next: number | undefined;
    for (const [address, event] of this.#pool.wanted) {
      if (this.done.get(address) === event.id) continue;
      const r = this.retry.get(address);
      if (r && r.at > now) {
        next = Math.min(next ?? r.at, r.at);
        continue;
      }
      const timer = setTimeout(() => {
        if (this.#inflight?.id !== event.id) return;
        this.#inflight = undefined;
        this.#failed(address, "no OK within the timeout");
        this.pump();
      }, this.#pool.opts.timeoutMs);
      this.#inflight = { address, id: event.id, timer };
      this.#send(["EVENT", event]);
      return;
    }
    if (next !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.pump(), Math.max(10, next - now));
      this.#timer.unref?.();
    }
  }

  #failed(address: string, reason: string): void {
    const r = this.retry.get(address) ?? { at: 0, attempts: 0 };
    r.attempts++;
    const o = this.#pool.opts;
    r.at = Date.now() + sleepMs(o.backoffMinMs, o.backoffMaxMs, r.attempts - 1);
    this.retry.set(address, r);
    o.onPublish?.(this.url, false);
    o.log.warn({ relay: this.url, address, attempts: r.attempts, reason }, "nostr: publish failed; retrying with back-off");
  }

  #frame(data: unknown): void {
    const o = this.#pool.opts;
    if (typeof data !== "string") return;
    if (data.length > o.maxFrameBytes) {
      o.onReject?.("size", this.url);
      return;
    }
    let msg: unknown;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (!Array.isArray(msg) || typeof msg[0] !== "string") return;
    switch (msg[0]) {
      case "EVENT": {
        const s = typeof msg[1] === "string" ? this.#pool.subs.get(msg[1]) : undefined;
        if (!s) return;
        const n = (this.#counts.get(s.id) ?? 0) + 1;
        this.#counts.set(s.id, n);
        if (n > o.maxEventsPerSubscription) {
          if (n === o.maxEventsPerSubscription + 1) {
            o.onReject?.("count", this.url);
            o.log.warn({ relay: this.url, limit: o.maxEventsPerSubscription }, "nostr: relay sent more events than one subscription takes; closing it");
            this.#send(["CLOSE", s.id]);
          }
          return;
        }
        let e: CheckedEvent;
        try {
          e = checkEvent(msg[2], o.limits);
          s.verify?.(e);
        } catch (err) {
          const reason = err instanceof EventRejected ? err.reason : "shape";
          o.onReject?.(reason, this.url);
          o.log.warn({ relay: this.url, reason, err: (err as Error).message }, "nostr: event refused");
          return;
        }
        s.onEvent(e, this.url);
        return;
      }
      case "EOSE": {
        const s = typeof msg[1] === "string" ? this.#pool.subs.get(msg[1]) : undefined;
        s?.onEose?.(this.url);
        return;
      }
      case "OK": {
        const f = this.#inflight;
        // nostr-relay answers a refused event with an empty id: that is the one in flight (one at a time).
        if (!f || (msg[1] !== f.id && msg[1] !== "")) return;
        clearTimeout(f.timer);
        this.#inflight = undefined;
        const reason = typeof msg[3] === "string" ? msg[3].slice(0, 200) : "";
        if (msg[2] === true || FINAL.test(reason)) {
          this.done.set(f.address, f.id);
          this.retry.delete(f.address);
          o.onPublish?.(this.url, msg[2] === true);
          if (msg[2] !== true) o.log.warn({ relay: this.url, address: f.address, reason }, "nostr: relay refused our event");
        } else {
          this.#failed(f.address, reason || "refused");
        }
        this.pump();
        return;
      }
      case "CLOSED": {
        const s = typeof msg[1] === "string" ? this.#pool.subs.get(msg[1]) : undefined;
        if (!s) return;
        o.log.info({ relay: this.url, reason: String(msg[2] ?? "").slice(0, 200) }, "nostr: relay closed a subscription; re-subscribing later");
        const t = setTimeout(() => this.#pool.subs.has(s.id) && this.req(s), sleepMs(o.backoffMinMs, o.backoffMaxMs, 3));
        t.unref?.();
        return;
      }
      default:
        return;
    }
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    if (this.#inflight) clearTimeout(this.#inflight.timer);
    this.#ws?.close();
  }
}

/** The node's connections to its relays. */
export class RelayPool {
  readonly opts: PoolOptions;
  /** The node's current event per address, published to every relay until acknowledged. */
  readonly wanted = new Map<string, Event>();
  readonly subs = new Map<string, Sub>();
  readonly #conns: RelayConn[];
  #nextSub = 0;

  constructor(opts: PoolOptions) {
    this.opts = opts;
    this.#conns = [...new Set(opts.relays)].map((u) => new RelayConn(u, this));
    for (const c of this.#conns) c.start();
  }

  /** Relay URLs and whether each is connected. */
  status(): { url: string; connected: boolean }[] {
    return this.#conns.map((c) => ({ url: c.url, connected: c.connected }));
  }

  /**
   * Publishes an event to every relay: it replaces the node's previous event of the same address, and is sent again
   * (with back-off) until each relay acknowledges it, and again after every reconnect until acknowledged.
   */
  publish(event: Event): void {
    const address = addressOf(event);
    this.wanted.delete(address);
    this.wanted.set(address, event);
    for (const c of this.#conns) {
      c.retry.delete(address);
      c.pump();
    }
  }

  /** Which relays acknowledged the node's current event at `address`. */
  acknowledged(address: string): string[] {
    const e = this.wanted.get(address);
    return e ? this.#conns.filter((c) => c.done.get(address) === e.id).map((c) => c.url) : [];
  }

  /** Subscribes on every relay (re-subscribing after reconnects); `verify` adds checks of the caller's own. */
  subscribe(filters: Filter[], handlers: { onEvent: Sub["onEvent"]; onEose?: Sub["onEose"]; verify?: Sub["verify"] }): Subscription {
    if (this.subs.size >= this.opts.maxSubscriptions) throw new RangeError(`more than ${this.opts.maxSubscriptions} Nostr subscriptions open`);
    const id = `sd${(this.#nextSub++).toString(36)}`;
    const s: Sub = { id, filters, ...handlers };
    this.subs.set(id, s);
    for (const c of this.#conns) c.req(s);
    return {
      close: () => {
        if (!this.subs.delete(id)) return;
        for (const c of this.#conns) c.unreq(id);
      },
    };
  }

  /**
   * Collects the events matching `filters` from every connected relay until each has sent EOSE or `timeoutMs`
   * passes; events are verified as in {@link subscribe}. Duplicates (same id) are returned once.
   */
  query(filters: Filter[], timeoutMs: number, verify?: Sub["verify"]): Promise<{ events: CheckedEvent[]; relays: number; complete: string[] }> {
    const connected = this.#conns.filter((c) => c.connected).map((c) => c.url);
    const byId = new Map<string, CheckedEvent>();
    const complete = new Set<string>();
    return new Promise((resolve) => {
      let sub: Subscription | undefined;
      const finish = () => {
        clearTimeout(timer);
        sub?.close();
        resolve({ events: [...byId.values()], relays: connected.length, complete: [...complete] });
      };
      const timer = setTimeout(finish, connected.length === 0 ? 0 : timeoutMs);
      if (connected.length === 0) return;
      sub = this.subscribe(filters, {
        onEvent: (e) => byId.set(e.id, e),
        onEose: (relay) => {
          complete.add(relay);
          if (connected.every((u) => complete.has(u))) finish();
        },
        ...(verify ? { verify } : {}),
      });
    });
  }

  /** Closes every connection. */
  close(): void {
    for (const c of this.#conns) c.close();
    this.subs.clear();
  }
}
