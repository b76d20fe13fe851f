// Metered sessions: a prepaid allotment (bytes, or viewing time for live-view) drawn down by the meter, kept in LMDB.
import { randomBytes } from "node:crypto";
import type { Database, RootDatabase } from "lmdb";
import type { MeterUnit, ServiceName } from "./pricing.ts";

/** One session. Byte sessions count `left` down; time sessions are valid until `validUntil`. */
export interface SessionRecord {
  id: string;
  service: ServiceName;
  unit: MeterUnit;
  /** Who paid (verified peer id or client address). */
  client: string;
  mint: string;
  /** Sats paid into this session. */
  paid: number;
  /** Allotment bought (bytes or ms). */
  total: number;
  /** Bytes left (byte sessions). */
  left: number;
  /** Bytes actually sent so far. */
  used: number;
  createdAt: number;
  lastUsedAt: number;
  /** Time sessions end here; byte sessions expire when idle for the TTL. */
  validUntil: number;
  /** The {@link tokenKey} of the token that paid for it: a retry with the same token opens this session again. */
  tokenKey?: string;
  /** Set while the token is being redeemed: the session is recorded, but not usable until {@link SessionStore.activate}. */
  redeeming?: true;
}

/** A public view of a session (no secrets: the id is the bearer credential, shown only to its owner). */
export type SessionView = Omit<SessionRecord, "id" | "tokenKey" | "redeeming"> & { idPrefix: string };

const ID_RE = /^[A-Za-z0-9_-]{22,64}$/;

/** True for strings shaped like a session id (bounded, URL-safe). */
export function isSessionId(s: string): boolean {
  return ID_RE.test(s);
}

/** Sessions in memory with write-through to the `pay.sessions` sub-database, bounded in count. */
export class SessionStore {
  readonly db: Database<SessionRecord, string>;
  private readonly map = new Map<string, SessionRecord>();
  /** tokenKey -> session id, for sessions paid (or being paid) by a token. */
  private readonly byKey = new Map<string, string>();
  private readonly ttlMs: number;
  private readonly maxSessions: number;
  private readonly now: () => number;
  private readonly flushMs: number;

  constructor(root: RootDatabase, opts: { ttlMs: number; maxSessions?: number; now?: () => number; flushMs?: number }) {
    if (!Number.isSafeInteger(opts.ttlMs) || opts.ttlMs <= 0) throw new RangeError("ttlMs must be a positive integer");
    this.db = root.openDB<SessionRecord, string>({ name: "pay.sessions" });
    this.ttlMs = opts.ttlMs;
    this.maxSessions = opts.maxSessions ?? 100_000;
    this.now = opts.now ?? Date.now;
    this.flushMs = opts.flushMs ?? 1000;
    for (const { key, value } of this.db.getRange({})) {
      if (this.live(value)) this.remember(value);
      else this.db.removeSync(key);
    }
  }

  private remember(s: SessionRecord): void {
    this.map.set(s.id, s);
    if (s.tokenKey) this.byKey.set(s.tokenKey, s.id);
  }

  private live(s: SessionRecord): boolean {
    const t = this.now();
    // A redemption that never finished is kept for a retry with the same token for as long as an idle session lives.
    if (s.redeeming) return t - s.createdAt < this.ttlMs;
    if (s.unit === "ms") return t < s.validUntil;
    return s.left > 0 && t - s.lastUsedAt < this.ttlMs;
  }

  private stopped = false;
  private readonly dirty = new Set<string>();
  private flushTimer: NodeJS.Timeout | undefined;

  /**
   * Marks a session for writing. Writes are batched (at most one per session per `flushMs`) so that metering costs no
   * LMDB write per request; a crash loses at most the last interval of metering, in the client's favour.
   */
  private save(s: SessionRecord): void {
    if (this.stopped) return;
    this.dirty.add(s.id);
    this.flushTimer ??= setTimeout(() => this.flush(), this.flushMs);
    this.flushTimer.unref?.();
  }

