// Ledger: one LMDB entry per sat received or spent (time, peer, service, bytes, amount, mint).
import { randomUUID } from "node:crypto";
import type { Database, RootDatabase } from "lmdb";

/** One ledger entry. `direction` is from the node's point of view. */
export interface LedgerEntry {
  time: number;
  direction: "in" | "out";
  /** What moved value: payment (a service was paid), mint, melt, send, receive, swap, fee. */
  kind: string;
  amount: number;
  mint: string;
  peer?: string;
  service?: string;
  bytes?: number;
  opId?: string;
}

/** Options for {@link Ledger.list}. */
export interface LedgerQuery {
  /** Unix ms, inclusive. */
  since?: number;
  /** Unix ms, exclusive. */
  until?: number;
  limit?: number;
  service?: string;
}

/** Totals per service and direction. */
export interface LedgerTotals {
  [service: string]: { in: number; out: number; entries: number };
}

/** Append-only ledger in the `pay.ledger` sub-database, ordered by time. */
export class Ledger {
  readonly db: Database<LedgerEntry, [number, string]>;
  private readonly listeners: Array<(e: LedgerEntry) => void> = [];

  constructor(root: RootDatabase) {
    this.db = root.openDB<LedgerEntry, [number, string]>({ name: "pay.ledger" });
  }

  /** Writes an entry; call inside the transaction that moves the value so both commit together. */
  recordSync(entry: LedgerEntry): void {
    if (!Number.isSafeInteger(entry.amount) || entry.amount < 0) throw new RangeError(`ledger amount must be a non-negative integer, got ${entry.amount}`);
    if (entry.amount === 0) return;
    const key: [number, string] = [entry.time, randomUUID()];
    this.db.putSync(key, entry);
    // Listeners hear only of committed entries: the surrounding transaction has finished when this runs.
    if (this.listeners.length) {
      queueMicrotask(() => {
        if (this.db.doesExist(key)) for (const l of this.listeners) l(entry);
      });
    }
  }

  /** Subscribes to new entries (metrics); returns an unsubscribe function. */
  onEntry(listener: (e: LedgerEntry) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Entries in time order, newest last; `limit` (default 1000, max 100000) keeps the newest. */
  list(q: LedgerQuery = {}): LedgerEntry[] {
    const limit = q.limit ?? 1000;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new RangeError("limit must be 1..100000");
    // Newest first from the end of the range, so that a long ledger costs only `limit` reads.
    const out: LedgerEntry[] = [];
    for (const { value } of this.db.getRange({ start: [q.until ?? Number.MAX_SAFE_INTEGER], end: [q.since ?? 0], reverse: true })) {
      if (q.service !== undefined && value.service !== q.service) continue;
      out.push(value);
      if (out.length >= limit) break;
    }
    return out.reverse();
  }

  /** Sats in and out per service (entries without a service count under "wallet"). */
  totals(q: Omit<LedgerQuery, "limit"> = {}): LedgerTotals {
    const t: LedgerTotals = {};
    for (const { value } of this.db.getRange({ start: [q.since ?? 0], end: [q.until ?? Number.MAX_SAFE_INTEGER] })) {
      const s = value.service ?? "wallet";
      if (q.service !== undefined && s !== q.service) continue;
      const row = (t[s] ??= { in: 0, out: 0, entries: 0 });
      row[value.direction] += value.amount;
      row.entries++;
    }
    return t;
  }
}
