// Request and response types shared by HTTP/1.1 and HTTP/2 handlers.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";

export type NodeRequest = IncomingMessage | Http2ServerRequest;
export type NodeResponse = ServerResponse | Http2ServerResponse;
/** A request handler usable on both node:http and node:http2 servers. */
export type NodeHandlerFn = (req: NodeRequest, res: NodeResponse) => void;

/** Writes the status line and headers on either kind of response (their writeHead overloads differ only in types). */
export function writeHead(res: NodeResponse, status: number, headers: Record<string, string | string[]>): void {
  (res as ServerResponse).writeHead(status, headers);
}

/** Takes over an HTTP/1.1 connection that asked for an upgrade (WebSocket): the request, its socket and the bytes read past the headers. */
export type UpgradeHandlerFn = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
