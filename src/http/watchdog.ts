// Per-request progress watchdog: a response whose buffered output does not move for the write-stall timeout, or an
// upload that receives nothing for the idle timeout while the node waits for it, is destroyed (which releases whatever
// the handler holds, e.g. a fetch slot). Works the same on HTTP/1.1 and HTTP/2 responses.
import type { ServerResponse } from "node:http";
import { constants, type Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import type { NodeRequest, NodeResponse } from "./types.ts";

/** Where a TLS socket keeps the TCP socket under it (set by the listener), so that a reset reaches the wire. */
export const RAW_SOCKET = Symbol("slowdrip raw socket");

/**
 * Closes a connection with a TCP reset when it can: a FIN would wait behind megabytes a stalled client never reads,
 * and the kernel would hold them. Falls back to a plain destroy.
 */
export function resetConnection(socket: unknown): void {
  const s = socket as { destroy(): void; [RAW_SOCKET]?: { resetAndDestroy?: () => void; destroy(): void } } | null | undefined;
  if (!s) return;
  const raw = (s[RAW_SOCKET] ?? s) as { resetAndDestroy?: () => void; destroy(): void; destroyed?: boolean };
  try {
    if (!raw.destroyed && typeof raw.resetAndDestroy === "function") raw.resetAndDestroy();
    else raw.destroy();
  } catch {
    // A handle that cannot be reset (not TCP): a plain destroy then.
    raw.destroy();
  }
  if (raw !== s) s.destroy();
}

/** Why the listener cut a connection or a request. */
export type CutReason = "per-ip-limit" | "idle" | "upload-stall" | "write-stall";

/** Timeouts the watchdog enforces. */
export interface WatchdogOptions {
  /** An upload that receives no byte for this long, while the node waits for one, is destroyed. */
  idleTimeoutMs: number;
  /** A response with output waiting that makes no progress for this long is destroyed. */
  writeStallTimeoutMs: number;
  /** Called with the reason whenever a request is destroyed. */
  onCut?: (reason: CutReason) => void;
}

interface Watched {
  req: NodeRequest;
  res: NodeResponse;
  /** Last time a body byte arrived (or the node, not the client, was the slow side). */
  lastIn: number;
  /** Last time the output moved (or nothing was waiting). */
  lastOut: number;
  lastPending: number;
  lastQueue: number | undefined;
  /** The client has sent its whole body. */
  bodyDone: boolean;
}

/** The HTTP/2 stream under a compat request/response, when there is one. */
function h2Stream(x: NodeRequest | NodeResponse): (Http2ServerRequest["stream"] & { _readableState?: unknown }) | undefined {
  return (x as Http2ServerRequest | Http2ServerResponse).stream ?? undefined;
}

/** Calls `onData` whenever `target` is handed a chunk (its `push`), and `onEnd` at the end of the body. */
function tapPush(target: { push: (chunk: unknown, encoding?: BufferEncoding) => boolean }, onData: () => void, onEnd: () => void): void {
  const push = target.push.bind(target);
  target.push = (chunk: unknown, encoding?: BufferEncoding) => {
    if (chunk === null) onEnd();
    else onData();
    return push(chunk, encoding);
  };
}

/** Watches every request of one listener; `stop()` ends the periodic check. */
export class Watchdog {
  readonly #opts: WatchdogOptions;
  readonly #watched = new Set<Watched>();
  readonly #timer: NodeJS.Timeout;

  constructor(opts: WatchdogOptions) {
    if (!(opts.idleTimeoutMs > 0) || !(opts.writeStallTimeoutMs > 0)) throw new RangeError("watchdog timeouts must be > 0 ms");
    this.#opts = opts;
    const tick = Math.max(50, Math.min(1000, Math.floor(Math.min(opts.idleTimeoutMs, opts.writeStallTimeoutMs) / 4)));
    this.#timer = setInterval(() => this.#check(), tick);
    this.#timer.unref();
  }

  /** Requests being watched. */
  get size(): number {
    return this.#watched.size;
  }

  /** Starts watching a request until its response closes. Call before the handler runs. */
  watch(req: NodeRequest, res: NodeResponse): void {
    const now = Date.now();
    const w: Watched = { req, res, lastIn: now, lastOut: now, lastPending: 0, lastQueue: undefined, bodyDone: false };
    const seen = () => (w.lastIn = Date.now());
    const ended = () => {
      w.bodyDone = true;
    };
    tapPush(req as never, seen, ended);
    const stream = h2Stream(req);
    // On HTTP/2, DATA frames reach the stream before the compat request, which only gets them once the handler reads.
    if (stream) tapPush(stream as never, seen, ended);
    const write = res.write.bind(res) as (...a: unknown[]) => boolean;
    (res as { write: (...a: unknown[]) => boolean }).write = (...a: unknown[]) => {
      const ok = write(...a);
      if (ok) w.lastOut = Date.now();
      return ok;
    };
    res.on("drain", () => (w.lastOut = Date.now()));
    this.#watched.add(w);
    res.once("close", () => this.#watched.delete(w));
  }

  /** Stops the periodic check. */
  stop(): void {
    clearInterval(this.#timer);
  }

  #check(): void {
    const now = Date.now();
    for (const w of this.#watched) {
      if (w.res.destroyed) {
        this.#watched.delete(w);
        continue;
      }
      if (this.#uploadStalled(w, now)) this.#cut(w, "upload-stall");
      else if (this.#writeStalled(w, now)) this.#cut(w, "write-stall");
    }
  }

  #uploadStalled(w: Watched, now: number): boolean {
    const stream = h2Stream(w.req);
    const done = w.bodyDone || (stream ? stream.endAfterHeaders || stream.state?.remoteClose === 1 : (w.req as { complete?: boolean }).complete === true);
    if (done) return false;
    // Bytes are waiting for the handler: the node is the slow side, not the client.
    if (w.req.readableLength > 0 || (stream?.readableLength ?? 0) > 0) {
      w.lastIn = now;
      return false;
    }
    return now - w.lastIn > this.#opts.idleTimeoutMs;
  }

  #writeStalled(w: Watched, now: number): boolean {
    const pending = w.res.writableLength;
    // HTTP/1.1: libuv's write queue shrinks as the kernel takes bytes of one large write (what net.Socket's own timeout uses).
    const queue = (w.res as ServerResponse).socket ? ((w.res as ServerResponse).socket as unknown as { _handle?: { writeQueueSize?: number } })._handle?.writeQueueSize : undefined;
    if (pending === 0 || pending < w.lastPending || queue !== w.lastQueue) w.lastOut = now;
    w.lastPending = pending;
    w.lastQueue = queue;
    return pending > 0 && now - w.lastOut > this.#opts.writeStallTimeoutMs;
  }

  #cut(w: Watched, reason: CutReason): void {
    this.#watched.delete(w);
    this.#opts.onCut?.(reason);
    const stream = h2Stream(w.res);
    if (stream) {
      // RST_STREAM: the session (and the other streams on it) stay; the idle timer closes the session later.
      stream.close(constants.NGHTTP2_CANCEL);
      return;
    }
    const socket = (w.res as ServerResponse).socket;
    if (socket) resetConnection(socket);
    else w.res.destroy();
  }
}
