// Bounded memo of signatures already verified, so that events a relay sends again (every catalog refresh, every
// re-subscription) cost a SHA-256 of their id rather than a Schnorr and an Ed25519 verification each time.

/** A bounded set of strings, forgetting the oldest first. */
export class BoundedSet {
  readonly #max: number;
  readonly #items = new Set<string>();
  constructor(max: number) {
    this.#max = max;
  }
  has(k: string): boolean {
    return this.#items.has(k);
  }
  add(k: string): void {
    if (this.#items.has(k)) return;
    if (this.#items.size >= this.#max) this.#items.delete(this.#items.values().next().value!);
    this.#items.add(k);
  }
}

/** (id, pubkey, sig) triples whose Schnorr signature verified; the id itself is always recomputed from the event. */
export const verifiedSchnorr = new BoundedSet(50_000);
/** (pubkey, node id, signature) of binding tags that verified. */
export const verifiedBindings = new BoundedSet(10_000);
