// Domain errors of the cluster (map, placement, shards, files): small classes with the fields a caller acts on.

/** Base class of every cluster error, so adapters can recognise them with one `instanceof`. */
export class ClusterError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ClusterError";
  }
}

/** A signed cluster map was refused: why, in `reason`. */
export class MapError extends ClusterError {
  readonly reason: "malformed" | "bad-signature" | "wrong-validator" | "stale";
  constructor(reason: MapError["reason"], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MapError";
    this.reason = reason;
  }
}

/** Placement is impossible with the current members (too few members or families); the message says what is short. */
export class PlacementUnavailableError extends ClusterError {
  readonly epoch: number;
  constructor(epoch: number, message: string, options?: { cause?: unknown }) {
    super(`placement impossible in epoch ${epoch}: ${message}`, options);
    this.name = "PlacementUnavailableError";
    this.epoch = epoch;
  }
}

/** No cluster map yet (the node has not registered or heard from its validator). */
export class NoMapError extends ClusterError {
  constructor(message = "no cluster map yet: the validator has not published one (are miners registered?)") {
    super(message);
    this.name = "NoMapError";
  }
}

/** A shard could not be obtained from any source; `tried` names each source and why it failed. */
export class ShardUnavailableError extends ClusterError {
  readonly hash: string;
  readonly tried: readonly string[];
  constructor(hash: string, tried: readonly string[], options?: { cause?: unknown }) {
    super(`shard ${hash} is unavailable: ${tried.length ? tried.join("; ") : "no holder known"}`, options);
    this.name = "ShardUnavailableError";
    this.hash = hash;
    this.tried = tried;
  }
}

/** A peer answered that it does not hold the shard (not a transient failure: asking again will not help). */
export class ShardNotHeldError extends ClusterError {
  readonly hash: string;
  constructor(hash: string, options?: { cause?: unknown }) {
    super(`the peer does not hold shard ${hash}`, options);
    this.name = "ShardNotHeldError";
    this.hash = hash;
  }
}

/** Fewer than k shards of a stripe could be read or verified. */
export class StripeUnreadableError extends ClusterError {
  readonly file: string;
  readonly stripe: number;
  readonly got: number;
  readonly need: number;
  readonly tried: readonly string[];
  constructor(file: string, stripe: number, got: number, need: number, tried: readonly string[]) {
    super(`stripe ${stripe} of ${file}: only ${got} of the ${need} shards needed could be read (${tried.join("; ")})`);
    this.name = "StripeUnreadableError";
    this.file = file;
    this.stripe = stripe;
    this.got = got;
    this.need = need;
    this.tried = tried;
  }
}
