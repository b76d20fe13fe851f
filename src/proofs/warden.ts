// The warden: every challenge interval it challenges random (member, shard) pairs in proportion to the bytes they
// hold, verifies each answer before a deadline, keeps pass/fail/timeout records per miner, and reports a miner that
// fails max_failures times within the failure window through an injected markFaulty. A miner is sent one challenge
// at a time (its tuning.pos_concurrency is not the warden's to exhaust), none more in a round after one timed out
// (so a silent miner holds a round up for one deadline, not one per pair), and a "busy" answer is asked again until
// the deadline. Transport, holdings and what "faulty" does are injected: the module knows nothing of RPC or of the map.
import { verifyAnswerParallel } from "./sig-pool.ts";
import { PosVerifyError, randomNonce, type PosAnswer, type PosChallenge } from "./storage.ts";

/** One shard a member holds. */
export interface Holding {
  node: string;
  shard: string;
  /** Bytes of the shard (its weight in the draw). */
  size: number;
}

/**
 * What a challenge transport throws when the miner turned the challenge away as busy (too many proofs in flight, e.g.
 * from other wardens): the warden asks again after a short pause, until its deadline.
 */
export class ChallengeBusyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ChallengeBusyError";
  }
}

/** Pause before a busy miner is asked again. */
const BUSY_RETRY_MS = 100;

/** Outcome of one challenge. */
export type ChallengeResult = "pass" | "fail" | "timeout";

/** One challenge as recorded. */
export interface ChallengeRecord {
  node: string;
  shard: string;
  /** Unix ms when the challenge was sent. */
  at: number;
  result: ChallengeResult;
  /** Why it failed (the verifier's or the miner's reason). */
  reason?: string;
  /** Milliseconds until the answer (or the deadline). */
  ms: number;
}

/** A miner's record. */
export interface MinerRecord {
  node: string;
  pass: number;
  fail: number;
  timeout: number;
  /** Newest last, at most RECENT_MAX. */
  recent: ChallengeRecord[];
  /** Set once markFaulty was called; cleared by `clearFaulty`. */
  faulty: boolean;
  faultyReason?: string;
}

/** What a warden needs. */
export interface WardenOptions {
  /** The warden's node id (answers must name it as their challenger). */
  self: string;
  /** The (member, shard) pairs that may be challenged, e.g. from the cluster map and placement. */
  holdings: () => readonly Holding[] | Promise<readonly Holding[]>;
  /** Sends a challenge to a member and returns its answer (or throws); must honour the signal. */
  challenge: (node: string, ch: PosChallenge, signal: AbortSignal) => Promise<PosAnswer>;
  /** Called once when a miner reaches maxFailures within the window. */
  markFaulty: (nodeId: string, reason: string) => void;
  /** proofs.challenge_interval */
  intervalMs: number;
  /** proofs.deadline */
  deadlineMs: number;
  /** proofs.max_failures */
  maxFailures: number;
  /** proofs.failure_window */
  windowMs: number;
  /** proofs.chunks: chunks per challenge. */
  chunks: number;
  /** proofs.challenges_per_round */
  perRound: number;
  now?: () => number;
  /** Uniform [0, 1): the draw (default: crypto random). */
  random?: () => number;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

const RECENT_MAX = 64;
const MINERS_MAX = 100_000;

function cryptoRandom(): number {
  const w = crypto.getRandomValues(new Uint32Array(2));
  return (w[0]! * 2 ** 21 + (w[1]! >>> 11)) / 2 ** 53;
}

/**
 * Draws up to `k` distinct holdings, each with probability proportional to its size (empty shards weigh one byte), so
 * that members are challenged in proportion to the bytes they store.
 */
export function pickWeighted(holdings: readonly Holding[], k: number, random: () => number = cryptoRandom): Holding[] {
  const pool = holdings.slice();
  const weights = pool.map((h) => Math.max(1, h.size));
  let total = weights.reduce((a, b) => a + b, 0);
  const out: Holding[] = [];
  while (out.length < k && pool.length > 0) {
    let r = random() * total;
    let i = 0;
    while (i < pool.length - 1 && r >= weights[i]!) r -= weights[i++]!;
    out.push(pool[i]!);
    total -= weights[i]!;
    pool.splice(i, 1);
    weights.splice(i, 1);
  }
  return out;
}

/** Runs challenge rounds and keeps the records. */
export class Warden {
  readonly #o: WardenOptions;
  readonly #now: () => number;
  readonly #miners = new Map<string, MinerRecord & { failures: number[] }>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<ChallengeRecord[]> | undefined;
  readonly #stopping = new AbortController();
  /** Challenges by result, and rounds run, since the warden was made. */
  readonly counts: Record<ChallengeResult, number> = { pass: 0, fail: 0, timeout: 0 };
  rounds = 0;

  constructor(opts: WardenOptions) {
    for (const k of ["intervalMs", "deadlineMs", "maxFailures", "windowMs", "chunks", "perRound"] as const) {
      if (!Number.isSafeInteger(opts[k]) || opts[k] < 1) throw new RangeError(`warden ${k} must be a positive integer, got ${opts[k]}`);
    }
    if (typeof opts.challenge !== "function" || typeof opts.holdings !== "function" || typeof opts.markFaulty !== "function") {
      throw new TypeError("warden needs holdings, challenge and markFaulty functions");
    }
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
  }

