// Upgrade routes (WebSocket): which listener takes an HTTP/1.1 upgrade for which path; everything else is refused.
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { served, type Exposure, type ListenerName } from "./routes.ts";
import type { UpgradeHandlerFn } from "./types.ts";

/** One path that accepts upgrades. */
export interface UpgradeRoute {
  /** Metrics/log label, e.g. "/tracker". */
  name: string;
  /** Exact pathname. */
  path: string;
  /** Where it is served (as HttpRoute.expose; default "admin"). */
  expose?: Exposure | readonly Exposure[];
  handle(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

/** Writes a plain HTTP/1.1 refusal on a socket that asked for an upgrade, then closes it. */
export function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  const body = `${JSON.stringify({ error: reason })}\n`;
  const text = status === 404 ? "Not Found" : status === 403 ? "Forbidden" : status === 400 ? "Bad Request" : status === 503 ? "Service Unavailable" : "Error";
  if (socket.writable) {
    socket.end(`HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}

/** The upgrade handler of one listener: the route for the request's path if this listener serves it, else 404. */
export function upgradeHandler(routes: readonly UpgradeRoute[], listener: ListenerName): UpgradeHandlerFn {
  return (req, socket, head) => {
    socket.on("error", () => socket.destroy());
    let pathname: string;
    try {
      pathname = new URL(req.url ?? "/", "http://node.invalid").pathname;
    } catch {
      refuseUpgrade(socket, 400, "malformed request URL");
      return;
    }
    const route = routes.find((r) => r.path === pathname && served({ name: r.name, methods: ["GET"], path: r.path, ...(r.expose ? { expose: r.expose } : {}), handle: () => {} }, listener));
    if (!route || listener === "hooks") {
      refuseUpgrade(socket, 404, `no upgrade route for ${pathname}`);
      return;
    }
    route.handle(req, socket, head);
  };
}
