// /blobs routes: GET/HEAD /blobs/<hash> with single byte ranges, PUT /blobs upload (admin token), CORS. Thin over store/.
import { ServerResponse } from "node:http";
import { bearerToken, tokenMatches } from "../rpc/auth.ts";
import {
  BusyError,
  CorruptBlobError,
  HashMismatchError,
  ImportAbortedError,
  InvalidHashError,
  NotFoundError,
  PinnedError,
  RangeNotSatisfiableError,
  SizeMismatchError,
  StoreError,
  StoreFullError,
} from "../store/errors.ts";
import { isBlobId } from "../store/hashing.ts";
import { ifNoneMatchHits, ifRangeAllows } from "./conditional.ts";
import type { BlobStore } from "../store/types.ts";
import { sendError, sendJson, type HttpErrorAnswer, type HttpErrorMapper, type HttpRoute } from "./routes.ts";
import type { ReadGate } from "./paygate.ts";
import type { ServiceName } from "../pay/pricing.ts";
import { writeHead, type NodeRequest, type NodeResponse } from "./types.ts";

/** What the blob routes need. */
export interface BlobRoutesDeps {
  store: BlobStore;
  /** The admin token uploads must present (an admin upload is bounded by store.max_storage, not by a body cap). */
  adminToken: () => string;
  /** Payment gate for GETs with a body (HTTP 402, see paygate.ts); absent means every read is free. */
  gate?: ReadGate;
}

const CORS: Record<string, string> = {
  "access-control-allow-origin": "*",
  "access-control-expose-headers": "content-length, content-range, accept-ranges, etag, content-type",
};

/** Store errors as HTTP answers. */
export const storeHttpError: HttpErrorMapper = (err): HttpErrorAnswer | undefined => {
  if (!(err instanceof StoreError)) return undefined;
  const a = (status: number, headers?: Record<string, string>): HttpErrorAnswer => ({ status, message: err.message, headers: { ...CORS, ...headers } });
  if (err instanceof InvalidHashError || err instanceof SizeMismatchError || err instanceof ImportAbortedError) return a(400);
  if (err instanceof NotFoundError) return a(404);
  if (err instanceof HashMismatchError || err instanceof PinnedError) return a(409);
  if (err instanceof StoreFullError) return a(507);
  if (err instanceof BusyError) return a(503, { "retry-after": "1" });
  if (err instanceof RangeNotSatisfiableError) return a(416, { "content-range": `bytes */${err.size}` });
  if (err instanceof CorruptBlobError) return a(500);
  return a(503);
};

/** Result of parsing a Range header against a size. */
export type RangeChoice = { kind: "full" } | { kind: "range"; start: number; end: number } | { kind: "unsatisfiable" };

/**
 * Interprets a Range header (RFC 9110 §14). One `bytes=` range is honoured; a multi-range request or a header we
 * cannot parse is ignored and the full body is sent (allowed by the RFC; documented behaviour); a range that starts
 * at or past the end, or a zero-length suffix, is unsatisfiable (416).
 */
