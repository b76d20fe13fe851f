// One listener: a TCP server that hands each connection to HTTP/1.1 or cleartext HTTP/2 (prior knowledge) by its
// preface, or, with a certificate, to HTTP/2 or HTTP/1.1 over TLS by ALPN; with a cap per remote address, idle
// timeouts, a cap on HTTP/2 streams and the per-request progress watchdog.
import { createServer as createHttp1Server, type IncomingMessage, type Server as Http1Server } from "node:http";
import { createServer as createHttp2Server, type Http2Server, type ServerHttp2Session } from "node:http2";
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from "node:net";
import { once } from "node:events";
import { Duplex } from "node:stream";
import type { NodeHandlerFn, UpgradeHandlerFn } from "./types.ts";
import { createSecureContext, TLSSocket } from "node:tls";
import { RAW_SOCKET, resetConnection, Watchdog, type CutReason } from "./watchdog.ts";

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const PREFACE_TIMEOUT_MS = 10_000;

/** Options of the listener. */
export interface ListenerOptions {
  host: string;
  port: number;
  handler: NodeHandlerFn;
  maxConnections: number;
  /** Most connections one remote address may hold at once (0: no limit). */
  maxConnectionsPerIp: number;
  /**
   * A connection with no request in flight (HTTP/2: no open stream) is closed after this long (HTTP/1.1 keep-alive
   * after at most 5 s), and so is an upload that receives no byte for this long while the node waits for it.
   */
  idleTimeoutMs: number;
  /** A response whose buffered output makes no progress for this long is destroyed. */
  writeStallTimeoutMs: number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS. */
  maxH2Streams: number;
  /** Called whenever the listener cuts a connection or a request (metrics). */
  onCut?: (reason: CutReason) => void;
  /** PEM certificate chain and private key: serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) instead of cleartext. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /**
   * HTTP/1.1 requests with an `Upgrade` header (WebSocket) go here, with the socket; without it they are refused (the
   * socket is destroyed). The socket still counts against the per-address and total caps.
   */
  onUpgrade?: UpgradeHandlerFn;
}

/** The remote address a per-address cap counts ("::ffff:1.2.3.4" counts as "1.2.3.4"). */
export function addressKey(addr: string | undefined): string {
  if (!addr) return "unknown";
  return addr.startsWith("::ffff:") && addr.includes(".") ? addr.slice(7) : addr.toLowerCase();
}

/** A running listener. */
export interface Listener {
  readonly address: AddressInfo;
  /** Base URL, e.g. "http://127.0.0.1:8080". */
  readonly url: string;
  /** Requests currently being answered. */
  readonly inFlight: number;
  /**
   * Stops accepting, lets in-flight requests finish for up to `graceMs`, then closes every connection.
   * Resolves once everything is closed.
   */
  close(graceMs: number): Promise<void>;
}

/**
 * A duplex that replays the bytes already read from the socket, then relays the socket.
 * Used for HTTP/2 over TLS only, where handing the TLS socket itself to node:http2 broke the HTTPS tests (cleartext
 * HTTP/2 unshifts its sniffed bytes instead, see route).
 */
function withHead(socket: Socket, head: Buffer): Duplex {
  const d = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk, encoding, cb) {
      socket.write(chunk, encoding, cb);
    },
    final(cb) {
      socket.end(cb);
    },
    destroy(err, cb) {
      // With bytes still queued for a client that does not read, reset: a FIN would wait behind them.
      if (socket.writableLength > 0 && !socket.destroyed) resetConnection(socket);
      else socket.destroy(err ?? undefined);
      cb(err);
    },
  });
  Object.defineProperties(d, {
    remoteAddress: { get: () => socket.remoteAddress },
    remotePort: { get: () => socket.remotePort },
    remoteFamily: { get: () => socket.remoteFamily },
    localAddress: { get: () => socket.localAddress },
    localPort: { get: () => socket.localPort },
  });
  (d as unknown as Record<symbol, unknown>)[RAW_SOCKET] = socket;
  d.push(head);
  socket.on("data", (c: Buffer) => {
    if (!d.push(c)) socket.pause();
  });
  socket.once("end", () => d.push(null));
  socket.once("error", (e) => d.destroy(e));
  socket.once("close", () => d.destroy());
  return d;
}

