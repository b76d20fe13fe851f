// The node's WebTorrent tracker at /tracker?path=<stream> (WebSocket): bittorrent-tracker's server behind bounds that a
// public port needs - only streams this node carries, a bounded number of swarms per stream, bounded peers per swarm,
// bounded message size and rate, bounded swarms and peer ids per connection, idle connections closed, empty swarms
// dropped.
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import Server, { type AnnounceParams, type Swarm, type TrackerSocket } from "bittorrent-tracker/server";
import { refuseUpgrade, type UpgradeRoute } from "./upgrade.ts";

/** Why the tracker refused something (metrics label and the `failure reason` the client gets). */
export type TrackerRefusal =
  | "unknown-path"
  | "bad-path"
  | "swarm-full"
  | "too-many-swarms"
  | "other-path"
  | "socket-swarms"
  | "oversized"
  | "rate"
  | "idle";

/** Limits and hooks of the tracker. */
export interface TrackerOptions {
  /** Peers one swarm may hold; an announce that would add one more is refused. */
  maxPeersPerSwarm: number;
  /** Swarms (info hashes) one stream may have. */
  maxSwarmsPerPath: number;
  /** Largest WebSocket message; a larger one closes the connection (1009). */
  maxMessageBytes: number;
  /** Swarms, and peer ids, one connection may announce (p2p-media-loader uses one per stream type). Default 4. */
  maxSwarmsPerSocket?: number;
  /** Messages one connection may send per 10 s before it is closed (1008). Default 200. */
  maxMessagesPer10s?: number;
  /** Seconds between a client's announces (the tracker tells clients). Default 60. */
  announceIntervalS?: number;
  /** A connection that sends nothing for this long is closed. Default 3 announce intervals. */
  idleTimeoutMs?: number;
  /** True when `path` is a live stream this node carries. */
  knownPath: (path: string) => Promise<boolean>;
  /** Called for every refusal (metrics, debug log). */
  onRefuse?: (reason: TrackerRefusal, detail: string) => void;
}

/** What the tracker holds now. */
export interface TrackerStats {
  swarms: number;
  peers: number;
  sockets: number;
}

const STREAM_NAME = /^[A-Za-z0-9._~-][A-Za-z0-9._~/-]{0,255}$/;

interface SocketState {
  path: string;
  peerIds: Set<string>;
  infoHashes: Set<string>;
  window: number;
  windowStart: number;
  idle: NodeJS.Timeout | undefined;
}

/** The `path` query parameter of a tracker URL, or null when it is missing or not a stream name. */
export function trackerPath(url: string | undefined): string | null {
  let u: URL;
  try {
    u = new URL(url ?? "/", "http://node.invalid");
  } catch {
    return null;
  }
  const p = u.searchParams.get("path");
  if (p === null || !STREAM_NAME.test(p) || p.split("/").some((s) => s === "" || s === "." || s === "..")) return null;
  return p;
}

/** The WebSocket URL of the tracker of the node reachable at `endpoint` (http(s) URL), for a stream announce. */
export function trackerUrl(endpoint: string): string {
  const u = new URL(endpoint);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  u.pathname = `${u.pathname.replace(/\/+$/, "")}/tracker`;
  u.search = "";
  u.hash = "";
  return u.href;
}

/** A bounded WebTorrent tracker; `route` is its upgrade route for the listeners. */
export class Tracker {
  readonly #o: Required<Omit<TrackerOptions, "onRefuse">> & Pick<TrackerOptions, "onRefuse">;
  readonly #server: Server;
  readonly #sockets = new Map<TrackerSocket, SocketState>();
  /** Swarms per stream path, reserved when the filter admits a new info hash (before the server creates it). */
  readonly #byPath = new Map<string, Set<string>>();
  readonly #pathOf = new Map<string, string>();
  readonly #sweep: NodeJS.Timeout;
  #closed = false;