export function chooseRange(header: string | undefined, size: number): RangeChoice {
  if (header === undefined || header.length > 256) return { kind: "full" };
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m || (m[1] === "" && m[2] === "")) return { kind: "full" };
  const [, a = "", b = ""] = m;
  if (a === "") {
    const n = Number(b);
    if (!Number.isSafeInteger(n)) return { kind: "full" };
    if (n === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "range", start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  const end = b === "" ? Number.MAX_SAFE_INTEGER : Number(b);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return { kind: "full" };
  if (start >= size) return { kind: "unsatisfiable" };
  return { kind: "range", start, end: Math.min(end, size - 1) };
}

/** Request header asking GET /blobs/<hash> with a Range for the range's standard Bao slice (value `slice`). */
export const BAO_HEADER = "x-bao";
/** Content type of a Bao slice answer. */
export const BAO_SLICE_TYPE = "application/x-bao-slice";
/** Longest range answered as a Bao slice. */
export const MAX_SLICE_RANGE = 16 * 1024 * 1024;

function header(req: NodeRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(",") : v;
}

/** Resolves when the response can take more bytes or has closed; leaves no listeners behind. */
function drained(res: NodeResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

/**
 * Answers a GET/HEAD of one blob (by BLAKE3): conditional requests, one byte range, the read gate for bodies, then the
 * bytes with back-pressure. `contentType` is what the answer declares (default application/octet-stream).
 */
export async function serveBlob(deps: Pick<BlobRoutesDeps, "store" | "gate">, req: NodeRequest, res: NodeResponse, hash: string, opts: { contentType?: string; service?: ServiceName; extraHeaders?: Record<string, string> } = {}): Promise<void> {
  if (!isBlobId(hash)) throw new InvalidHashError(hash);
  const meta = await deps.store.stat(hash);
  const etag = `"${hash}"`;
  const common: Record<string, string> = {
    ...CORS,
    etag,
    "cache-control": "public, max-age=31536000, immutable",
    "accept-ranges": "bytes",
    "content-type": opts.contentType ?? "application/octet-stream",
    ...(opts.extraHeaders ?? {}),
  };
  // If-None-Match comes before Range (RFC 9110 §13.2.2); a blob's bytes never change, so a matching tag is always 304.
  if (ifNoneMatchHits(header(req, "if-none-match"), hash)) {
    writeHead(res, 304, common);
    res.end();
    return;
  }
  const rangeHeader = ifRangeAllows(header(req, "if-range"), hash) ? header(req, "range") : undefined;
  const choice = chooseRange(rangeHeader, meta.size);
  if (choice.kind === "unsatisfiable") throw new RangeNotSatisfiableError(hash, 0, 0, meta.size);
  const [start, end] = choice.kind === "range" ? [choice.start, choice.end] : [0, meta.size - 1];
  const length = end - start + 1;
  const status = choice.kind === "range" ? 206 : 200;
  const headers: Record<string, string> = { ...common, "content-length": String(Math.max(0, length)) };
  if (status === 206) headers["content-range"] = `bytes ${start}-${end}/${meta.size}`;
  if (req.method === "HEAD" || length <= 0) {
    writeHead(res, status, headers);
    res.end();
    return;
  }
  const wantsSlice = status === 206 && header(req, BAO_HEADER)?.trim().toLowerCase() === "slice";
  if (wantsSlice && length > MAX_SLICE_RANGE) return sendError(res, 400, `a Bao slice covers at most ${MAX_SLICE_RANGE} bytes`);
  if (deps.gate) {
    if (!(await deps.gate(req, res, new URL(req.url ?? "/", "http://node.invalid"), { service: opts.service ?? "content-download", bytes: length, headers: CORS }))) return;
    // A paid answer (it carries a session) must not be served to others from a shared cache.
    if (res.hasHeader("x-session")) headers["cache-control"] = "private, no-store";
  }
  if (wantsSlice) {
    // The standard Bao slice of the range instead of its bytes, so that the reader verifies them against the hash.
    const slice = await deps.store.baoSlice(hash, start, length);
    writeHead(res, 206, { ...headers, "content-type": BAO_SLICE_TYPE, "content-length": String(slice.byteLength), [BAO_HEADER]: "slice", vary: BAO_HEADER });
    res.end(slice);
    return;
  }
  const gone = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) gone.abort(new Error("client went away"));
  };
  res.once("close", onClose);
  // On HTTP/1.1 the bytes go through a few recycled buffers (no garbage per chunk); a buffer is reused once the socket
  // has taken it (the write callback). HTTP/2 responses get a fresh buffer per piece.
  const pool = res instanceof ServerResponse ? new WritePool(Math.min(length, 256 * 1024), 4, gone.signal) : undefined;
  const s = await deps.store.read(hash, start, length, { signal: gone.signal, ...(pool ? { into: (n: number) => pool.take(n) } : {}) });
  try {
    writeHead(res, status, headers);
    for await (const piece of s) {
      if (gone.signal.aborted) break;
      const ok = pool ? (res as ServerResponse).write(piece, () => pool.give(piece)) : (res as ServerResponse).write(piece);
      if (!ok) {
        // Waiting on the client: the fetch slot goes back, so a reader that stops reading holds none.
        s.pause();
        await drained(res);
      }
    }
    if (!gone.signal.aborted) res.end();
  } finally {
    s.release();
    res.off("close", onClose);
  }
}

/** A handful of buffers one response cycles through; `take` waits while all are out. */
class WritePool {
  readonly #size: number;
  readonly #max: number;
  readonly #free: Uint8Array[] = [];
  readonly #waiters: ((b: Uint8Array) => void)[] = [];
  #made = 0;

