// Blossom routes on the public listener: GET/HEAD /<sha256>[.ext] (BUD-01), PUT/HEAD /upload (BUD-02/06), DELETE
// /<sha256> and GET /list/<pubkey> (BUD-12), PUT /mirror (BUD-04), paid through the node's gates (BUD-07); every
// refusal carries X-Reason and CORS. Thin: the rules are in src/blossom/.
import type { TLSSocket } from "node:tls";
import { checkAuth, type AuthCheck, type BlossomAuth } from "../blossom/auth.ts";
import { BlossomError, type BlossomReason } from "../blossom/errors.ts";
import { DEFAULT_TYPE, parseType, typeOfExtension } from "../blossom/mime.ts";
import { MAX_MIRROR_BODY, impliedSha256, mirrorUrl } from "../blossom/mirror.ts";
import type { BlossomService, UploadRequest } from "../blossom/service.ts";
import type { Gate } from "../pay/gate.ts";
import { ImportAbortedError, StoreError } from "../store/errors.ts";
import { Sha256MismatchError } from "../store/sha256-index.ts";
import { serveBlob, storeHttpError } from "./blobs.ts";
import { gateUpload, type UploadTicket } from "./blossom-pay.ts";
import { fetchMirror } from "./blossom-mirror.ts";
import { PAY_EXPOSED_HEADERS, type ReadGate } from "./paygate.ts";
import { sendJson, type HttpContext, type HttpRoute } from "./routes.ts";
import { writeHead, type NodeRequest, type NodeResponse } from "./types.ts";

/** What the Blossom routes need. */
export interface BlossomRoutesDeps {
  service: BlossomService;
  /** The read gate of GET bodies (the one /blobs uses); absent: reads are free. */
  readGate?: ReadGate;
  /** The pay gate, for paid uploads (service content-upload); absent: uploads are never paid. */
  gate?: Gate;
  /** Origin of descriptor URLs and the server name `server` tags must name (blossom.public_url, else node.public_endpoint); empty: the request's Host. */
  publicUrl: string;
  mirror: { hosts: readonly string[]; timeoutMs: number };
}

/** BUD-01: every answer is readable cross-origin. */
const CORS: Record<string, string> = {
  "access-control-allow-origin": "*",
  "access-control-expose-headers": `content-length, content-range, accept-ranges, etag, content-type, ${PAY_EXPOSED_HEADERS}`,
};

const STATUS: Record<BlossomReason, number> = {
  "auth-missing": 401, "auth-scheme": 401, "auth-too-large": 401, "auth-encoding": 401, "auth-malformed": 401, "auth-kind": 401,
  "auth-unsigned": 401, "auth-signature": 401, "auth-future": 401, "auth-expiration": 401, "auth-expired": 401, "auth-verb": 401,
  "auth-server": 401, "auth-x": 401,
  "not-allowed": 403, "quota-bytes": 429, "quota-blobs": 429, "too-large": 413, "length-required": 411, "bad-type": 400,
  "type-not-allowed": 415, "bad-sha256": 400, "bad-length": 400, "sha256-mismatch": 409,
  "bad-hash": 400, "bad-extension": 400, "not-found": 404, "not-owner": 404, "bad-pubkey": 400, "bad-query": 400,
  "bad-body": 400, "bad-url": 400, "mirror-off": 403, "mirror-host": 403, "mirror-ambiguous": 400, "mirror-fetch": 502,
};

const HEX64 = /^[0-9a-f]{64}$/;

function header(req: NodeRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(",") : v;
}

/** An X-Reason value: the reason code and the message, printable ASCII, bounded. */
function xReason(reason: string, message: string): string {
  return `${reason}: ${message}`.replace(/[^\x20-\x7e]/g, "?").slice(0, 512);
}

/** Answers a refusal with its status, X-Reason and a JSON body; an unread request body closes the connection. */
function refuse(req: NodeRequest, res: NodeResponse, status: number, reason: string, message: string, extra: Record<string, string> = {}): void {
  const headers: Record<string, string> = { ...CORS, ...extra, "x-reason": xReason(reason, message) };
  if (!req.complete) headers.connection = "close";
  sendJson(res, status, { error: message, reason }, headers);
  if (!req.complete) req.resume();
}

