// Per-request context values the router sets before any interceptor runs: the caller's network address.
import { createContextKey, createContextValues, type ContextValues } from "@connectrpc/connect";
import type { NodeRequest } from "../http/types.ts";
import type { StreamBodyHasher } from "../identity/request-signing.ts";

/** The remote address of the connection the call arrived on ("unknown" when the socket is gone). */
export const remoteAddressKey = createContextKey<string>("unknown", { description: "slowdrip remote address" });

/** Context values of one request. */
export function requestContextValues(req: NodeRequest): ContextValues {
  const values = createContextValues();
  values.set(remoteAddressKey, req.socket?.remoteAddress ?? "unknown");
  return values;
}

/**
 * A signed client stream's body hash, computed over its frames as they arrive (by the request-body guard, malformed.ts)
 * so that the signature check need not serialize every message again; `complete` once the body ended with every frame
 * hashed.
 */
export interface RawStreamHash {
  hasher: StreamBodyHasher;
  complete: boolean;
}

/** Where the guard leaves a signed client stream's RawStreamHash for the signature check (auth.ts). */
export const rawStreamHashKey = createContextKey<RawStreamHash | undefined>(undefined, { description: "slowdrip raw stream hash" });
