// Plain HTTP route table: matching, which listener serves which route, 404/405, error mapping and per-route metrics.
import type { Logger } from "../node/logger.ts";
import type { NodeMetrics } from "../node/metrics.ts";
import { writeHead, type NodeHandlerFn, type NodeRequest, type NodeResponse } from "./types.ts";

/** What a route handler receives. */
export interface HttpContext {
  req: NodeRequest;
  res: NodeResponse;
  url: URL;
  /** Capture groups of a RegExp route. */
  params: string[];
  /** The listener the request came in on. */
  listener: ListenerName;
}

/** The node's listeners: `public` (api.listen), `admin` (api.admin_listen), `hooks` (api.hooks_listen, loopback). */
export type ListenerName = "public" | "admin" | "hooks";

/**
 * Who a route is for. "public": the public listener (and the admin listener, which serves everything public);
 * "admin": the admin listener only; "hooks": the hooks listener only.
 */
export type Exposure = "public" | "admin" | "hooks";

/** One plain HTTP route. */
export interface HttpRoute {
  /** Metrics label, e.g. "/blobs/:hash". */
  name: string;
  methods: readonly string[];
  /** Exact pathname, or a RegExp matched against the pathname (capture groups become params). */
  path: string | RegExp;
  /** Where the route is served (default "admin": a route is public only when it says so). */
  expose?: Exposure | readonly Exposure[];
  /** Only answer requests from 127.0.0.0/8 or ::1 (MediaMTX hooks; checked on the socket, never on headers). */
  loopbackOnly?: boolean;
  handle(ctx: HttpContext): void | Promise<void>;
}

/** The config key of each listener, for messages. */
export const LISTENER_KEYS: Record<ListenerName, string> = { public: "api.listen", admin: "api.admin_listen", hooks: "api.hooks_listen" };

/** True when `listener` serves `route`. */
export function served(route: HttpRoute, listener: ListenerName): boolean {
  const e = route.expose ?? "admin";
  const list: readonly Exposure[] = typeof e === "string" ? [e] : e;
  if (listener === "hooks") return list.includes("hooks");
  if (listener === "admin") return list.includes("admin") || list.includes("public");
  return list.includes("public");
}

/** Where a route the listener does not serve lives instead, for the refusal. */
function elsewhere(route: HttpRoute): ListenerName {
  return served(route, "admin") ? "admin" : "hooks";
}

/** An HTTP answer for a domain error. */
export interface HttpErrorAnswer {
  status: number;
  message: string;
  headers?: Record<string, string>;
}

/** Maps a domain error to an HTTP answer, or undefined when it does not recognise it. */
export type HttpErrorMapper = (err: unknown) => HttpErrorAnswer | undefined;

/** Sends a JSON body with the status. */
export function sendJson(res: NodeResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const data = Buffer.from(`${JSON.stringify(body)}\n`);
  if (!res.headersSent) {
    writeHead(res, status, { "content-type": "application/json", "content-length": String(data.length), "cache-control": "no-store", ...headers });
  }
  res.end(data);
}

/** Sends `{"error": message}` with the status. */
export function sendError(res: NodeResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: message }, headers);
}

/** True for 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
export function isLoopback(addr: string | undefined): boolean {
  if (!addr) return false;
  return addr === "::1" || /^(::ffff:)?127\./.test(addr);
}

/** What routeHandler needs. */
export interface RouteHandlerDeps {
  metrics: NodeMetrics;
  log: Logger;
  mappers: readonly HttpErrorMapper[];
  /** The listener this handler answers on (default "admin": every route but the hooks). */
  listener?: ListenerName;
  /** api.max_body_size: on the public listener a request declaring a larger body gets 413 before any handler runs. */
  maxBodySize?: number;
  /** Called (with the route name) when a handler fails because its client went away: counted, logged at debug only. */
  onDisconnect?: (route: string) => void;
}

/** True when the client is gone: its HTTP/2 stream is closed, or its HTTP/1.1 socket or response is destroyed. */
export function clientGone(req: NodeRequest, res: NodeResponse): boolean {
  const stream = (res as { stream?: { destroyed: boolean; closed: boolean } }).stream;
  if (stream) return stream.destroyed || stream.closed;
  return res.destroyed || (req.socket?.destroyed ?? true);
}

/** Builds the request handler for a route table. */
export function routeHandler(routes: readonly HttpRoute[], deps: RouteHandlerDeps): NodeHandlerFn {
  const listener = deps.listener ?? "admin";
  return (req, res) => {
    const method = req.method ?? "GET";
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://node.invalid");
    } catch {
      sendError(res, 400, "malformed request URL");
      return;
    }
    let route: HttpRoute | undefined;
    let params: string[] = [];
    let pathMatched = false;
    for (const r of routes) {
      let m: RegExpExecArray | null = null;
      if (typeof r.path === "string" ? r.path === url.pathname : (m = r.path.exec(url.pathname)) !== null) {
        pathMatched = true;
        if (r.methods.includes(method) || (method === "OPTIONS" && r.methods.includes("OPTIONS"))) {
          route = r;
          params = m ? m.slice(1) : [];
          break;
        }
      }
    }
    const label = route?.name ?? (pathMatched ? "method-not-allowed" : "unmatched");
    res.once("finish", () => deps.metrics.httpRequests.inc({ route: label, method, status: String(res.statusCode) }));
    if (!route) {
      if (pathMatched) sendError(res, 405, `method ${method} not allowed`);
      else sendError(res, 404, `no route for ${url.pathname}`);
      return;
    }
    if (!served(route, listener)) {
      const where = elsewhere(route);
      if (listener === "hooks") sendError(res, 404, `no route for ${url.pathname} on the hooks listener`);
      else sendError(res, 403, `${method} ${route.name} is served on the ${where} listener (${LISTENER_KEYS[where]}) only`);
      return;
    }
    const declared = Number(req.headers["content-length"] ?? 0);
    if (listener === "public" && deps.maxBodySize !== undefined && declared > deps.maxBodySize) {
      const message = `body of ${declared} bytes is over api.max_body_size (${deps.maxBodySize} bytes)`;
      sendError(res, 413, message, { connection: "close", "x-reason": message, "access-control-allow-origin": "*", "access-control-expose-headers": "x-reason" });
      return;
    }
    if (route.loopbackOnly && !isLoopback(req.socket?.remoteAddress)) {
      sendError(res, 403, "this endpoint only answers loopback clients");
      return;
    }
    const fail = (err: unknown) => {
      if (clientGone(req, res)) {
        // Nobody to answer and nothing wrong here (e.g. a GET, then close, before the headers): no 500, no error log.
        deps.onDisconnect?.(route.name);
        deps.log.debug({ route: route.name, reason: err instanceof Error ? err.message : String(err) }, "client went away before the answer was complete");
        if (!res.destroyed) res.destroy();
        return;
      }
      for (const m of deps.mappers) {
        const a = m(err);
        if (a) {
          if (res.headersSent) res.destroy();
          else sendError(res, a.status, a.message, a.headers);
          return;
        }
      }
      deps.log.error({ err, route: route.name }, "unexpected error in HTTP handler");
      if (res.headersSent) res.destroy();
      else sendError(res, 500, "internal error");
    };
    try {
      const p = route.handle({ req, res, url, params, listener });
      if (p) p.catch(fail);
    } catch (err) {
      fail(err);
    }
  };
}
