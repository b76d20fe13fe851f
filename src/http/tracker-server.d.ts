// Types of the parts of bittorrent-tracker's server (a JavaScript package without types) that the tracker uses.
declare module "bittorrent-tracker/server" {
  import type { EventEmitter } from "node:events";
  import type { IncomingMessage } from "node:http";
  import type { Duplex } from "node:stream";

  /** A WebSocket as `ws` hands it over (only what the tracker touches). */
  export interface TrackerSocket extends EventEmitter {
    readonly readyState: number;
    send(data: string, cb?: (err?: Error) => void): void;
    close(code?: number, reason?: string): void;
    terminate(): void;
    /** Set by the server: the peer id (hex) of its first announce. */
    peerId: string | null;
    /** Set by the server: the swarms (info hashes, hex) this socket is in. */
    infoHashes: string[] | null;
    destroyed?: boolean;
  }

  /** The LRU of a swarm's peers. */
  export interface PeerLru {
    readonly length: number;
    readonly keys: string[];
    peek(id: string): unknown;
  }

  export interface Swarm {
    infoHash: string;
    complete: number;
    incomplete: number;
    peers: PeerLru;
  }

  export interface WebSocketServerLike extends EventEmitter {
    handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, cb: (ws: TrackerSocket) => void): void;
    close(): void;
  }

  /** The announce parameters the filter sees (after parsing; ids as hex). */
  export interface AnnounceParams {
    info_hash: string;
    peer_id: string;
    event?: string;
    offers?: unknown[];
    answer?: unknown;
    socket?: TrackerSocket;
  }

  export interface ServerOptions {
    interval?: number;
    http?: boolean;
    udp?: boolean;
    stats?: boolean;
    ws?: boolean | { noServer?: boolean; maxPayload?: number; perMessageDeflate?: boolean };
    peersCacheLength?: number;
    peersCacheTtl?: number;
    filter?: (infoHash: string, params: AnnounceParams, cb: (err?: Error | null) => void) => void;
  }

  export default class Server extends EventEmitter {
    constructor(opts?: ServerOptions);
    torrents: Record<string, Swarm>;
    ws: WebSocketServerLike;
    createSwarm(infoHash: string, cb: (err: Error | null, swarm: Swarm) => void): void;
    close(cb?: () => void): void;
    static Swarm: new (infoHash: string, server: Server) => Swarm;
  }
}
