// The Connect router: registers plain-object services with their access policy and the cross-cutting interceptors.
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { NodeHandlerFn } from "../http/types.ts";
import type { Access, AccessPolicy } from "./auth.ts";
import { requestContextValues } from "./context.ts";

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

/** What a listener lets through before authentication. */
export interface ListenerPolicy {
  /** "public": api.listen, where control calls are refused whatever credentials they carry; "admin": everything. */
  listener: "public" | "admin";
  policy: AccessPolicy;
  /** Whether "read" methods (StorageService.List, Stat) are open to everyone (store.public_list). */
  readAllowed: () => boolean;
}

/**
 * Interceptor refusing, on the public listener, every control call (and "read" calls unless store.public_list) with
 * permission_denied naming the admin listener, before any token or signature is looked at.
 */
export function listenerInterceptor(opts: ListenerPolicy): Interceptor {
  return (next) => async (req) => {
    if (opts.listener === "admin") return next(req);
    const access = opts.policy.get(`${req.service.typeName}/${req.method.name}`);
    if (access === "admin") {
      throw new ConnectError(`${req.method.name} is a control call: it is served on the admin listener (api.admin_listen) only, not on the public one`, Code.PermissionDenied);
    }
    if (access === "read" && !opts.readAllowed()) {
      throw new ConnectError(
        `${req.method.name} is admin-only on the public listener (store.public_list is false): call it on the admin listener (api.admin_listen) with the admin token`,
        Code.PermissionDenied,
      );
    }
    return next(req);
  };
}

/** A node:http / node:http2 request handler serving Connect, gRPC and gRPC-Web, falling back to plain HTTP routes. */
export function rpcHandler(opts: RpcHandlerOptions): NodeHandlerFn {
  return connectNodeAdapter({
    routes(router) {
      for (const s of opts.services) router.service(s.service, s.impl as never);
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
}