/** Answers Blossom and store refusals; returns false for anything else (the router logs it as internal). */
function answerError(req: NodeRequest, res: NodeResponse, err: unknown): boolean {
  if (res.headersSent) return false;
  if (err instanceof BlossomError) {
    refuse(req, res, STATUS[err.reason], err.reason, err.message);
    return true;
  }
  if (err instanceof Sha256MismatchError) {
    refuse(req, res, 409, "sha256-mismatch", err.message);
    return true;
  }
  const a = err instanceof StoreError ? storeHttpError(err) : undefined;
  if (!a) return false;
  const { "access-control-allow-origin": _o, "access-control-expose-headers": _e, ...rest } = a.headers ?? {};
  // The store error's class as the reason: NotFoundError -> not-found, StoreFullError -> store-full, ...
  const reason = (err as Error).name.replace(/Error$/, "").replace(/([a-z])([A-Z])/g, "$1-$2").toLowerCase();
  refuse(req, res, a.status, reason, a.message, rest);
  return true;
}

/** Runs a handler, answering its Blossom and store refusals itself. */
function guarded(fn: (ctx: HttpContext) => Promise<void>): (ctx: HttpContext) => Promise<void> {
  return async (ctx) => {
    try {
      await fn(ctx);
    } catch (err) {
      if (!answerError(ctx.req, ctx.res, err)) throw err;
    }
  };
}

/** The origin descriptor URLs use and the server names `server` tags are checked against. */
function whoAmI(req: NodeRequest, publicUrl: string): { base: string; names: string[] } {
  if (publicUrl) {
    const u = new URL(publicUrl);
    return { base: u.origin, names: [u.hostname.toLowerCase()] };
  }
  const raw = header(req, "host") ?? header(req, ":authority") ?? "";
  const host = /^([A-Za-z0-9.-]{1,253}|\[[0-9a-fA-F:.]{2,45}\])(:\d{1,5})?$/.test(raw) ? raw : "localhost";
  const scheme = (req.socket as TLSSocket | undefined)?.encrypted ? "https" : "http";
  const u = new URL(`${scheme}://${host}`);
  return { base: u.origin, names: [u.hostname.toLowerCase()] };
}

function authorize(req: NodeRequest, deps: BlossomRoutesDeps, check: Omit<AuthCheck, "serverNames">): BlossomAuth {
  return checkAuth(header(req, "authorization"), { ...check, serverNames: whoAmI(req, deps.publicUrl).names });
}

function declaredLength(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const t = v.trim();
  if (!/^\d{1,15}$/.test(t)) throw new BlossomError("bad-length", `${name} must be a whole number of bytes`);
  return Number(t);
}

function declaredSha256(req: NodeRequest): string | undefined {
  const v = header(req, "x-sha-256");
  if (v === undefined) return undefined;
  const t = v.trim().toLowerCase();
  if (!HEX64.test(t)) throw new BlossomError("bad-sha256", "X-SHA-256 must be the blob's SHA-256 as 64 hex characters");
  return t;
}

function declaredType(v: string | undefined): string | undefined {
  try {
    return parseType(v);
  } catch (err) {
    throw new BlossomError("bad-type", (err as Error).message, { cause: err });
  }
}

/** Aborts when the client goes away before its request body has arrived. */
function clientGone(req: NodeRequest, res: NodeResponse): { signal: AbortSignal; done(): void } {
  const gone = new AbortController();
  const onClose = () => {
    if (!req.complete) gone.abort(new Error("client disconnected during upload"));
  };
  res.once("close", onClose);
  return { signal: gone.signal, done: () => res.off("close", onClose) };
}

/**
 * Checks who may upload `size` bytes and, for a paid upload, runs the gate (402 / 400 answered here: undefined).
 * Free uploads get a no-op ticket.
 */
async function uploadTicket(deps: BlossomRoutesDeps, ctx: HttpContext, pubkey: string, size: number | undefined, preflight = false): Promise<UploadTicket | undefined> {
  const right = deps.service.uploadRight(pubkey, size);
  if (right === "free" || !deps.gate) return { settle: () => undefined };
  if (size === undefined) throw new BlossomError("length-required", "paid uploads must declare their size (Content-Length, or X-Content-Length for HEAD /upload)");
  if (!ctx.req.complete) ctx.res.setHeader("connection", "close");
  const ticket = await gateUpload(deps.gate, ctx.req, ctx.res, ctx.url, size, CORS, preflight);
  if (!ticket && !ctx.req.complete) ctx.req.resume();
  return ticket;
}

/** Stores an upload's bytes for `pubkey` and answers with the descriptor (201 new, 200 already here). */
async function store(deps: BlossomRoutesDeps, ctx: HttpContext, source: AsyncIterable<Uint8Array>, request: UploadRequest, ticket: UploadTicket): Promise<void> {
  let stored = 0;
  try {
    const r = await deps.service.upload(source, request);
    stored = r.record.size;
    sendJson(ctx.res, r.created ? 201 : 200, deps.service.descriptor(r.record, whoAmI(ctx.req, deps.publicUrl).base), CORS);
  } finally {
    ticket.settle(stored);
  }
}

