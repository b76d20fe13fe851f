// The payment gate: decides free | serve(session) | payment-required (NUT-18 request) | bad-request, and meters bytes.
import { randomBytes } from "node:crypto";
import { PaymentRequest } from "@cashu/cashu-ts";
import { MintCallError, OpPendingError, PayError, TokenError } from "./errors.ts";
import type { PayCounters } from "./counters.ts";
import { Pricing, type ServiceName } from "./pricing.ts";
import { isSessionId, type SessionRecord, type SessionStore } from "./session.ts";
import type { PayLogger, PayWallet } from "./wallet.ts";

/** Header names of the HTTP binding (NUT-24 plus SlowDrip sessions). */
export const PAY_HEADERS = {
  /** 402 answer: NUT-18 payment request; retry: a cashuB token. */
  cashu: "x-cashu",
  /** Session id: answered after a payment, sent by the client on later requests. */
  session: "x-session",
  /** Client asks for a session allotment of this many bytes (or minutes for live-view). */
  sessionRequest: "x-session-request",
  /** Answer: what is left in the session. */
  sessionRemaining: "x-session-remaining",
  /** 400 answer: machine-readable reason. */
  reason: "x-reason",
} as const;

/** What the gate needs to know about one read. */
export interface GateRequest {
  service: ServiceName;
  /** Request path (free_paths match on it). */
  path: string;
  /** Verified peer id (from a signed request), if any. */
  peer?: string;
  /** Who is asking: the peer id, else the client address; recorded with sessions and payments. */
  client: string;
  /** Whom the free allowance is counted against (Pricing.allowanceKey); `client` when absent. */
  allowanceKey?: string;
  /** Bytes this request will send (for byte services). */
  bytes: number;
  /** Raw X-Cashu header value, if present. */
  cashu?: string;
  /** Raw session header value, if present. */
  session?: string;
  /** Raw session-request header value (bytes, or minutes for live-view), if present. */
  sessionRequest?: string;
}

/** A reservation made for a served request; pass it to {@link Gate.settle} with the bytes actually sent. */
export interface Ticket {
  sessionId?: string;
  allowanceClient?: string;
  reserved: number;
}

/** Payment details of a 402. */
export interface PaymentRequired {
  kind: "payment-required";
  service: ServiceName;
  amount: number;
  unit: string;
  mints: string[];
  /** NUT-18 encoded request (creqA...). */
  request: string;
  /** Allotment the amount buys (bytes, or ms for live-view). */
  allotment: number;
  reason: string;
}

/** The gate's answer. */
export type GateDecision =
  | { kind: "free"; reason: "disabled" | "free-path" | "free-peer" | "free-allowance" | "zero-price"; ticket: Ticket }
  | { kind: "serve"; session: SessionRecord; ticket: Ticket; paid?: { amount: number; mint: string; opId: string } }
  | PaymentRequired
  | { kind: "bad-request"; reason: string; message: string }
  | { kind: "unavailable"; reason: string; message: string }
  /** The same token is being redeemed for another request at this moment: retry shortly with the same token. */
  | { kind: "conflict"; reason: string; message: string };

/** Options of {@link Gate}. */
export interface GateOptions {
  pricing: Pricing;
  wallet: PayWallet;
  sessions: SessionStore;
  counters?: PayCounters;
  logger?: PayLogger;
  /** Mints accepted for payment; default: the wallet's trusted mints. */
  acceptedMints?: () => string[];
  now?: () => number;
  /** Most clients tracked for the free allowance (LRU beyond). */
  maxAllowanceClients?: number;
}

const DAY_MS = 86_400_000;

/**
 * The gate. Pure decision logic over the pricing, the wallet and the session store; HTTP and RPC adapters map its
 * decisions to status codes and headers. A token is redeemed at its mint before any byte is served.
 */
export class Gate {
  /** Keys of tokens whose redemption this process is driving now (a concurrent duplicate gets "conflict"). */
  readonly #redeemingNow = new Set<string>();
  readonly pricing: Pricing;
  readonly wallet: PayWallet;
  readonly sessions: SessionStore;
  private readonly counters: PayCounters | undefined;
  private readonly log: PayLogger | undefined;
  private readonly acceptedMintsFn: () => string[];
  private readonly now: () => number;
  private readonly allowance = new Map<string, { day: number; used: number }>();
  private readonly maxAllowanceClients: number;

  constructor(opts: GateOptions) {
    if (!opts?.pricing || !opts.wallet || !opts.sessions) throw new TypeError("Gate needs pricing, wallet and sessions");
    this.pricing = opts.pricing;
    this.wallet = opts.wallet;
    this.sessions = opts.sessions;
    this.counters = opts.counters;
    this.log = opts.logger;
    this.now = opts.now ?? Date.now;
    this.maxAllowanceClients = opts.maxAllowanceClients ?? 100_000;
    // The wallet's trust list (seeded from pay.trusted_mints, changed by TrustMint/UntrustMint) is what we accept.
    this.acceptedMintsFn = opts.acceptedMints ?? (() => this.wallet.listMints().filter((m) => m.trusted).map((m) => m.url));
  }

