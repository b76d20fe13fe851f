// Domain errors of the payment layer: small classes with actionable fields; adapters map them to HTTP/Connect.

/** Base class: `code` is a stable machine-readable reason (also used as the HTTP X-Reason). */
export class PayError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PayError";
    this.code = code;
  }
}

/** The mint is not on the trust list: nothing is received from or swapped into it. */
export class UntrustedMintError extends PayError {
  readonly mint: string;
  constructor(mint: string) {
    super("untrusted-mint", `mint ${mint} is not trusted (add it with TrustMint / "slowdrip wallet trust")`);
    this.name = "UntrustedMintError";
    this.mint = mint;
  }
}

/** The wallet holds too little spendable value on this mint. */
export class InsufficientFundsError extends PayError {
  readonly mint: string;
  readonly needed: number;
  readonly available: number;
  constructor(mint: string, needed: number, available: number) {
    super("insufficient-funds", `need ${needed} sat on ${mint}, have ${available} sat spendable`);
    this.name = "InsufficientFundsError";
    this.mint = mint;
    this.needed = needed;
    this.available = available;
  }
}

/** A token that cannot be accepted; `code` says why (bad-token, wrong-unit, untrusted-mint, underpaid, already-spent, ...). */
export class TokenError extends PayError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "TokenError";
  }
}

/** A fee is above the caller's cap; nothing was paid. */
export class FeeCapError extends PayError {
  readonly fee: number;
  readonly cap: number;
  constructor(fee: number, cap: number) {
    super("fee-cap", `fee ${fee} sat is above the cap of ${cap} sat`);
    this.name = "FeeCapError";
    this.fee = fee;
    this.cap = cap;
  }
}

/** A mint call failed; the operation stays persisted and resumes on the next `resume()`. */
export class MintCallError extends PayError {
  readonly mint: string;
  readonly opId: string | undefined;
  constructor(mint: string, what: string, opId: string | undefined, cause: unknown) {
    super("mint-error", `${what} at ${mint} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "MintCallError";
    this.mint = mint;
    this.opId = opId;
  }
}

/** An operation is waiting on the mint or Lightning (quote unpaid, payment pending); retry later. */
export class OpPendingError extends PayError {
  readonly opId: string;
  readonly state: string;
  constructor(opId: string, state: string, message: string) {
    super("pending", message);
    this.name = "OpPendingError";
    this.opId = opId;
    this.state = state;
  }
}

/** No operation with this id, or it is in a state that does not allow the request. */
export class OpStateError extends PayError {
  readonly opId: string;
  constructor(opId: string, message: string) {
    super("op-state", message);
    this.name = "OpStateError";
    this.opId = opId;
  }
}
