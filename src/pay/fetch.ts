// Auto-pay fetcher: follows a NUT-24 402, pays from the wallet within caps (swapping mints if needed), else the origin.
import { Amount, decodePaymentRequest } from "@cashu/cashu-ts";
import { readCapped } from "../net/capped.ts";
import type { PayCounters } from "./counters.ts";
import { PayError } from "./errors.ts";
import { PAY_HEADERS } from "./gate.ts";
import { MiB, type ServiceName } from "./pricing.ts";
import { markClaimed, reclaim } from "./sent.ts";
import { liquidityOf, swapRoutes } from "./liquidity.ts";
import { swapMints } from "./swap.ts";
import { mintUrl, type PayLogger, type PayWallet } from "./wallet.ts";

/** Options of {@link fetchPaid}. */
export interface FetchPaidOptions {
  wallet: PayWallet;
  /** Most sats this fetch may spend in total (price plus swap fees). */
  budget: number;
  /** Refuse prices above this many sats per MiB. */
  maxPricePerMiB: number;
  /** Most sats of fees a cross-mint swap may cost. */
  maxSwapFee: number;
  /** Free origin URL used when paying is refused or fails ("origin always wins"). */
  origin?: string;
  /** Size of the resource when known (used to judge the price when the 402 does not say what it buys). */
  expectedBytes?: number;
  /** Ask for a session allotment of this many bytes with the payment. */
  sessionBytes?: number;
  /** A session id from an earlier paid fetch of this peer: tried first, paying only when it is used up. */
  session?: string;
  /** Extra request headers (e.g. Range). */
  headers?: Record<string, string>;
  service?: ServiceName;
  counters?: PayCounters;
  logger?: PayLogger;
  signal?: AbortSignal;
  /** fetch implementation (default: global fetch). */
  fetch?: typeof fetch;
  /** Largest 402 body read, in bytes (default 64 KiB). */
  max402Body?: number;
}

/** One logged decision of the fetcher. */
export interface FetchDecision {
  outcome: "free" | "paid" | "swapped" | "origin" | "refused";
  reason: string;
  detail?: Record<string, unknown>;
}

/** The answer of {@link fetchPaid}. */
export interface FetchPaidResult {
  response: Response;
  source: "peer" | "origin";
  /** Sats paid to the peer (0 when free or from origin). */
  paid: number;
  /** Fees paid (swap and split fees). */
  fees: number;
  mint?: string;
  /** Session id the peer opened, for follow-up reads. */
  session?: string;
  decisions: FetchDecision[];
}

/**
 * GETs `url`; on `402` with an `X-Cashu` payment request it pays from the wallet when the price is within the caps and
 * a mint it can pay at is accepted, swapping value into the payee's mint if needed (under `maxSwapFee`). Otherwise,
 * or if paying fails, it fetches `origin`. Every decision is logged and counted.
 */