  /** Mints whose tokens this gate accepts now. */
  acceptedMints(): string[] {
    return this.acceptedMintsFn();
  }

  private count(service: ServiceName, d: GateDecision): GateDecision {
    const reason = "reason" in d ? d.reason : d.kind === "serve" ? (d.paid ? "paid" : "session") : "";
    this.counters?.decisions.inc({ service, kind: d.kind, reason });
    if (d.kind === "payment-required") this.counters?.paymentRequired.inc({ service });
    return d;
  }

  /** Decides what to do with one read. Never throws for client input; wallet/mint outages give `unavailable`. */
  async decide(req: GateRequest): Promise<GateDecision> {
    return this.count(req.service, await this.decideInner(req));
  }

  private async decideInner(req: GateRequest): Promise<GateDecision> {
    if (!Number.isSafeInteger(req.bytes) || req.bytes < 0) return { kind: "bad-request", reason: "bad-range", message: "request size is not a valid byte count" };
    const cfg = this.pricing.config;
    const price = this.pricing.service(req.service);
    if (!cfg.enabled) return { kind: "free", reason: "disabled", ticket: { reserved: 0 } };
    if (price.rate === 0) return { kind: "free", reason: "zero-price", ticket: { reserved: 0 } };
    if (this.pricing.isFreePath(req.path)) return { kind: "free", reason: "free-path", ticket: { reserved: 0 } };
    if (this.pricing.isFreePeer(req.peer)) return { kind: "free", reason: "free-peer", ticket: { reserved: 0 } };
    const meterQty = price.unit === "byte" ? req.bytes : 0;

    let wanted: number;
    const sr = req.sessionRequest;
    if (sr !== undefined && (sr.trim() === "" || sr.trim() === "default")) {
      wanted = price.unit === "byte" ? cfg.sessionDefault : cfg.liveViewDefaultMinutes * 60_000;
    } else if (sr !== undefined) {
      if (sr.length > 20 || !/^\d+$/.test(sr.trim())) return { kind: "bad-request", reason: "bad-session-request", message: `${PAY_HEADERS.sessionRequest} must be a whole number` };
      const n = Number(sr.trim());
      wanted = price.unit === "byte" ? n : n * 60_000;
      if (wanted > cfg.sessionMax && price.unit === "byte") return { kind: "bad-request", reason: "session-too-large", message: `largest session is ${cfg.sessionMax} bytes` };
    } else wanted = price.unit === "byte" ? 0 : cfg.liveViewDefaultMinutes * 60_000;
    const allotment = Math.max(meterQty, wanted);

    if (req.cashu !== undefined) {
      if (req.cashu.length > cfg.headerMax) return { kind: "bad-request", reason: "header-too-large", message: `${PAY_HEADERS.cashu} is over ${cfg.headerMax} bytes` };
      return this.pay(req, req.cashu.trim(), allotment, meterQty);
    }

    if (req.session !== undefined) {
      const id = req.session.trim();
      if (id.length > 128 || !isSessionId(id)) return { kind: "bad-request", reason: "bad-session", message: `${PAY_HEADERS.session} is malformed` };
      const session = this.sessions.get(id);
      if (session && session.service === req.service && this.sessions.reserve(id, meterQty)) {
        return { kind: "serve", session, ticket: { sessionId: id, reserved: meterQty } };
      }
      return this.paymentRequired(req.service, allotment, "session-exhausted");
    }

    const allowanceKey = req.allowanceKey ?? req.client;
    if (cfg.freeAllowance > 0 && price.unit === "byte" && this.takeAllowance(allowanceKey, meterQty)) {
      return { kind: "free", reason: "free-allowance", ticket: { allowanceClient: allowanceKey, reserved: meterQty } };
    }
    return this.paymentRequired(req.service, allotment, "payment-required");
  }

  /** Builds a 402 for `allotment` of `service`. */
  paymentRequired(service: ServiceName, allotment: number, reason: string): PaymentRequired {
    const amount = Math.max(1, this.pricing.price(service, allotment));
    const mints = this.acceptedMints();
    const pr = new PaymentRequest(undefined, randomBytes(8).toString("hex"), amount, this.wallet.unit, mints, `slowdrip ${service}`, true);
    return { kind: "payment-required", service, amount, unit: this.wallet.unit, mints, request: pr.toEncodedCreqA(), allotment: this.pricing.allotment(service, amount), reason };
  }

