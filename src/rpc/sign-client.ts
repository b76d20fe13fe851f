// Client interceptor that signs outgoing RPCs with a node key (x-slowdrip-* headers), for peer and operator calls.
import { toBinary } from "@bufbuild/protobuf";
import type { Interceptor } from "@connectrpc/connect";
import { signRequest } from "../identity/request-signing.ts";
import type { Identity } from "../identity/identity.ts";

/** Signs every call: method path, time, nonce, and the binary request message for unary calls. */
export function signingInterceptor(identity: Pick<Identity, "secretKey" | "nodeId">): Interceptor {
  return (next) => async (req) => {
    const body = req.stream ? undefined : toBinary(req.method.input, req.message);
    const headers = signRequest(
      { method: "POST", path: `/${req.service.typeName}/${req.method.name}`, ...(body ? { body } : {}) },
      identity.secretKey,
      identity.nodeId,
    );
    for (const [k, v] of Object.entries(headers)) req.header.set(k, v);
    return next(req);
  };
}