/** Starts the listener. */
export async function startListener(opts: ListenerOptions): Promise<Listener> {
  let inFlight = 0;
  let closing = false;
  let idle: (() => void) | undefined;
  const watchdog = new Watchdog({ idleTimeoutMs: opts.idleTimeoutMs, writeStallTimeoutMs: opts.writeStallTimeoutMs, ...(opts.onCut ? { onCut: opts.onCut } : {}) });
  const track: NodeHandlerFn = (req, res) => {
    inFlight++;
    if (closing && "shouldKeepAlive" in res) res.shouldKeepAlive = false;
    res.once("close", () => {
      inFlight--;
      if (inFlight === 0) idle?.();
    });
    watchdog.watch(req, res);
    opts.handler(req, res);
  };

  // No requestTimeout: an upload that keeps moving is never cut; one that stalls is (the watchdog's idle timeout).
  const h1: Http1Server = createHttp1Server(
    {
      requestTimeout: 0,
      headersTimeout: Math.min(30_000, opts.idleTimeoutMs),
      keepAliveTimeout: Math.min(5_000, opts.idleTimeoutMs),
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(opts.idleTimeoutMs / 4))),
      // Only WebSocket upgrades, and only when someone takes them, leave the request path (an h2c upgrade attempt, or
      // any upgrade without a taker, is answered as the plain HTTP/1.1 request it also is).
      shouldUpgradeCallback: (req: IncomingMessage) => opts.onUpgrade !== undefined && /\bwebsocket\b/i.test(String(req.headers.upgrade ?? "")),
    },
    track as never,
  );
  // Upgrades (WebSocket): handed over with the socket, or refused when nobody takes them.
  h1.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    if (closing || !opts.onUpgrade) {
      socket.destroy();
      return;
    }
    opts.onUpgrade(req, socket, head);
  });
  const h2: Http2Server = createHttp2Server({ settings: { maxConcurrentStreams: opts.maxH2Streams } }, track as never);
  const sessions = new Set<ServerHttp2Session>();
  h2.on("session", (s: ServerHttp2Session) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
    if (closing) s.close();
    idleSessionTimer(s, opts.idleTimeoutMs, () => opts.onCut?.("idle"));
  });
  const sockets = new Set<Socket>();
  const perIp = new Map<string, number>();

  // TLS: ALPN picks the protocol ("h2", else HTTP/1.1); the TCP socket is kept under the TLS one for resets.
  const secure = opts.tls ? createSecureContext({ cert: opts.tls.cert, key: opts.tls.key, minVersion: "TLSv1.2" }) : undefined;
  const handshake = (socket: Socket) => {
    const t = new TLSSocket(socket, { isServer: true, secureContext: secure, ALPNProtocols: ["h2", "http/1.1"] });
    (t as unknown as Record<symbol, unknown>)[RAW_SOCKET] = socket;
    const timer = setTimeout(() => t.destroy(), Math.min(PREFACE_TIMEOUT_MS, opts.idleTimeoutMs));
    t.on("error", () => t.destroy());
    t.once("close", () => clearTimeout(timer));
    t.once("secure", () => {
      clearTimeout(timer);
      // HTTP/2 reads through the JS stream adapter: bytes the TLS socket already decrypted are not lost.
      if (t.alpnProtocol === "h2") h2.emit("connection", withHead(t as unknown as Socket, Buffer.alloc(0)));
      else h1.emit("connection", t);
    });
  };

  const route = (socket: Socket) => {
    const key = addressKey(socket.remoteAddress);
    const held = perIp.get(key) ?? 0;
    if (opts.maxConnectionsPerIp > 0 && held >= opts.maxConnectionsPerIp) {
      opts.onCut?.("per-ip-limit");
      socket.destroy();
      return;
    }
    perIp.set(key, held + 1);
    sockets.add(socket);
    socket.once("close", () => {
      sockets.delete(socket);
      const n = (perIp.get(key) ?? 1) - 1;
      if (n <= 0) perIp.delete(key);
      else perIp.set(key, n);
    });
    if (secure) {
      handshake(socket);
      return;
    }
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), Math.min(PREFACE_TIMEOUT_MS, opts.idleTimeoutMs));
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const n = Math.min(buf.length, H2_PREFACE.length);
      const isH2Prefix = buf.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (isH2Prefix && n < H2_PREFACE.length) return; // need more bytes to decide
      clearTimeout(timer);
      socket.off("data", onData);
      if (isH2Prefix) {
        // The sniffed bytes go back into the socket's buffer, which a new Http2Session reads before it consumes the
        // native handle, so HTTP/2 runs on the TCP handle with no JS stream in between (the JS duplex replay this
        // replaced ran every frame through JS: FetchBlob over gRPC at 0.13-0.15x bare node:http). Paused, so the
        // buffer is not drained to nobody before the session reads it.
        socket.pause();
        socket.unshift(buf);
        (socket as unknown as Record<symbol, unknown>)[RAW_SOCKET] = socket;
        h2.emit("connection", socket);
      } else {
        socket.pause();
        socket.unshift(buf);
        h1.emit("connection", socket);
        socket.resume();
      }
    };
    socket.on("data", onData);
    socket.once("error", () => clearTimeout(timer));
    socket.once("close", () => clearTimeout(timer));
  };

  const server: NetServer = createNetServer({ pauseOnConnect: false, noDelay: true }, route);
  server.maxConnections = opts.maxConnections;
  server.listen({ host: opts.host, port: opts.port });
  await Promise.race([once(server, "listening"), once(server, "error").then(([e]) => Promise.reject(e))]);
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;

  return {
    address,
    url: `${secure ? "https" : "http"}://${host}:${address.port}`,
    get inFlight() {
      return inFlight;
    },
    async close(graceMs: number) {
      closing = true;
      watchdog.stop();
      const closed = new Promise<void>((r) => server.close(() => r()));
      h1.closeIdleConnections();
      for (const s of sessions) s.close();
      if (inFlight > 0) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, graceMs);
          idle = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
      // Let the last responses flush before tearing down what is left.
      await new Promise((r) => setTimeout(r, 50));
      h1.closeAllConnections();
      for (const s of sessions) s.destroy();
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

/** Closes an HTTP/2 session that has had no open stream for `idleMs` (GOAWAY, then destroy if it lingers). */
function idleSessionTimer(s: ServerHttp2Session, idleMs: number, onIdle: () => void): void {
  let open = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    timer = setTimeout(() => {
      onIdle();
      s.close();
      setTimeout(() => {
        if (s.destroyed) return;
        // The session's socket is a guarded proxy: reach the TCP socket under it to reset it.
        const raw = (s.socket as unknown as Record<symbol, Socket | undefined>)[RAW_SOCKET];
        s.destroy();
        if (raw && !raw.destroyed) resetConnection(raw);
      }, 1_000).unref();
    }, idleMs);
    timer.unref();
  };
  s.on("stream", (stream) => {
    open++;
    clearTimeout(timer);
    stream.once("close", () => {
      open--;
      if (open === 0 && !s.closed && !s.destroyed) arm();
    });
  });
  s.once("close", () => clearTimeout(timer));
  arm();
}