  /** Writes every changed session now. */
  flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    for (const id of this.dirty) {
      const s = this.map.get(id);
      if (s) void this.db.put(id, s);
    }
    this.dirty.clear();
  }

  /** Writes pending changes and stops writing (before the LMDB environment closes). */
  async stop(): Promise<void> {
    this.flush();
    this.stopped = true;
    await this.db.flushed;
  }

  private makeRoom(): void {
    if (this.map.size >= this.maxSessions) this.sweep();
    if (this.map.size >= this.maxSessions) {
      let oldest: SessionRecord | undefined;
      for (const s of this.map.values()) if (!oldest || s.lastUsedAt < oldest.lastUsedAt) oldest = s;
      if (oldest) this.close(oldest.id);
    }
  }

  private fill(s: SessionRecord, paid: number, total: number): void {
    const t = this.now();
    s.paid = paid;
    s.total = total;
    s.left = s.unit === "byte" ? total : 0;
    s.lastUsedAt = t;
    s.validUntil = s.unit === "ms" ? t + total : t + this.ttlMs;
  }

  /** Opens a session after a payment. Evicts the least recently used session when full. */
  open(init: { service: ServiceName; unit: MeterUnit; client: string; mint: string; paid: number; total: number; tokenKey?: string }): SessionRecord {
    this.makeRoom();
    const t = this.now();
    const { paid, total, ...rest } = init;
    const s: SessionRecord = { id: randomBytes(24).toString("base64url"), ...rest, paid: 0, total: 0, left: 0, used: 0, createdAt: t, lastUsedAt: t, validUntil: t };
    this.fill(s, paid, total);
    this.remember(s);
    // A paid session is written at once: it holds the client's money.
    if (!this.stopped) void this.db.put(s.id, s);
    return s;
  }

  /**
   * Records, durably and before the token is redeemed, the session a token is about to pay for: if the node dies or
   * the mint's answer is lost after it redeemed the token, the client's retry with the same token finds this record
   * and gets the session it paid for (see {@link activate}). Not usable until activated.
   */
  openRedeeming(init: { service: ServiceName; unit: MeterUnit; client: string; mint: string; tokenKey: string }): SessionRecord {
    if (typeof init.tokenKey !== "string" || init.tokenKey.length === 0 || init.tokenKey.length > 128) throw new TypeError("tokenKey must be a non-empty string");
    this.makeRoom();
    const t = this.now();
    const s: SessionRecord = { id: randomBytes(24).toString("base64url"), ...init, paid: 0, total: 0, left: 0, used: 0, createdAt: t, lastUsedAt: t, validUntil: t, redeeming: true };
    this.remember(s);
    if (!this.stopped) this.db.putSync(s.id, s);
    return s;
  }

  /** The session paid (or being paid) by the token with this key, if it is still kept. */
  byToken(tokenKey: string): SessionRecord | undefined {
    const id = this.byKey.get(tokenKey);
    const s = id === undefined ? undefined : this.map.get(id);
    return s && this.live(s) ? s : undefined;
  }

  /** Makes a redeeming session usable with what its token credited. Idempotent: an active session is left as it is. */
  activate(id: string, paid: { paid: number; total: number }): SessionRecord | undefined {
    const s = this.map.get(id);
    if (!s) return undefined;
    if (!s.redeeming) return s;
    delete s.redeeming;
    this.fill(s, paid.paid, paid.total);
    if (!this.stopped) this.db.putSync(s.id, s);
    return s;
  }

  /** A live session, or undefined (unknown, used up, expired, or its token still being redeemed). */
  get(id: string): SessionRecord | undefined {
    const s = this.map.get(id);
    if (!s || s.redeeming) return undefined;
    if (!this.live(s)) return undefined;
    return s;
  }

  /** Takes `bytes` from a byte session before sending; false when it holds fewer. Time sessions always succeed while valid. */
  reserve(id: string, bytes: number): boolean {
    const s = this.get(id);
    if (!s) return false;
    s.lastUsedAt = this.now();
    if (s.unit === "ms") {
      this.save(s);
      return true;
    }
    if (s.left < bytes) return false;
    s.left -= bytes;
    this.save(s);
    return true;
  }

  /** Settles a reservation: `sent` of the `reserved` bytes went out; the rest goes back to the session. */
  settle(id: string, reserved: number, sent: number): void {
    const s = this.map.get(id);
    if (!s) return;
    const used = Math.max(0, Math.min(sent, reserved));
    if (s.unit === "byte") s.left += reserved - used;
    s.used += Math.max(0, sent);
    this.save(s);
  }

  /** Removes a session. */
  close(id: string): void {
    const s = this.map.get(id);
    if (s?.tokenKey && this.byKey.get(s.tokenKey) === id) this.byKey.delete(s.tokenKey);
    this.map.delete(id);
    this.dirty.delete(id);
    if (!this.stopped) void this.db.remove(id);
  }

  /** Drops expired and used-up sessions; returns how many. */
  sweep(): number {
    let n = 0;
    for (const s of [...this.map.values()]) {
      if (!this.live(s)) {
        this.close(s.id);
        n++;
      }
    }
    return n;
  }

  /** Live sessions (bounded by `limit`). */
  list(limit = 1000): SessionView[] {
    const out: SessionView[] = [];
    for (const s of this.map.values()) {
      if (s.redeeming || !this.live(s)) continue;
      const { id, tokenKey: _k, redeeming: _r, ...rest } = s;
      out.push({ ...rest, idPrefix: id.slice(0, 6) });
      if (out.length >= limit) break;
    }
    return out;
  }

  /** Number of live sessions. */
  count(): number {
    let n = 0;
    for (const s of this.map.values()) if (!s.redeeming && this.live(s)) n++;
    return n;
  }
}
