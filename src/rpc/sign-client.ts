// Client interceptor that signs outgoing RPCs with a node key (x-slowdrip-* headers), for peer and operator calls.
import { toBinary, type DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { signRequest, StreamBodyHasher, type SignedParts } from "../identity/request-signing.ts";
import type { Identity } from "../identity/identity.ts";

/** Most bytes of a client stream the signer buffers to hash before sending (its hash is declared up front). */
export const MAX_SIGNED_STREAM_BYTES = 1024 * 1024 * 1024;

/**
 * Signs every call for the node `target` (its hex id, or a function giving it): method path, time, nonce, and the
 * request body — the binary message of unary and server-streaming calls, and for client streams the declared
 * BLAKE3 of the framed messages (`x-slowdrip-body`), for which the stream is buffered (at most
 * MAX_SIGNED_STREAM_BYTES) before it is sent.
 */
export function signingInterceptor(identity: Pick<Identity, "secretKey" | "nodeId">, target: string | (() => string)): Interceptor {
  return (next) => async (req) => {
    const parts: SignedParts = { method: "POST", path: `/${req.service.typeName}/${req.method.name}` };
    const input = req.method.input as DescMessage;
    if (!req.stream) {
      parts.body = toBinary(input, req.message);
    } else {
      const messages: unknown[] = [];
      const h = new StreamBodyHasher();
      for await (const m of req.message) {
        const bytes = toBinary(input, m as never);
        if (h.bytes + bytes.length > MAX_SIGNED_STREAM_BYTES) {
          throw new ConnectError(`a signed client stream may carry at most ${MAX_SIGNED_STREAM_BYTES} bytes`, Code.ResourceExhausted);
        }
        if (req.method.methodKind === "server_streaming") parts.body = bytes;
        else h.update(bytes);
        messages.push(m);
      }
      if (req.method.methodKind !== "server_streaming") parts.bodyHash = h.digestHex();
      req = { ...req, message: (async function* () { yield* messages; })() as never };
    }
    const headers = signRequest(parts, identity.secretKey, identity.nodeId, typeof target === "function" ? target() : target);
    for (const [k, v] of Object.entries(headers)) req.header.set(k, v);
    return next(req);
  };
}
