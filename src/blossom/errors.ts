// Blossom's domain errors: one class with a machine-readable reason and a message a user can act on; the HTTP binding
// maps reasons to status codes.

/** Why a Blossom request was refused. */
export type BlossomReason =
  // Authorization (BUD-11): missing, undecodable or failing a check.
  | "auth-missing"
  | "auth-scheme"
  | "auth-too-large"
  | "auth-encoding"
  | "auth-malformed"
  | "auth-kind"
  | "auth-unsigned"
  | "auth-signature"
  | "auth-future"
  | "auth-expiration"
  | "auth-expired"
  | "auth-verb"
  | "auth-server"
  | "auth-x"
  // Upload policy.
  | "not-allowed"
  | "quota-bytes"
  | "quota-blobs"
  | "too-large"
  | "length-required"
  | "bad-type"
  | "type-not-allowed"
  | "bad-sha256"
  | "bad-length"
  | "sha256-mismatch"
  // Reads, lists, deletes.
  | "bad-hash"
  | "bad-extension"
  | "not-found"
  | "not-owner"
  | "bad-pubkey"
  | "bad-query"
  // Mirror (BUD-04).
  | "bad-body"
  | "bad-url"
  | "mirror-off"
  | "mirror-host"
  | "mirror-ambiguous"
  | "mirror-fetch";

/** A refused Blossom request: nothing was stored or changed. */
export class BlossomError extends Error {
  readonly reason: BlossomReason;
  constructor(reason: BlossomReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BlossomError";
    this.reason = reason;
  }
}
