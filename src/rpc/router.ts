// The Connect router: registers plain-object services with their access policy and the cross-cutting interceptors.
import type { DescService } from "@bufbuild/protobuf";
import type { Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { NodeHandlerFn } from "../http/types.ts";
import type { Access } from "./auth.ts";
import { requestContextValues } from "./context.ts";
import { guardRequestBodies } from "./malformed.ts";

/** A service implementation plus the access level of each method (by proto method name, e.g. "GetStatus"). */
export interface RpcService {
  service: DescService;
  impl: object;
  access: Record<string, Access>;
}

/** Options of the RPC handler. */
export interface RpcHandlerOptions {
  services: RpcService[];
  interceptors: Interceptor[];
  maxMessageSize: number;
  maxTimeoutMs: number;
  shutdownSignal?: AbortSignal;
  /** Handler for requests that are not RPCs. */
  fallback: NodeHandlerFn;
}

/** Access policy map ("pkg.Service/Method" -> access) for the services. Every method must be listed. */
export function accessPolicy(services: RpcService[]): Map<string, Access> {
  const policy = new Map<string, Access>();
  for (const s of services) {
    for (const m of s.service.methods) {
      const a = s.access[m.name];
      if (a === undefined) throw new Error(`service ${s.service.typeName} method ${m.name} has no access level`);
      policy.set(`${s.service.typeName}/${m.name}`, a);
    }
  }
  return policy;
}

/** A node:http / node:http2 request handler serving Connect, gRPC and gRPC-Web, falling back to plain HTTP routes. */
export function rpcHandler(opts: RpcHandlerOptions): NodeHandlerFn {
  const handle = connectNodeAdapter({
    routes(router) {
      for (const s of opts.services) router.service(s.service, s.impl as never);
      // Undecodable binary request messages are invalid_argument, not Internal (see malformed.ts).
      guardRequestBodies(router.handlers, opts.maxMessageSize);
    },
    interceptors: opts.interceptors,
    // Compression is off: blob bytes are incompressible and gzip costs far more than it saves on loopback and LAN.
    acceptCompression: [],
    readMaxBytes: opts.maxMessageSize,
    writeMaxBytes: opts.maxMessageSize,
    maxTimeoutMs: opts.maxTimeoutMs,
    ...(opts.shutdownSignal ? { shutdownSignal: opts.shutdownSignal } : {}),
    contextValues: requestContextValues as never,
    grpc: true,
    grpcWeb: true,
    connect: true,
    fallback: opts.fallback as never,
  });
  return (req, res) => {
    // A client reset destroys the request with an 'error' that node emits a tick later; connect-node may drop its own
    // 'error' listener in between (a pipelined call whose answer is queued), and an unheard 'error' ends the process.
    // This listener keeps the reset a non-event for the request's lifetime (the call itself is aborted by its signal).
    req.on("error", ignoreReset);
    handle(req, res);
  };
}

function ignoreReset(): void {}
