// Plain counters of the payment layer (402s, decisions, sats earned/spent per service) for the node to export.
import type { Ledger } from "./ledger.ts";

/** A counter keyed by a label set, e.g. { service: "content-download", kind: "paid" }. */
export class LabeledCounter {
  readonly name: string;
  readonly help: string;
  readonly labels: readonly string[];
  private readonly values = new Map<string, { labels: Record<string, string>; value: number }>();

  constructor(name: string, help: string, labels: readonly string[]) {
    this.name = name;
    this.help = help;
    this.labels = labels;
  }

  /** Adds `n` (default 1) to the series with these labels. */
  inc(labels: Record<string, string>, n = 1): void {
    if (!Number.isFinite(n) || n < 0) throw new RangeError("counter increment must be a non-negative number");
    const key = this.labels.map((l) => labels[l] ?? "").join("\u0000");
    const cur = this.values.get(key);
    if (cur) cur.value += n;
    else this.values.set(key, { labels: Object.fromEntries(this.labels.map((l) => [l, labels[l] ?? ""])), value: n });
  }

  /** Current value of one series (0 when never incremented). */
  get(labels: Record<string, string>): number {
    return this.values.get(this.labels.map((l) => labels[l] ?? "").join("\u0000"))?.value ?? 0;
  }

  /** Every series. */
  series(): Array<{ labels: Record<string, string>; value: number }> {
    return [...this.values.values()].map((v) => ({ labels: { ...v.labels }, value: v.value }));
  }
}

/** All payment counters of one node. */
export class PayCounters {
  /** Gate decisions by service and kind (free, serve, payment-required, bad-request, unavailable). */
  readonly decisions = new LabeledCounter("slowdrip_pay_decisions_total", "Gate decisions by service and kind.", ["service", "kind", "reason"]);
  /** 402 answers sent, by service. */
  readonly paymentRequired = new LabeledCounter("slowdrip_pay_402_total", "Payment-required answers sent, by service.", ["service"]);
  /** Sats received by service (from the ledger: payments, mints, receives, swaps in; "wallet" when no service). */
  readonly earned = new LabeledCounter("slowdrip_pay_earned_sats_total", "Sats received, by service and mint (ledger entries in).", ["service", "mint"]);
  /** Sats spent by service (from the ledger: payments, melts, sends, swaps out, fees). */
  readonly spent = new LabeledCounter("slowdrip_pay_spent_sats_total", "Sats spent, by service and mint (ledger entries out).", ["service", "mint"]);
  /** Auto-pay fetcher decisions by outcome. */
  readonly fetch = new LabeledCounter("slowdrip_pay_fetch_decisions_total", "Auto-pay fetcher decisions by outcome and reason.", ["outcome", "reason"]);

  /** Every counter, for exporting. */
  all(): LabeledCounter[] {
    return [this.decisions, this.paymentRequired, this.earned, this.spent, this.fetch];
  }
}

/** Feeds every new ledger entry into the earned/spent counters; returns an unsubscribe function. */
export function countLedger(ledger: Ledger, counters: PayCounters): () => void {
  return ledger.onEntry((e) => {
    const labels = { service: e.service ?? "wallet", mint: e.mint };
    if (e.direction === "in") counters.earned.inc(labels, e.amount);
    else counters.spent.inc(labels, e.amount);
  });
}