  private async pay(req: GateRequest, token: string, allotment: number, meterQty: number): Promise<GateDecision> {
    const price = Math.max(1, this.pricing.price(req.service, allotment));
    const mints = this.acceptedMints();
    let meta;
    try {
      meta = this.wallet.inspectToken(token);
    } catch (e) {
      return this.bad(e);
    }
    if (!mints.includes(meta.mint)) return { kind: "bad-request", reason: "wrong-mint", message: `tokens from ${meta.mint} are not accepted; accepted: ${mints.join(" ") || "(none)"}` };
    if (meta.unit !== this.wallet.unit) return { kind: "bad-request", reason: "wrong-unit", message: `token unit ${meta.unit} is not ${this.wallet.unit}` };
    if (meta.amount < price) return { kind: "bad-request", reason: "underpaid", message: `token holds ${meta.amount} ${this.wallet.unit}, ${price} required` };
    const svc = this.pricing.service(req.service);
    let session = this.sessions.byToken(meta.key);
    if (session && !session.redeeming) {
      // This token already paid for a session (a retry whose first answer was lost): it opens that session again.
      if (session.service !== req.service) return { kind: "bad-request", reason: "already-spent", message: `this token already paid for a ${session.service} session` };
      if (this.sessions.reserve(session.id, meterQty)) return { kind: "serve", session, ticket: { sessionId: session.id, reserved: meterQty } };
      return this.paymentRequired(req.service, allotment, "session-exhausted");
    }
    // Recorded before the mint is asked: whatever happens to this request once the mint has the token, a retry with
    // the same token finds the record and gets the session the token paid for.
    const replay = session !== undefined;
    // Spent here before, and its session is gone (used up or expired): refused without writing anything.
    if (!replay && this.wallet.redemptionOf(meta.key)) return { kind: "bad-request", reason: "already-spent", message: "token was already presented to this node" };
    if (session && session.service !== req.service) return { kind: "bad-request", reason: "already-spent", message: `this token is paying for a ${session.service} session` };
    // A second request with a token this node is redeeming right now waits for nothing: it is told to retry.
    if (this.#redeemingNow.has(meta.key)) {
      return { kind: "conflict", reason: "redeem-in-progress", message: "this token is being redeemed for another request right now; retry in a moment with the same token" };
    }
    session ??= this.sessions.openRedeeming({ service: req.service, unit: svc.unit, client: req.client, mint: meta.mint, tokenKey: meta.key });
    this.#redeemingNow.add(meta.key);
    let r;
    try {
      r = await this.wallet.receive(token, {
        expect: { mints, minCredited: price },
        ctx: { peer: req.client, service: req.service, bytes: allotment },
        // Only a token whose session was recorded may be answered from an earlier redemption.
        ...(replay ? { replay: true } : {}),
      });
    } catch (e) {
      if (e instanceof MintCallError || e instanceof OpPendingError) {
        // The mint may have redeemed it: keep the record, the retry with the same token finishes the redemption.
        this.log?.warn({ err: e.message }, "gate: token not redeemed yet; kept for a retry with the same token");
        return { kind: "unavailable", reason: "mint-unavailable", message: `could not redeem the token at ${meta.mint} yet; retry later with the same token` };
      }
      // Refused: the token bought nothing.
      this.sessions.close(session.id);
      return this.bad(e);
    } finally {
      this.#redeemingNow.delete(meta.key);
    }
    const paid = { paid: r.credited, total: this.pricing.allotment(req.service, r.credited) };
    // Evicted while the mint was asked (the store was full): the payment still opens its session.
    const active = this.sessions.activate(session.id, paid) ?? this.sessions.open({ service: req.service, unit: svc.unit, client: req.client, mint: r.mint, ...paid, tokenKey: meta.key });
    this.sessions.reserve(active.id, meterQty);
    this.log?.info({ service: req.service, client: req.client, sats: r.credited, mint: r.mint, session: active.id.slice(0, 6) }, "gate: payment accepted");
    return { kind: "serve", session: active, ticket: { sessionId: active.id, reserved: meterQty }, paid: { amount: r.credited, mint: r.mint, opId: r.opId } };
  }

  private bad(e: unknown): GateDecision {
    if (e instanceof TokenError || e instanceof PayError) return { kind: "bad-request", reason: e.code, message: e.message };
    return { kind: "bad-request", reason: "bad-token", message: e instanceof Error ? e.message : String(e) };
  }

  private takeAllowance(client: string, bytes: number): boolean {
    const day = Math.floor(this.now() / DAY_MS);
    let a = this.allowance.get(client);
    if (!a || a.day !== day) {
      a = { day, used: 0 };
      if (this.allowance.size >= this.maxAllowanceClients) {
        const first = this.allowance.keys().next().value;
        if (first !== undefined) this.allowance.delete(first);
      }
    }
    this.allowance.delete(client);
    this.allowance.set(client, a);
    if (a.used + bytes > this.pricing.config.freeAllowance) return false;
    a.used += bytes;
    return true;
  }

  /** Meter: after serving, charge only the bytes actually sent and give the rest back. */
  settle(ticket: Ticket, sent: number): void {
    const s = Math.max(0, Math.floor(sent));
    if (ticket.sessionId) this.sessions.settle(ticket.sessionId, ticket.reserved, s);
    if (ticket.allowanceClient) {
      const a = this.allowance.get(ticket.allowanceClient);
      if (a) a.used = Math.max(0, a.used - Math.max(0, ticket.reserved - s));
    }
  }
}
