// MediaMTX control API (v3) client: paths and per-protocol sessions, with bounded response sizes, counts and timeouts.
import { readCapped } from "../net/capped.ts";

/** A failed or malformed API call, naming the endpoint. */
export class MediaApiError extends Error {
  readonly endpoint: string;
  readonly status: number | undefined;
  constructor(endpoint: string, message: string, options?: { cause?: unknown; status?: number }) {
    super(`MediaMTX API ${endpoint}: ${message}`, options);
    this.name = "MediaApiError";
    this.endpoint = endpoint;
    this.status = options?.status;
  }
}

/** One path as the node sees it (a subset of MediaMTX's APIPath). */
export interface MediaPath {
  name: string;
  available: boolean;
  online: boolean;
  /** Source type ("rtmpConn", "rtspSession", "webRTCSession", "srtConn", ...) or null when nobody publishes. */
  sourceType: string | null;
  sourceId: string | null;
  readers: { type: string; id: string }[];
  inboundBytes: number;
  outboundBytes: number;
  tracks: string[];
}

/** Protocol of a session. */
export type SessionProtocol = "rtmp" | "rtsp" | "webrtc" | "srt" | "hls";

/** One client connection/session on any protocol. */
export interface MediaSession {
  protocol: SessionProtocol;
  id: string;
  path: string;
  state: string;
  remoteAddr: string;
  created: string;
  inboundBytes: number;
  outboundBytes: number;
}

/** Server info from /v3/info. */
export interface MediaInfo {
  version: string;
  started: string;
}

/** Limits on what the client accepts from MediaMTX. */
export interface MediaApiOptions {
  /** Base URL of the API, e.g. "http://127.0.0.1:9997". */
  baseUrl: string;
  /** Per-request timeout. Default 3000 ms. */
  timeoutMs?: number;
  /** Largest response body accepted. Default 4 MiB. */
  maxResponseBytes?: number;
  /** Most items read from one list (over all pages). Default 10000. */
  maxItems?: number;
  /** fetch to use (tests may pass their own). */
  fetch?: typeof fetch;
}

const PAGE = 500;
const MAX_STR = 1024;

const str = (v: unknown, max = MAX_STR): string => (typeof v === "string" ? v.slice(0, max) : "");
const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : 0);

function asObject(endpoint: string, v: unknown): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new MediaApiError(endpoint, "response is not a JSON object");
  return v as Record<string, unknown>;
}

/** Client of one MediaMTX instance's control API. */
export class MediaMtxApi {
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  readonly maxItems: number;
  readonly #fetch: typeof fetch;