/** PUT /upload (BUD-02): the bytes, verified against X-SHA-256 (or the authorization's x tags), owned by the signer. */
async function putUpload(deps: BlossomRoutesDeps, ctx: HttpContext): Promise<void> {
  const { req } = ctx;
  const sha256 = declaredSha256(req);
  const size = declaredLength(header(req, "content-length"), "Content-Length");
  const type = declaredType(header(req, "content-type"));
  deps.service.checkLimits(size, type);
  const auth = authorize(req, deps, { verb: "upload", ...(sha256 ? { sha256 } : {}), requireX: true });
  const ticket = await uploadTicket(deps, ctx, auth.pubkey, size);
  if (!ticket) return;
  const gone = clientGone(req, ctx.res);
  try {
    await store(deps, ctx, req as AsyncIterable<Uint8Array>, { pubkey: auth.pubkey, sha256: sha256 ?? auth.x, ...(size !== undefined ? { size } : {}), ...(type ? { type } : {}), signal: gone.signal }, ticket);
  } catch (err) {
    if (gone.signal.aborted) return; // nobody is listening
    throw err;
  } finally {
    gone.done();
  }
}

/** HEAD /upload (BUD-06): would this upload be accepted? Status and X-Reason only; 402 names the price. */
async function headUpload(deps: BlossomRoutesDeps, ctx: HttpContext): Promise<void> {
  const { req, res } = ctx;
  const sha256 = declaredSha256(req);
  if (!sha256) throw new BlossomError("bad-sha256", "HEAD /upload needs X-SHA-256");
  const size = declaredLength(header(req, "x-content-length"), "X-Content-Length");
  if (size === undefined) throw new BlossomError("length-required", "HEAD /upload needs X-Content-Length");
  const type = declaredType(header(req, "x-content-type"));
  deps.service.checkLimits(size, type);
  const auth = authorize(req, deps, { verb: "upload", sha256, requireX: true });
  if (!(await uploadTicket(deps, ctx, auth.pubkey, size, true))) return;
  writeHead(res, 200, CORS);
  res.end();
}

/** PUT /mirror (BUD-04): fetch from an allowed host, verify the SHA-256, store, own. */
async function putMirror(deps: BlossomRoutesDeps, ctx: HttpContext): Promise<void> {
  const { req } = ctx;
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > MAX_MIRROR_BODY) throw new BlossomError("bad-body", `the mirror request body is over ${MAX_MIRROR_BODY} bytes`);
    chunks.push(c);
  }
  const url = mirrorUrl(Buffer.concat(chunks).toString("utf8"), deps.mirror.hosts);
  let sha256 = impliedSha256(url, header(req, "x-sha-256"));
  const auth = authorize(req, deps, { verb: "upload", ...(sha256 ? { sha256 } : {}), requireX: true });
  if (!sha256) {
    if (auth.x.length !== 1) throw new BlossomError("mirror-ambiguous", "name the blob: X-SHA-256, a hash in the URL, or exactly one x tag");
    sha256 = auth.x[0]!;
  }
  const declared = declaredLength(header(req, "x-content-length"), "X-Content-Length");
  deps.service.checkLimits(declared, undefined);
  const ticket = await uploadTicket(deps, ctx, auth.pubkey, declared);
  if (!ticket) return;
  const gone = clientGone(req, ctx.res);
  const origin = await fetchMirror(url, { hosts: deps.mirror.hosts, maxBytes: deps.service.settings.maxUploadSize, timeoutMs: deps.mirror.timeoutMs, signal: gone.signal }).catch((err: unknown) => {
    ticket.settle(0);
    throw err;
  });
  try {
    const size = origin.size ?? declared;
    await store(deps, ctx, origin.body, { pubkey: auth.pubkey, sha256, ...(size !== undefined ? { size } : {}), ...(origin.type ? { type: origin.type } : {}), source: `blossom-mirror:${url.host}`.slice(0, 256), signal: gone.signal }, ticket);
  } catch (err) {
    if (err instanceof ImportAbortedError && !gone.signal.aborted) throw new BlossomError("mirror-fetch", `the origin's answer broke off: ${err.message}`, { cause: err });
    throw err;
  } finally {
    origin.cancel();
    gone.done();
  }
}

