// The Connect router: registers plain-object services with their access policy and the cross-cutting interceptors.
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { NodeHandlerFn } from "../http/types.ts";
import type { Access, AccessPolicy } from "./auth.ts";
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

/** Error codes of a peer that went away mid-call (reset, closed pipe, destroyed stream). */
const GONE_CODES = new Set(["EPIPE", "ECONNRESET", "ECONNABORTED", "ERR_STREAM_DESTROYED", "ERR_STREAM_PREMATURE_CLOSE", "ERR_HTTP2_INVALID_STREAM", "ERR_HTTP2_STREAM_ERROR"]);

/** True for the errors a client's disconnect raises. */
export function isDisconnectError(err: unknown): boolean {
  for (let e = err, i = 0; e instanceof Error && i < 8; e = (e as { cause?: unknown }).cause, i++) {
    if (GONE_CODES.has((e as { code?: string }).code ?? "")) return true;
  }
  return false;
}

/**
 * Interceptor (place it right inside the error boundary) turning failures caused by the client going away into
 * `canceled`: a counted, expected event that the boundary does not log as an unexpected error.
 */
export function disconnectInterceptor(onGone: (method: string) => void): Interceptor {
  return (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    const map = (err: unknown): unknown => {
      if (err instanceof ConnectError || !isDisconnectError(err)) return err;
      onGone(method);
      return new ConnectError("the client went away", Code.Canceled, undefined, undefined, err);
    };
    let res;
    try {
      res = await next(req);
    } catch (err) {
      throw map(err);
    }
    if (!res.stream) return res;
    const source = res.message;
    const message: AsyncIterable<unknown> = {
      [Symbol.asyncIterator]() {
        const it = source[Symbol.asyncIterator]();
        return {
          next: () => it.next().catch((e: unknown) => Promise.reject(map(e))),
          return: (v?: unknown) => (it.return ? it.return(v as never) : Promise.resolve({ done: true as const, value: v })),
          // connect-node throws its write error into the stream: the handler sees `canceled` instead.
          throw: (e?: unknown) => (it.throw ? it.throw(map(e)).catch((x: unknown) => Promise.reject(map(x))) : Promise.reject(map(e))),
        } as AsyncIterator<unknown>;
      },
    };
    return { ...res, message } as typeof res;
  };
}

/**
 * connect-node prints every failed response write (e.g. EPIPE after a client hung up) unless its reason reads as
 * ECONNRESET; this re-labels the errors of a vanished client on the response so that they do.
 */
function quietOnHangup(res: Parameters<NodeHandlerFn>[1]): Parameters<NodeHandlerFn>[1] {
  const relabel = (err: unknown) => (isDisconnectError(err) ? Object.assign(new Error("the client went away", { cause: err }), { code: "ECONNRESET" }) : err);
  const emit = res.emit.bind(res) as (event: string | symbol, ...args: unknown[]) => boolean;
  (res as { emit: typeof emit }).emit = (event, ...args) => (event === "error" ? emit(event, relabel(args[0])) : emit(event, ...args));
  const write = res.write.bind(res) as (...a: unknown[]) => boolean;
  (res as { write: typeof write }).write = (...a: unknown[]) => {
    const cb = a.findIndex((x) => typeof x === "function");
    if (cb >= 0) {
      const f = a[cb] as (err?: unknown) => void;
      a[cb] = (err?: unknown) => f(err ? relabel(err) : err);
    }
    return write(...a);
  };
  return res;
}

/** A node:http / node:http2 request handler serving Connect, gRPC and gRPC-Web, falling back to plain HTTP routes. */
export function rpcHandler(opts: RpcHandlerOptions): NodeHandlerFn {
  const adapter = connectNodeAdapter({
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
    adapter(req as never, quietOnHangup(res) as never);
  };
}

function ignoreReset(): void {}