  constructor(opts: MediaApiOptions) {
    let u: URL;
    try {
      u = new URL(opts.baseUrl);
    } catch (e) {
      throw new TypeError(`baseUrl '${opts.baseUrl}' is not a URL`, { cause: e });
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new TypeError(`baseUrl '${opts.baseUrl}' is not http(s)`);
    this.baseUrl = u.origin;
    this.timeoutMs = opts.timeoutMs ?? 3000;
    this.maxResponseBytes = opts.maxResponseBytes ?? 4 * 1024 * 1024;
    this.maxItems = opts.maxItems ?? 10_000;
    if (!(this.timeoutMs > 0 && this.timeoutMs <= 60_000)) throw new RangeError("timeoutMs must be in 1-60000");
    if (!(this.maxResponseBytes >= 1024 && this.maxResponseBytes <= 256 * 1024 * 1024)) throw new RangeError("maxResponseBytes must be in 1KiB-256MiB");
    if (!(this.maxItems >= 1 && this.maxItems <= 1_000_000)) throw new RangeError("maxItems must be in 1-1000000");
    this.#fetch = opts.fetch ?? fetch;
  }

  /** GET a JSON document, reading at most maxResponseBytes; `null` for 404 (a disabled server has no route). */
  async getJson(endpoint: string, signal?: AbortSignal): Promise<unknown | null> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const sig = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await this.#fetch(this.baseUrl + endpoint, { signal: sig, headers: { accept: "application/json" } });
    } catch (e) {
      throw new MediaApiError(endpoint, `request failed: ${(e as Error).message}`, { cause: e });
    }
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    const body = await this.#readBounded(endpoint, res, sig);
    if (!res.ok) throw new MediaApiError(endpoint, `HTTP ${res.status}: ${body.slice(0, 200)}`, { status: res.status });
    try {
      return JSON.parse(body);
    } catch (e) {
      throw new MediaApiError(endpoint, "response is not JSON", { cause: e });
    }
  }

  async #readBounded(endpoint: string, res: Response, signal: AbortSignal): Promise<string> {
    let bytes: Uint8Array | null;
    try {
      bytes = await readCapped(res, this.maxResponseBytes);
    } catch (e) {
      if (signal.aborted) throw new MediaApiError(endpoint, "timed out reading the response", { cause: e });
      throw new MediaApiError(endpoint, `reading the response failed: ${(e as Error).message}`, { cause: e });
    }
    if (!bytes) throw new MediaApiError(endpoint, `response exceeds the ${this.maxResponseBytes} byte limit`);
    return new TextDecoder().decode(bytes);
  }

  /** Reads every page of a list endpoint (bounded by maxItems); `[]` when the endpoint does not exist. */
  async #list(endpoint: string, signal?: AbortSignal): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    for (let page = 0; ; page++) {
      const doc = await this.getJson(`${endpoint}?itemsPerPage=${PAGE}&page=${page}`, signal);
      if (doc === null) return out;
      const o = asObject(endpoint, doc);
      if (!Array.isArray(o.items)) throw new MediaApiError(endpoint, "response has no 'items' array");
      for (const it of o.items) {
        if (out.length >= this.maxItems) throw new MediaApiError(endpoint, `more than ${this.maxItems} items`);
        out.push(asObject(endpoint, it));
      }
      const pageCount = num(o.pageCount);
      if (page + 1 >= pageCount || o.items.length === 0) return out;
    }
  }

  /** /v3/info: version and start time. */
  async info(signal?: AbortSignal): Promise<MediaInfo> {
    const doc = await this.getJson("/v3/info", signal);
    if (doc === null) throw new MediaApiError("/v3/info", "not found (API v3 missing?)", { status: 404 });
    const o = asObject("/v3/info", doc);
    return { version: str(o.version), started: str(o.started) };
  }

  /** /v3/paths/list. */
  async paths(signal?: AbortSignal): Promise<MediaPath[]> {
    const items = await this.#list("/v3/paths/list", signal);
    return items.map((o) => {
      const src = o.source && typeof o.source === "object" ? (o.source as Record<string, unknown>) : null;
      const readers = Array.isArray(o.readers) ? o.readers.slice(0, this.maxItems) : [];
      const tracks = Array.isArray(o.tracks) ? o.tracks.slice(0, 64) : [];
      return {
        name: str(o.name),
        available: o.available === true || (o.available === undefined && o.ready === true),
        online: o.online === true,
        sourceType: src ? str(src.type) : null,
        sourceId: src ? str(src.id) : null,
        readers: readers.map((r) => {
          const ro = r && typeof r === "object" ? (r as Record<string, unknown>) : {};
          return { type: str(ro.type), id: str(ro.id) };
        }),
        inboundBytes: num(o.inboundBytes ?? o.bytesReceived),
        outboundBytes: num(o.outboundBytes ?? o.bytesSent),
        tracks: tracks.map((t) => str(t, 64)),
      };
    });
  }

  async #sessions(protocol: SessionProtocol, endpoint: string, signal?: AbortSignal): Promise<MediaSession[]> {
    const items = await this.#list(endpoint, signal);
    return items.map((o) => ({
      protocol,
      id: str(o.id ?? o.path),
      path: str(o.path),
      state: str(o.state),
      remoteAddr: str(o.remoteAddr),
      created: str(o.created),
      inboundBytes: num(o.inboundBytes ?? o.bytesReceived),
      outboundBytes: num(o.outboundBytes ?? o.bytesSent),
    }));
  }

  /** /v3/rtmpconns/list. */
  rtmpConns(signal?: AbortSignal): Promise<MediaSession[]> {
    return this.#sessions("rtmp", "/v3/rtmpconns/list", signal);
  }
  /** /v3/rtspsessions/list. */
  rtspSessions(signal?: AbortSignal): Promise<MediaSession[]> {
    return this.#sessions("rtsp", "/v3/rtspsessions/list", signal);
  }
  /** /v3/webrtcsessions/list. */
  webrtcSessions(signal?: AbortSignal): Promise<MediaSession[]> {
    return this.#sessions("webrtc", "/v3/webrtcsessions/list", signal);
  }
  /** /v3/srtconns/list. */
  srtConns(signal?: AbortSignal): Promise<MediaSession[]> {
    return this.#sessions("srt", "/v3/srtconns/list", signal);
  }
  /** /v3/hlsmuxers/list (one "session" per muxer; MediaMTX keys muxers by path). */
  hlsMuxers(signal?: AbortSignal): Promise<MediaSession[]> {
    return this.#sessions("hls", "/v3/hlsmuxers/list", signal);
  }

  /** Every session on every protocol whose server is enabled. */
  async sessions(signal?: AbortSignal): Promise<MediaSession[]> {
    const lists = await Promise.all([
      this.rtmpConns(signal),
      this.rtspSessions(signal),
      this.webrtcSessions(signal),
      this.srtConns(signal),
      this.hlsMuxers(signal),
    ]);
    return lists.flat();
  }
}
