// ClusterView: how a node's components read its current verified cluster map; MapHolder keeps it and recent epochs.
import { MapError } from "./errors.ts";
import { openSignedMap, type ClusterMap, type MapMember, type SignedMap } from "./map.ts";

/**
 * The read side of a node's cluster map, for any component that needs it (rebalancing, proofs, wardens, presence).
 * Every map it returns has been verified against the validator's key and is newer than the one before.
 */
export interface ClusterView {
  /** The validator's node id (from `cluster.validator`, or this node's own id on the validator). */
  readonly validatorId: string;
  /** The newest verified map, or undefined before the first one arrives. */
  current(): ClusterMap | undefined;
  /** The current epoch (0 before the first map). */
  epoch(): number;
  /** A member of the current map, by node id. */
  member(id: string): MapMember | undefined;
  /** Node ids of the current wardens (empty before the first map). */
  wardens(): readonly string[];
  /** Calls `listener` with every newer map as it is applied; returns the unsubscribe function. */
  subscribe(listener: (map: ClusterMap) => void): () => void;
}

/** The outcome of offering a map. */
export interface OfferResult {
  applied: boolean;
  /** The holder's epoch afterwards. */
  epoch: number;
}

/**
 * Holds the current verified map and the last few (for looking back at earlier holders). `offer` verifies a signed
 * map (signature, validator, shape) and applies it only when its epoch is newer; older or equal epochs are kept in the
 * history if missing from it, never made current.
 */
export class MapHolder implements ClusterView {
  readonly validatorId: string;
  readonly #keep: number;
  readonly #history = new Map<number, { map: ClusterMap; signed: SignedMap }>();
  #current: ClusterMap | undefined;
  #index = new Map<string, MapMember>();
  readonly #listeners = new Set<(map: ClusterMap) => void>();
  readonly #onApply: ((signed: SignedMap, map: ClusterMap) => void) | undefined;

  /**
   * @param validatorId whose signature maps must carry.
   * @param keep how many epochs to remember (current included).
   * @param onApply told of every newly applied map (e.g. to persist it).
   */
  constructor(validatorId: string, keep: number, onApply?: (signed: SignedMap, map: ClusterMap) => void) {
    if (!/^[0-9a-f]{64}$/.test(validatorId)) throw new RangeError("validatorId must be a node id (64 lowercase hex)");
    if (!Number.isSafeInteger(keep) || keep < 1) throw new RangeError("keep must be an integer >= 1");
    this.validatorId = validatorId;
    this.#keep = keep;
    this.#onApply = onApply;
  }

  current(): ClusterMap | undefined {
    return this.#current;
  }

  epoch(): number {
    return this.#current?.epoch ?? 0;
  }

  member(id: string): MapMember | undefined {
    return this.#index.get(id);
  }

  wardens(): readonly string[] {
    return this.#current?.wardens ?? [];
  }

  subscribe(listener: (map: ClusterMap) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The map of an earlier (or the current) epoch, if remembered. */
  at(epoch: number): ClusterMap | undefined {
    return this.#history.get(epoch)?.map;
  }

  /** The signed form of a remembered epoch. */
  signedAt(epoch: number): SignedMap | undefined {
    return this.#history.get(epoch)?.signed;
  }

  /** Remembered signed maps, oldest first. */
  signedHistory(): SignedMap[] {
    return [...this.#history.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v.signed);
  }

  /**
   * Verifies and applies a signed map. Throws MapError for a bad signature, another validator or a malformed map;
   * an epoch that is not newer is refused with reason "stale" unless `history` is set (then it is only remembered).
   */
  offer(signed: SignedMap, opts: { history?: boolean } = {}): OfferResult {
    const map = openSignedMap(signed, this.validatorId);
    const cur = this.epoch();
    if (map.epoch <= cur) {
      if (opts.history) {
        this.#remember(map, signed);
        return { applied: false, epoch: cur };
      }
      throw new MapError("stale", `the map's epoch ${map.epoch} is not newer than the current epoch ${cur}`);
    }
    this.#remember(map, signed);
    this.#current = map;
    this.#index = new Map(map.members.map((m) => [m.id, m]));
    this.#onApply?.(signed, map);
    for (const l of this.#listeners) {
      try {
        l(map);
      } catch {
        // A listener's failure is its own; the map stays applied.
      }
    }
    return { applied: true, epoch: map.epoch };
  }

  #remember(map: ClusterMap, signed: SignedMap): void {
    if (this.#history.has(map.epoch)) return;
    this.#history.set(map.epoch, { map, signed });
    while (this.#history.size > this.#keep) {
      const oldest = Math.min(...this.#history.keys());
      this.#history.delete(oldest);
    }
  }
}