  /**
   * One round: draw pairs, challenge them (the miners at once, each miner's pairs one after another, none after its
   * first timeout), verify, record. Resolves to this round's records, in draw order.
   */
  async round(): Promise<ChallengeRecord[]> {
    const holdings = await this.#o.holdings();
    const picks = pickWeighted(holdings, this.#o.perRound, this.#o.random);
    const byNode = new Map<string, number[]>();
    picks.forEach((h, i) => (byNode.get(h.node) ?? byNode.set(h.node, []).get(h.node)!).push(i));
    const out: ChallengeRecord[] = new Array(picks.length);
    await Promise.all(
      [...byNode.values()].map(async (idx) => {
        for (const i of idx) {
          out[i] = await this.#challengeOne(picks[i]!);
          // A miner that let one challenge time out is not asked again this round (its other pairs wait for the next).
          if (out[i]!.result === "timeout") break;
        }
      }),
    );
    this.rounds++;
    return out.filter((r) => r !== undefined);
  }

  /** Sends one challenge, asking again while the miner answers busy (until the signal aborts). */
  async #ask(node: string, ch: PosChallenge, signal: AbortSignal): Promise<PosAnswer> {
    for (;;) {
      try {
        return await this.#o.challenge(node, ch, signal);
      } catch (err) {
        if (!(err instanceof ChallengeBusyError) || signal.aborted) throw err;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, BUSY_RETRY_MS);
        function done() {
          clearTimeout(t);
          signal.removeEventListener("abort", done);
          resolve();
        }
        signal.addEventListener("abort", done, { once: true });
      });
      signal.throwIfAborted();
    }
  }

  async #challengeOne(h: Holding): Promise<ChallengeRecord> {
    const ch: PosChallenge = { shard: h.shard, nonce: randomNonce(), count: this.#o.chunks, root: h.shard };
    const at = this.#now();
    const started = performance.now();
    const abort = new AbortController();
    const stop = () => abort.abort(new Error("warden stopped"));
    this.#stopping.signal.addEventListener("abort", stop, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), this.#o.deadlineMs);
    });
    let rec: ChallengeRecord;
    try {
      const answer = this.#ask(h.node, ch, abort.signal);
      answer.catch(() => {}); // a late failure after the deadline is not unhandled
      const got = await Promise.race([answer, deadline]);
      const ms = Math.round(performance.now() - started);
      if (got === "timeout") {
        abort.abort(new Error(`no answer within ${this.#o.deadlineMs} ms`));
        rec = { node: h.node, shard: h.shard, at, result: "timeout", reason: `no answer within proofs.deadline (${this.#o.deadlineMs} ms)`, ms };
      } else {
        // The answer checks and slices here, the signature on a worker thread: many answers keep two cores busy.
        await verifyAnswerParallel(ch, got, h.node, this.#o.self);
        rec = { node: h.node, shard: h.shard, at, result: "pass", ms };
      }
    } catch (err) {
      const reason = err instanceof PosVerifyError ? err.message : `the miner did not answer: ${err instanceof Error ? err.message : String(err)}`;
      rec = { node: h.node, shard: h.shard, at, result: "fail", reason, ms: Math.round(performance.now() - started) };
    } finally {
      clearTimeout(timer);
      this.#stopping.signal.removeEventListener("abort", stop);
    }
    // A challenge cut short by the warden's own stop says nothing about the miner: it is not recorded.
    if (!this.#stopping.signal.aborted) this.#record(rec);
    return rec;
  }

  #record(rec: ChallengeRecord): void {
    let m = this.#miners.get(rec.node);
    if (!m) {
      if (this.#miners.size >= MINERS_MAX) this.#miners.delete(this.#miners.keys().next().value!);
      m = { node: rec.node, pass: 0, fail: 0, timeout: 0, recent: [], faulty: false, failures: [] };
      this.#miners.set(rec.node, m);
    }
    m[rec.result]++;
    this.counts[rec.result]++;
    m.recent.push(rec);
    if (m.recent.length > RECENT_MAX) m.recent.shift();
    if (rec.result === "pass") {
      this.#o.log?.info({ node: rec.node, shard: rec.shard, ms: rec.ms }, "warden: storage proof passed");
      return;
    }
    this.#o.log?.warn({ node: rec.node, shard: rec.shard, result: rec.result, reason: rec.reason }, "warden: storage proof failed");
    const since = rec.at - this.#o.windowMs;
    m.failures = m.failures.filter((t) => t > since);
    m.failures.push(rec.at);
    if (!m.faulty && m.failures.length >= this.#o.maxFailures) {
      m.faulty = true;
      m.faultyReason = `${m.failures.length} failed storage proofs within ${this.#o.windowMs} ms (last: ${rec.result}: ${rec.reason ?? ""})`;
      this.#o.log?.warn({ node: rec.node, reason: m.faultyReason }, "warden: marking miner faulty");
      this.#o.markFaulty(rec.node, m.faultyReason);
    }
  }

  /** Every miner's record. */
  miners(): MinerRecord[] {
    return [...this.#miners.values()].map(({ failures: _f, ...m }) => ({ ...m, recent: m.recent.slice() }));
  }

  /** One miner's record, if it was ever challenged. */
  miner(node: string): MinerRecord | undefined {
    return this.miners().find((m) => m.node === node);
  }

  /** Forgets a miner's faulty mark and failures (e.g. once the cluster re-admits it). */
  clearFaulty(node: string): void {
    const m = this.#miners.get(node);
    if (!m) return;
    m.faulty = false;
    delete m.faultyReason;
    m.failures = [];
  }

  /** Starts a round every intervalMs (a round still running is not overlapped). */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      if (this.#running) return;
      this.#running = this.round()
        .catch((err: unknown) => {
          this.#o.log?.warn({ err }, "warden: round failed");
          return [];
        })
        .finally(() => {
          this.#running = undefined;
        });
    }, this.#o.intervalMs);
    this.#timer.unref?.();
  }

  /** Stops the rounds and aborts the challenges in flight. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#stopping.abort();
    await this.#running;
  }
}
