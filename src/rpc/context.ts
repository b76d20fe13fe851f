// Per-request context values the router sets before any interceptor runs: the caller's network address.
import { createContextKey, createContextValues, type ContextValues } from "@connectrpc/connect";
import type { NodeRequest } from "../http/types.ts";

/** The remote address of the connection the call arrived on ("unknown" when the socket is gone). */
export const remoteAddressKey = createContextKey<string>("unknown", { description: "slowdrip remote address" });

/** Context values of one request. */
export function requestContextValues(req: NodeRequest): ContextValues {
  const values = createContextValues();
  values.set(remoteAddressKey, req.socket?.remoteAddress ?? "unknown");
  return values;
}
