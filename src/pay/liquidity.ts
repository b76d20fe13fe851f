// Swap liquidity cache: how each cross-mint swap went per (from, to) mint pair (successes, failures, fee, latency),
// kept in the wallet's LMDB (pay.liquidity, bounded), so that the payer picks the swap routes that worked.
import type { Database, RootDatabase } from "lmdb";
import { mintUrl } from "./wallet.ts";

/** What is known of one (from, to) pair. */
export interface PairStats {
  from: string;
  to: string;
  ok: number;
  failed: number;
  /** Failures since the last success. */
  failStreak: number;
  /** Mean fee (sats) and latency (ms) of the successful swaps. */
  feeAvg: number;
  latencyAvgMs: number;
  lastOkAt: number;
  lastFailAt: number;
  updatedAt: number;
}

/** One swap route: value moves from `from` into `to`. */
export interface SwapRoute {
  from: string;
  to: string;
}

/** Options of {@link SwapLiquidity}. */
export interface SwapLiquidityOptions {
  /** Most pairs kept (the least recently updated are dropped first); default 1024. */
  maxPairs?: number;
  /** A failure older than this no longer counts against its pair (ms); default 1 h. */
  forgiveMs?: number;
  now?: () => number;
}

const key = (from: string, to: string) => `${from} ${to}`;

/** The cache over one LMDB root. */
export class SwapLiquidity {
  readonly #db: Database<PairStats, string>;
  readonly #max: number;
  readonly #forgive: number;
  readonly #now: () => number;

  constructor(root: RootDatabase, opts: SwapLiquidityOptions = {}) {
    this.#db = root.openDB<PairStats, string>({ name: "pay.liquidity" });
    this.#max = opts.maxPairs ?? 1024;
    this.#forgive = opts.forgiveMs ?? 3_600_000;
    this.#now = opts.now ?? Date.now;
  }

  /** The pair's stats, if any swap between them was recorded. */
  get(from: string, to: string): PairStats | undefined {
    return this.#db.get(key(mintUrl(from), mintUrl(to)));
  }

  /** Every recorded pair. */
  list(): PairStats[] {
    return [...this.#db.getRange()].map((e) => e.value);
  }

  /** Records one swap's outcome (its fee and latency count only when it succeeded). */
  async record(from: string, to: string, outcome: { ok: boolean; fee?: number; latencyMs: number }): Promise<void> {
    const [f, t] = [mintUrl(from), mintUrl(to)];
    const now = this.#now();
    const s: PairStats = this.get(f, t) ?? { from: f, to: t, ok: 0, failed: 0, failStreak: 0, feeAvg: 0, latencyAvgMs: 0, lastOkAt: 0, lastFailAt: 0, updatedAt: 0 };
    if (outcome.ok) {
      s.feeAvg = (s.feeAvg * s.ok + Math.max(0, outcome.fee ?? 0)) / (s.ok + 1);
      s.latencyAvgMs = (s.latencyAvgMs * s.ok + Math.max(0, outcome.latencyMs)) / (s.ok + 1);
      s.ok++;
      s.failStreak = 0;
      s.lastOkAt = now;
    } else {
      s.failed++;
      s.failStreak++;
      s.lastFailAt = now;
    }
    s.updatedAt = now;
    await this.#db.put(key(f, t), s);
    await this.#trim();
  }

  async #trim(): Promise<void> {
    const n = this.#db.getCount();
    if (n <= this.#max) return;
    const oldest = this.list().sort((a, b) => a.updatedAt - b.updatedAt).slice(0, n - this.#max);
    for (const s of oldest) await this.#db.remove(key(s.from, s.to));
  }

  /** 2: worked last time; 1: unknown (or its failures are forgiven); 0: failed since its last success. */
  #class(r: SwapRoute): number {
    const s = this.get(r.from, r.to);
    if (!s) return 1;
    if (s.failStreak > 0 && this.#now() - s.lastFailAt < this.#forgive) return 0;
    return s.ok > 0 && s.failStreak === 0 ? 2 : 1;
  }

  /**
   * Orders routes best first: pairs that worked (cheaper, then faster, first), then untried ones, then pairs that
   * failed since their last success. Ties keep the given order (the caller's preference).
   */
  rank<R extends SwapRoute>(routes: readonly R[]): R[] {
    const scored = routes.map((r, i) => ({ r, i, c: this.#class(r), s: this.get(r.from, r.to) }));
    scored.sort((a, b) => b.c - a.c || (a.c === 2 ? a.s!.feeAvg - b.s!.feeAvg || a.s!.latencyAvgMs - b.s!.latencyAvgMs : 0) || a.i - b.i);
    return scored.map((x) => x.r);
  }
}

/**
 * The swap routes into one of `targets` (the payee's accepted mints we trust, in its order) from a mint holding at
 * least `need(target)`, ranked by `liquidity` (ties: payee order, then the larger balance first).
 */
export function swapRoutes(balances: Readonly<Record<string, number>>, targets: readonly string[], need: (target: string) => number, liquidity?: SwapLiquidity): SwapRoute[] {
  const routes: SwapRoute[] = [];
  for (const to of targets) {
    const sources = Object.entries(balances)
      .filter(([m, b]) => m !== to && b >= need(to))
      .sort((a, b) => b[1] - a[1]);
    for (const [from] of sources) routes.push({ from, to });
  }
  return liquidity ? liquidity.rank(routes) : routes;
}

const caches = new WeakMap<object, SwapLiquidity>();

/** The liquidity cache kept beside a wallet's store (one per LMDB root). */
export function liquidityOf(wallet: { store: { root: RootDatabase } }): SwapLiquidity {
  let c = caches.get(wallet.store.root);
  if (!c) caches.set(wallet.store.root, (c = new SwapLiquidity(wallet.store.root)));
  return c;
}
