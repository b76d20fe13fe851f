// The miner's side of storage challenges: who may challenge (an injected predicate), how many proofs may be in
// flight (tuning.pos_concurrency; more are refused at once, not queued), and counters for metrics.
import { answerChallenge, PosError, type PosAnswer, type PosChallenge, type PosSigner, type ShardSource } from "./storage.ts";

/** What a responder needs. */
export interface PosResponderOptions {
  source: ShardSource;
  signer: PosSigner;
  /** Proofs in flight at most (tuning.pos_concurrency). */
  concurrency: number;
  /** Whether the caller (a verified node id) may challenge: the validator or a warden of the current map. */
  mayChallenge: (callerNodeId: string) => boolean;
}

/** Outcomes counted by the responder. */
export type PosOutcome = "answered" | "refused" | "busy" | "not-stored" | "corrupt" | "bad-challenge" | "error";

/** Answers storage challenges for the node's blob store under the access and concurrency rules. */
export class PosResponder {
  readonly #o: PosResponderOptions;
  #inFlight = 0;
  readonly counts: Record<PosOutcome, number> = { answered: 0, refused: 0, busy: 0, "not-stored": 0, corrupt: 0, "bad-challenge": 0, error: 0 };

  constructor(opts: PosResponderOptions) {
    if (!opts || typeof opts.source?.baoChunkSlices !== "function") throw new TypeError("PosResponder needs a shard source");
    if (!Number.isSafeInteger(opts.concurrency) || opts.concurrency < 1) throw new RangeError(`pos concurrency must be >= 1, got ${opts.concurrency}`);
    if (typeof opts.mayChallenge !== "function") throw new TypeError("PosResponder needs a mayChallenge predicate");
    this.#o = opts;
  }

  /** Proofs being computed now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Answers `ch` for `caller` (the verified signer's node id, undefined when unsigned). Throws PosError: refused
   * (not a challenger), busy (pos_concurrency proofs in flight), bad-challenge, not-stored, corrupt.
   */
  async answer(caller: string | undefined, ch: PosChallenge, signal?: AbortSignal): Promise<PosAnswer> {
    if (caller === undefined || !this.#o.mayChallenge(caller)) {
      this.counts.refused++;
      throw new PosError("refused", "only the validator or a warden named in the current cluster map may send storage challenges");
    }
    if (this.#inFlight >= this.#o.concurrency) {
      this.counts.busy++;
      throw new PosError("busy", `${this.#inFlight} storage proofs in flight (tuning.pos_concurrency = ${this.#o.concurrency}); retry later`);
    }
    this.#inFlight++;
    try {
      const a = await answerChallenge(this.#o.source, ch, this.#o.signer, caller, signal);
      this.counts.answered++;
      return a;
    } catch (err) {
      this.counts[err instanceof PosError ? (err.reason as PosOutcome) : "error"]++;
      throw err;
    } finally {
      this.#inFlight--;
    }
  }
}