/** GET/HEAD /<sha256>[.ext] (BUD-01): the bytes by SHA-256, typed by their upload or the extension, Range, pay gate. */
async function getBlob(deps: BlossomRoutesDeps, ctx: HttpContext): Promise<void> {
  const [sha256 = "", ext] = ctx.params;
  const { meta, type } = await deps.service.find(sha256);
  const contentType = type ?? typeOfExtension(ext) ?? DEFAULT_TYPE;
  await serveBlob({ store: deps.service.store, ...(deps.readGate ? { gate: deps.readGate } : {}) }, ctx.req, ctx.res, meta.hash, { contentType });
}

/** DELETE /<sha256> (BUD-12): removes the signer's ownership; the bytes go with the last owner. */
async function deleteBlob(deps: BlossomRoutesDeps, ctx: HttpContext): Promise<void> {
  const [sha256 = ""] = ctx.params;
  const auth = authorize(ctx.req, deps, { verb: "delete", sha256, requireX: true });
  const r = await deps.service.remove(auth.pubkey, sha256);
  sendJson(ctx.res, 200, { sha256, deleted: r.deleted, message: r.deleted ? "deleted" : "your ownership is removed; the blob stays for its other owners or pins" }, CORS);
}

function queryInt(url: URL, name: string, max: number): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null || v === "") return undefined;
  if (!/^\d{1,15}$/.test(v) || Number(v) > max) throw new BlossomError("bad-query", `${name} must be a whole number up to ${max}`);
  return Number(v);
}

/** GET /list/<pubkey> (BUD-12): descriptors of the pubkey's blobs, newest first; cursor, limit, since, until. */
async function listBlobs(deps: BlossomRoutesDeps, ctx: HttpContext): Promise<void> {
  const pubkey = (ctx.params[0] ?? "").toLowerCase();
  if (!HEX64.test(pubkey)) throw new BlossomError("bad-pubkey", "the pubkey must be 64 hex characters");
  const { url } = ctx;
  const cursor = url.searchParams.get("cursor") ?? undefined;
  if (cursor !== undefined && !HEX64.test(cursor)) throw new BlossomError("bad-query", "cursor must be a SHA-256 (64 lowercase hex characters)");
  const since = queryInt(url, "since", 999_999_999_999);
  const until = queryInt(url, "until", 999_999_999_999);
  const limit = queryInt(url, "limit", 1000) ?? 100;
  if (limit < 1) throw new BlossomError("bad-query", "limit must be 1..1000");
  const rows = await deps.service.list(pubkey, { limit, ...(cursor ? { cursor } : {}), ...(since !== undefined ? { since } : {}), ...(until !== undefined ? { until } : {}) });
  const base = whoAmI(ctx.req, deps.publicUrl).base;
  sendJson(ctx.res, 200, rows.map((r) => deps.service.descriptor(r, base)), CORS);
}

/** BUD-01 CORS pre-flight. */
function preflight({ res }: HttpContext): void {
  writeHead(res, 204, {
    ...CORS,
    "access-control-allow-methods": "GET, HEAD, PUT, DELETE",
    "access-control-allow-headers": "Authorization, *",
    "access-control-max-age": "86400",
  });
  res.end();
}

/** Paths of the Blossom routes; the blob path is exactly 64 lowercase hex at the root, so it shadows no other route. */
const BLOB_PATH = /^\/([0-9a-f]{64})(?:\.([A-Za-z0-9]{1,16}))?$/;
const LIST_PATH = /^\/list\/([^/]+)$/;

/** The Blossom routes, all on the public listener (and the admin listener, which serves everything public). */
export function blossomRoutes(deps: BlossomRoutesDeps): HttpRoute[] {
  if (!deps?.service) throw new TypeError("blossomRoutes needs the Blossom service");
  const h = (fn: (d: BlossomRoutesDeps, c: HttpContext) => Promise<void>) => guarded((c) => fn(deps, c));
  const route = (name: string, methods: string[], path: string | RegExp, handle: HttpRoute["handle"]): HttpRoute => ({ name, methods, path, expose: "public", handle });
  return [
    route("/upload", ["PUT"], "/upload", h(putUpload)),
    route("/upload", ["HEAD"], "/upload", h(headUpload)),
    route("/mirror", ["PUT"], "/mirror", h(putMirror)),
    route("/list/:pubkey", ["GET"], LIST_PATH, h(listBlobs)),
    route("/:sha256", ["GET", "HEAD"], BLOB_PATH, h(getBlob)),
    route("/:sha256", ["DELETE"], BLOB_PATH, h(deleteBlob)),
    route("/blossom:preflight", ["OPTIONS"], /^\/(upload|mirror|list\/[^/]+|[0-9a-f]{64}(?:\.[A-Za-z0-9]{1,16})?)$/, preflight),
  ];
}
