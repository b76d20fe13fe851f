// Domain errors of the blob store: small classes with the fields a caller needs to act; mapped to RPC/HTTP codes elsewhere.

/** Base class of every blob-store error, so adapters can recognise them with one `instanceof`. */
export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreError";
  }
}

/** No blob with this hash is stored. */
export class NotFoundError extends StoreError {
  readonly hash: string;
  constructor(hash: string, options?: { cause?: unknown }) {
    super(`blob ${hash} not found`, options);
    this.name = "NotFoundError";
    this.hash = hash;
  }
}

/** A blob id is not 64 lowercase hex characters. */
export class InvalidHashError extends StoreError {
  readonly value: string;
  constructor(value: string, options?: { cause?: unknown }) {
    const shown = value.length > 80 ? `${value.slice(0, 80)}...` : value;
    super(`invalid blob hash ${JSON.stringify(shown)}: expected 64 lowercase hex characters (BLAKE3-256)`, options);
    this.name = "InvalidHashError";
    this.value = value;
  }
}

/** The bytes received do not hash to the hash the caller expected; nothing was stored. */
export class HashMismatchError extends StoreError {
  readonly expected: string;
  readonly actual: string;
  readonly size: number;
  constructor(expected: string, actual: string, size: number, options?: { cause?: unknown }) {
    super(`hash mismatch: expected ${expected}, got ${actual} for ${size} bytes; nothing stored`, options);
    this.name = "HashMismatchError";
    this.expected = expected;
    this.actual = actual;
    this.size = size;
  }
}

/** Accepting the bytes would exceed `max_storage`; nothing was stored and used space is unchanged. */
export class StoreFullError extends StoreError {
  /** Bytes the import needed (at least). */
  readonly needed: number;
  /** Bytes free at the time of the check (max - used - reserved by other imports). */
  readonly free: number;
  /** The configured limit. */
  readonly max: number;
  constructor(needed: number, free: number, max: number, options?: { cause?: unknown }) {
    super(`store full: need ${needed} bytes, ${free} free of max_storage ${max}; nothing stored`, options);
    this.name = "StoreFullError";
    this.needed = needed;
    this.free = free;
    this.max = max;
  }
}

/** The requested byte range does not overlap the blob. */
export class RangeNotSatisfiableError extends StoreError {
  readonly hash: string;
  readonly offset: number;
  readonly length: number;
  readonly size: number;
  constructor(hash: string, offset: number, length: number, size: number, options?: { cause?: unknown }) {
    super(`range offset ${offset} length ${length} is outside blob ${hash} of ${size} bytes`, options);
    this.name = "RangeNotSatisfiableError";
    this.hash = hash;
    this.offset = offset;
    this.length = length;
    this.size = size;
  }
}

/** A concurrency limit stayed full for longer than the queue timeout. */
export class BusyError extends StoreError {
  /** Which limit: "store", "fetch" or "pull". */
  readonly limit: string;
  readonly capacity: number;
  readonly waitedMs: number;
  constructor(limit: string, capacity: number, waitedMs: number, options?: { cause?: unknown }) {
    super(`busy: all ${capacity} ${limit} slots in use for ${waitedMs} ms; retry later`, options);
    this.name = "BusyError";
    this.limit = limit;
    this.capacity = capacity;
    this.waitedMs = waitedMs;
  }
}

/** The blob is pinned and may not be deleted until it is unpinned. */
export class PinnedError extends StoreError {
  readonly hash: string;
  constructor(hash: string, options?: { cause?: unknown }) {
    super(`blob ${hash} is pinned; unpin it before deleting`, options);
    this.name = "PinnedError";
    this.hash = hash;
  }
}

/** The import was cancelled (client went away, signal aborted) or its source failed; nothing was stored. */
export class ImportAbortedError extends StoreError {
  readonly bytesReceived: number;
  constructor(bytesReceived: number, reason: string, options?: { cause?: unknown }) {
    super(`import aborted after ${bytesReceived} bytes: ${reason}; nothing stored`, options);
    this.name = "ImportAbortedError";
    this.bytesReceived = bytesReceived;
  }
}

/** The upload's size disagrees with the size it declared up front. */
export class SizeMismatchError extends StoreError {
  readonly declared: number;
  readonly received: number;
  constructor(declared: number, received: number, options?: { cause?: unknown }) {
    super(`upload declared ${declared} bytes but sent ${received}; nothing stored`, options);
    this.name = "SizeMismatchError";
    this.declared = declared;
    this.received = received;
  }
}

/** Stored data is damaged (a chunk missing or of the wrong length). */
export class CorruptBlobError extends StoreError {
  readonly hash: string;
  readonly chunk: number;
  constructor(hash: string, chunk: number, detail: string, options?: { cause?: unknown }) {
    super(`blob ${hash} is damaged at chunk ${chunk}: ${detail}`, options);
    this.name = "CorruptBlobError";
    this.hash = hash;
    this.chunk = chunk;
  }
}