  constructor(size: number, max: number, signal: AbortSignal) {
    this.#size = Math.max(1, size);
    this.#max = max;
    // A response that went away releases whoever waits (the reader then sees the abort and stops).
    signal.addEventListener("abort", () => {
      for (const w of this.#waiters.splice(0)) w(new Uint8Array(this.#size));
    }, { once: true });
  }

  take(n: number): Uint8Array | Promise<Uint8Array> {
    if (n > this.#size) return new Uint8Array(n);
    const f = this.#free.pop();
    if (f) return f;
    if (this.#made < this.#max) {
      this.#made++;
      return new Uint8Array(this.#size);
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Returns the buffer a written piece (a view of its start) came from. */
  give(piece: Uint8Array): void {
    if (piece.byteOffset !== 0 || piece.buffer.byteLength !== this.#size) return;
    const b = new Uint8Array(piece.buffer as ArrayBuffer);
    const w = this.#waiters.shift();
    if (w) w(b);
    else this.#free.push(b);
  }
}

async function putBlob(deps: BlobRoutesDeps, req: NodeRequest, res: NodeResponse): Promise<void> {
  // Every early answer closes the connection: the rest of the body is not read.
  const refuse = (status: number, message: string, headers: Record<string, string> = {}) => {
    sendError(res, status, message, { ...CORS, connection: "close", ...headers });
    req.resume();
  };
  const token = bearerToken(header(req, "authorization"));
  if (token === undefined) return refuse(401, 'uploads need "Authorization: Bearer <admin token>" (from <data_dir>/admin.token)', { "www-authenticate": "Bearer" });
  if (!tokenMatches(token, deps.adminToken())) return refuse(401, "admin token is not valid", { "www-authenticate": "Bearer" });
  const expected = header(req, "x-blake3");
  if (expected !== undefined && !isBlobId(expected.trim())) return refuse(400, new InvalidHashError(expected).message);
  const cl = header(req, "content-length");
  let size: number | undefined;
  if (cl !== undefined) {
    size = Number(cl);
    if (!/^\d+$/.test(cl) || !Number.isSafeInteger(size)) return refuse(400, `malformed Content-Length ${JSON.stringify(cl)}`);
  }
  const gone = new AbortController();
  const onClose = () => {
    if (!req.complete) gone.abort(new Error("client disconnected during upload"));
  };
  res.once("close", onClose);
  try {
    // Streamed straight into the store, which refuses it (507) before crossing store.max_storage.
    const r = await deps.store.import(req as AsyncIterable<Uint8Array>, {
      ...(expected !== undefined ? { expectedHash: expected.trim() } : {}),
      ...(size !== undefined ? { size } : {}),
      source: "upload",
      signal: gone.signal,
    });
    sendJson(res, r.created ? 201 : 200, { hash: r.hash, size: r.size }, { ...CORS, location: `/blobs/${r.hash}` });
  } catch (err) {
    if (gone.signal.aborted) return; // nobody is listening
    const a = storeHttpError(err);
    if (!a) throw err;
    if (req.complete) sendError(res, a.status, a.message, a.headers);
    else refuse(a.status, a.message, a.headers);
  } finally {
    res.off("close", onClose);
  }
}

/** The /blobs routes. */
export function blobRoutes(deps: BlobRoutesDeps): HttpRoute[] {
  if (!deps?.store) throw new TypeError("blobRoutes needs a store");
  const preflight = (methods: string) => ({ res }: { res: NodeResponse }) => {
    writeHead(res, 204, {
      ...CORS,
      "access-control-allow-methods": methods,
      "access-control-allow-headers": "range, if-range, if-none-match, authorization, content-type, x-blake3",
      "access-control-max-age": "86400",
    });
    res.end();
  };
  return [
    {
      name: "/blobs/:hash",
      methods: ["GET", "HEAD"],
      path: /^\/blobs\/([^/]*)$/,
      expose: "public",
      handle: ({ req, res, params }) => serveBlob(deps, req, res, params[0] ?? ""),
    },
    { name: "/blobs/:hash", methods: ["OPTIONS"], path: /^\/blobs\/([^/]*)$/, expose: "public", handle: preflight("GET, HEAD, OPTIONS") },
    { name: "/blobs", methods: ["PUT"], path: "/blobs", expose: "admin", handle: ({ req, res }) => putBlob(deps, req, res) },
    { name: "/blobs", methods: ["OPTIONS"], path: "/blobs", expose: "admin", handle: preflight("PUT, OPTIONS") },
  ];
}
