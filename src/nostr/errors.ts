// Domain errors of the Nostr layer (mapped to codes only at the boundary).

/** A Nostr key, event or relay answer that cannot be used. */
export class NostrError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NostrError";
  }
}

/** An event refused by verification (bad signature, binding, size or shape); `reason` is a short code for metrics. */
export class EventRejected extends NostrError {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.name = "EventRejected";
    this.reason = reason;
  }
}