export async function fetchPaid(url: string, opts: FetchPaidOptions): Promise<FetchPaidResult> {
  if (!opts?.wallet) throw new TypeError("fetchPaid needs a wallet");
  for (const k of ["budget", "maxPricePerMiB", "maxSwapFee"] as const) {
    const v = opts[k];
    if (typeof v !== "number" || Number.isNaN(v) || v < 0) throw new RangeError(`${k} must be a non-negative number`);
  }
  const f = opts.fetch ?? fetch;
  const wallet = opts.wallet;
  const service = opts.service ?? "content-download";
  const decisions: FetchDecision[] = [];
  const decide = (d: FetchDecision) => {
    decisions.push(d);
    opts.counters?.fetch.inc({ outcome: d.outcome, reason: d.reason });
    opts.logger?.info({ url, ...d }, `fetchPaid: ${d.outcome} (${d.reason})`);
  };
  const baseHeaders: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.sessionBytes !== undefined) baseHeaders[PAY_HEADERS.sessionRequest] = String(opts.sessionBytes);
  const init = (extra: Record<string, string> = {}): RequestInit => ({ headers: { ...baseHeaders, ...extra }, ...(opts.signal ? { signal: opts.signal } : {}) });

  const fallback = async (reason: string, detail?: Record<string, unknown>): Promise<FetchPaidResult> => {
    if (!opts.origin) {
      decide({ outcome: "refused", reason, ...(detail ? { detail } : {}) });
      throw new PayError(reason, `cannot fetch ${url}: ${reason}, and no origin to fall back to`);
    }
    decide({ outcome: "origin", reason, ...(detail ? { detail } : {}) });
    const response = await f(opts.origin, init());
    return { response, source: "origin", paid: 0, fees: 0, decisions };
  };

  let first: Response;
  try {
    first = await f(url, init(opts.session ? { [PAY_HEADERS.session]: opts.session } : {}));
  } catch (e) {
    return fallback("peer-unreachable", { error: (e as Error).message });
  }
  if (first.status !== 402) {
    const inSession = opts.session !== undefined && first.headers.get(PAY_HEADERS.session) === opts.session;
    decide({ outcome: "free", reason: inSession ? "session" : `status-${first.status}` });
    return { response: first, source: "peer", paid: 0, fees: 0, ...(inSession ? { session: opts.session } : {}), decisions };
  }

  // Parse the 402: the NUT-18 request from the header, and the byte count from our JSON body if present.
  const creq = first.headers.get(PAY_HEADERS.cashu);
  const body = new TextDecoder().decode((await readCapped(first, opts.max402Body ?? 64 * 1024).catch(() => null)) ?? new Uint8Array(0));
  if (!creq || creq.length > 8192) return fallback("no-payment-request");
  let amount: number, unit: string, mints: string[];
  try {
    const pr = decodePaymentRequest(creq);
    if (!pr.amount) throw new Error("no amount");
    amount = Amount.from(pr.amount).toNumber();
    unit = pr.unit ?? "sat";
    mints = (pr.mints ?? []).map((m) => mintUrl(m));
  } catch (e) {
    return fallback("bad-payment-request", { error: (e as Error).message });
  }
  let bytes = opts.expectedBytes;
  try {
    const j = JSON.parse(body) as { allotment?: unknown };
    if (typeof j.allotment === "number" && Number.isSafeInteger(j.allotment) && j.allotment > 0) bytes = j.allotment;
  } catch {
    // not our JSON body: rely on expectedBytes
  }
  if (unit !== wallet.unit) return fallback("unit-mismatch", { unit });
  if (amount > opts.budget) return fallback("over-budget", { amount, budget: opts.budget });
  if (bytes === undefined) return fallback("unknown-size", { amount });
  const perMiB = (amount * MiB) / Math.max(1, bytes);
  if (perMiB > opts.maxPricePerMiB) return fallback("too-expensive", { amount, bytes, perMiB, max: opts.maxPricePerMiB });

  // Where can we pay? A listed mint we hold enough at, else swap into a listed mint we trust.
  const balances = wallet.balances();
  const candidates = mints.length ? mints : Object.keys(balances);
  let payMint: string | undefined;
  for (const m of candidates) {
    if ((balances[m] ?? 0) < amount) continue;
    const w = await wallet.cashu(m).catch(() => undefined);
    if (w && (balances[m] ?? 0) >= amount + feeMargin(w.keyChain.getKeyset().fee, amount)) {
      payMint = m;
      break;
    }
  }
  let fees = 0;
  if (!payMint) {
    const targets = candidates.filter((m) => wallet.isTrusted(m)).slice(0, 8);
    if (!targets.length) return fallback("no-acceptable-mint", { mints });
    // What each reachable target needs (the amount plus its fee margin).
    const need = new Map<string, number>();
    for (const t of targets) {
      const tw = await wallet.cashu(t).catch(() => undefined);
      if (tw) need.set(t, amount + feeMargin(tw.keyChain.getKeyset().fee, amount));
    }
    if (!need.size) return fallback("payee-mint-unreachable", { mint: targets[0] });
    // Routes with enough at the source, pairs that swapped well before first (the liquidity cache).
    const route = swapRoutes(balances, [...need.keys()], (t) => need.get(t)!, wallet.store?.root ? liquidityOf(wallet) : undefined)[0];
    if (!route) return fallback("insufficient-funds", { amount });
    const target = route.to;
    const swapAmount = need.get(target)!;
    const cap = Math.min(opts.maxSwapFee, opts.budget - amount);
    if (cap < 0) return fallback("over-budget", { amount, budget: opts.budget });
    try {
      const op = await swapMints(wallet, { from: route.from, to: target, amount: swapAmount, maxFee: Math.floor(cap), ctx: { service, peer: new URL(url).host } });
      fees += op.fee ?? 0;
      decide({ outcome: "swapped", reason: "payee-mint", detail: { from: route.from, to: target, amount: swapAmount, fee: op.fee ?? 0 } });
    } catch (e) {
      const code = e instanceof PayError ? e.code : "swap-failed";
      return fallback(code === "fee-cap" ? "swap-fee-cap" : code, { error: (e as Error).message });
    }
    payMint = target;
  }

  let token: string;
  let sendId: string;
  try {
    const s = await wallet.send(amount, { mint: payMint, ctx: { service, peer: new URL(url).host }, ...(opts.signal ? { signal: opts.signal } : {}) });
    token = s.token;
    sendId = s.opId;
    fees += s.fee;
  } catch (e) {
    return fallback(e instanceof PayError ? e.code : "send-failed", { error: (e as Error).message });
  }
  let paid: Response;
  try {
    paid = await f(url, init({ [PAY_HEADERS.cashu]: token }));
  } catch (e) {
    await takeBack(wallet, sendId, opts.logger);
    return fallback("peer-unreachable-after-pay", { error: (e as Error).message });
  }
  if (paid.status === 400 || paid.status === 402 || paid.status >= 500) {
    const reason = paid.headers.get(PAY_HEADERS.reason) ?? `status-${paid.status}`;
    await paid.body?.cancel().catch(() => undefined);
    // The peer refused the token: take the value back unless the mint says it was redeemed (then it was claimed).
    await takeBack(wallet, sendId, opts.logger);
    return fallback("payment-refused", { reason });
  }
  // The peer served what we paid for, so it holds the token: off the pending list.
  markClaimed(wallet, sendId);
  decide({ outcome: "paid", reason: "within-caps", detail: { amount, mint: payMint, perMiB } });
  const session = paid.headers.get(PAY_HEADERS.session) ?? undefined;
  return { response: paid, source: "peer", paid: amount, fees, mint: payMint, ...(session ? { session } : {}), decisions };
}

/**
 * Sats to hold above `amount` at a mint with `ppk` input fee: the receiver's redeem fee plus our split fee, for up to
 * two proofs per power of two in the amount.
 */
function feeMargin(ppk: number, amount: number): number {
  return Math.ceil(((2 * Math.ceil(Math.log2(amount + 1)) + 2) * ppk) / 1000);
}

async function takeBack(wallet: PayWallet, sendId: string, log?: PayLogger): Promise<void> {
  try {
    await reclaim(wallet, sendId);
  } catch (e) {
    // It stays on the pending list: `slowdrip wallet reclaim` (or the next try) takes it back later.
    log?.warn({ err: (e as Error).message, op: sendId }, "fetchPaid: could not take back an unused token; it stays pending");
  }
}