  constructor(opts: TrackerOptions) {
    for (const k of ["maxPeersPerSwarm", "maxSwarmsPerPath", "maxMessageBytes"] as const) {
      if (!Number.isInteger(opts[k]) || opts[k] < 1) throw new RangeError(`${k} must be a positive integer`);
    }
    const interval = opts.announceIntervalS ?? 60;
    this.#o = {
      maxSwarmsPerSocket: 4,
      maxMessagesPer10s: 200,
      announceIntervalS: interval,
      idleTimeoutMs: 3 * interval * 1000,
      ...opts,
    };
    // The server tells WebSocket clients to announce every interval/5: give it five times ours.
    this.#server = new Server({
      http: false,
      udp: false,
      stats: false,
      ws: { noServer: true, maxPayload: this.#o.maxMessageBytes, perMessageDeflate: false },
      interval: interval * 5 * 1000,
      peersCacheLength: this.#o.maxPeersPerSwarm + 1,
      peersCacheTtl: this.#o.idleTimeoutMs * 2,
      filter: (infoHash, params, cb) => cb(this.#admit(infoHash, params)),
    });
    // Errors of one client are warnings, never fatal.
    this.#server.on("warning", () => {});
    this.#server.on("error", () => {});
    this.#sweep = setInterval(() => this.#dropEmpty(), 30_000);
    this.#sweep.unref();
  }

  /** The upgrade route serving the tracker on the public (and admin) listener. */
  get route(): UpgradeRoute {
    return { name: "/tracker", path: "/tracker", expose: "public", handle: (req, socket, head) => void this.#upgrade(req, socket, head) };
  }

  /** Swarms, peers and connections held now. */
  stats(): TrackerStats {
    let peers = 0;
    for (const s of Object.values(this.#server.torrents)) peers += s.peers.length;
    return { swarms: Object.keys(this.#server.torrents).length, peers, sockets: this.#sockets.size };
  }

  /** Closes every connection and stops the tracker. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#sweep);
    for (const ws of this.#sockets.keys()) ws.terminate();
    this.#sockets.clear();
    this.#server.close();
  }

  #refuse(reason: TrackerRefusal, detail: string): Error {
    this.#o.onRefuse?.(reason, detail);
    return new Error(`${reason}: ${detail}`);
  }

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const path = trackerPath(req.url);
    if (path === null) {
      this.#o.onRefuse?.("bad-path", req.url?.slice(0, 200) ?? "");
      refuseUpgrade(socket, 400, "the tracker URL needs ?path=<stream>, the stream's path on this node");
      return;
    }
    let known = false;
    try {
      known = await this.#o.knownPath(path);
    } catch {
      known = false;
    }
    if (!known || this.#closed) {
      this.#o.onRefuse?.("unknown-path", path);
      refuseUpgrade(socket, 404, `this node carries no stream '${path}'`);
      return;
    }
    if (socket.destroyed) return;
    this.#server.ws.handleUpgrade(req, socket, head, (ws) => {
      const st: SocketState = { path, peerIds: new Set(), infoHashes: new Set(), window: 0, windowStart: Date.now(), idle: undefined };
      this.#sockets.set(ws, st);
      const arm = () => {
        clearTimeout(st.idle);
        st.idle = setTimeout(() => {
          this.#o.onRefuse?.("idle", path);
          ws.close(1000, "idle");
          setTimeout(() => ws.terminate(), 2_000).unref();
        }, this.#o.idleTimeoutMs);
        st.idle.unref();
      };
      arm();
      // Registered before the server's own listener: the message that breaks the rate is the last one it parses.
      ws.on("message", () => {
        arm();
        const now = Date.now();
        if (now - st.windowStart > 10_000) {
          st.windowStart = now;
          st.window = 0;
        }
        if (++st.window > this.#o.maxMessagesPer10s) {
          this.#o.onRefuse?.("rate", path);
          // Read nothing more, send the close frame, and drop the connection once it had a moment to flush: a
          // socket destroyed at once loses a close frame queued behind replies (the peer then sees 1006).
          ws.removeAllListeners("message");
          ws.close(1008, "too many messages");
          setTimeout(() => ws.terminate(), 2_000).unref();
        }
      });
      ws.on("close", () => {
        clearTimeout(st.idle);
        this.#sockets.delete(ws);
        // The server removes the socket's peers on close (next tick); then drop the swarms left empty.
        setImmediate(() => this.#dropEmpty());
      });
      ws.on("error", (err: Error & { code?: string }) => {
        if (err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") this.#o.onRefuse?.("oversized", path);
      });
      this.#server.ws.emit("connection", ws, req);
    });
  }

  /** The tracker's filter: null admits the announce, an Error refuses it with that failure reason. */
  #admit(infoHash: string, params: AnnounceParams): Error | null {
    const ws = params.socket;
    const st = ws ? this.#sockets.get(ws) : undefined;
    if (!st) return this.#refuse("unknown-path", "announce outside a tracker connection");
    if (params.event === "stopped") return null;
    if (!st.peerIds.has(params.peer_id)) {
      if (st.peerIds.size >= this.#o.maxSwarmsPerSocket) return this.#refuse("socket-swarms", `more than ${this.#o.maxSwarmsPerSocket} peer ids on one connection`);
      st.peerIds.add(params.peer_id);
    }
    if (!st.infoHashes.has(infoHash) && st.infoHashes.size >= this.#o.maxSwarmsPerSocket) {
      return this.#refuse("socket-swarms", `more than ${this.#o.maxSwarmsPerSocket} swarms on one connection`);
    }
    const owner = this.#pathOf.get(infoHash);
    const swarm: Swarm | undefined = this.#server.torrents[infoHash];
    if (owner !== undefined && owner !== st.path) return this.#refuse("other-path", `swarm belongs to another stream than '${st.path}'`);
    if (owner === undefined) {
      const set = this.#byPath.get(st.path) ?? new Set<string>();
      if (set.size >= this.#o.maxSwarmsPerPath) return this.#refuse("too-many-swarms", `stream '${st.path}' already has ${set.size} swarms`);
      set.add(infoHash);
      this.#byPath.set(st.path, set);
      this.#pathOf.set(infoHash, st.path);
    } else if (swarm && swarm.peers.peek(params.peer_id) === undefined && swarm.peers.length >= this.#o.maxPeersPerSwarm) {
      return this.#refuse("swarm-full", `the swarm already has ${swarm.peers.length} peers`);
    }
    st.infoHashes.add(infoHash);
    return null;
  }

  /** Forgets swarms without peers (and reserved ones the server never created). */
  #dropEmpty(): void {
    for (const [infoHash, path] of this.#pathOf) {
      const swarm = this.#server.torrents[infoHash];
      if (swarm && swarm.peers.length > 0) continue;
      // A swarm reserved by the filter a moment ago is created on the next tick: keep it until it exists and empties.
      if (!swarm && this.#stillAnnouncing(infoHash)) continue;
      delete this.#server.torrents[infoHash];
      this.#pathOf.delete(infoHash);
      const set = this.#byPath.get(path);
      set?.delete(infoHash);
      if (set && set.size === 0) this.#byPath.delete(path);
      for (const st of this.#sockets.values()) st.infoHashes.delete(infoHash);
    }
  }

  #stillAnnouncing(infoHash: string): boolean {
    for (const ws of this.#sockets.keys()) if (ws.infoHashes?.includes(infoHash)) return true;
    return false;
  }
}
