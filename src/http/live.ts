// HTTP adapter of the live edge: MediaMTX hooks (hooks listener, loopback only), /.well-known/jwks.json and the signed HLS origin /live/.
import type { Logger } from "../node/logger.ts";
import { decideAuth, parseAuthRequest, AuthInputError, type AuthPolicy } from "../media/auth.ts";
import { parseSegmentHook, SegmentHookError, type SegmentIntake } from "../media/segments.ts";
import { IngestError, type StreamIngest } from "../stream/ingest.ts";
import { originAnswer, parseLivePath, type SegmentReader } from "../stream/origin.ts";
import type { ReadGate } from "./paygate.ts";
import { sendError, sendJson, type HttpRoute } from "./routes.ts";
import { writeHead, type NodeRequest, type NodeResponse } from "./types.ts";
import { concatBytes } from "../wasm/index.ts";

export interface LiveRoutesDeps {
  ingest: StreamIngest;
  intake: SegmentIntake;
  store: SegmentReader;
  /** Current auth policy (keys and open paths). */
  policy: () => AuthPolicy;
  /** The JWKS document served at /.well-known/jwks.json. */
  jwks: () => unknown;
  log: Logger;
  /** Called with each auth decision (metrics). */
  onAuth?: (allowed: boolean, action: string) => void;
  /** Payment gate for segment GETs (service live-view, HTTP 402); absent means segments are free. */
  gate?: ReadGate;
  /** Called with the body bytes of every segment GET answered 200 once its response finished (metrics). */
  onSegmentServed?: (path: string, bytes: number) => void;
}

const MAX_HOOK_BODY = 16 * 1024;

/** Reads a request body of at most `max` bytes; null when it is larger. */
export async function readBody(req: NodeRequest, max: number): Promise<Uint8Array | null> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > max) return null;
    parts.push(chunk);
  }
  return concatBytes(parts, total);
}

async function authHook(deps: LiveRoutesDeps, req: NodeRequest, res: NodeResponse): Promise<void> {
  const body = await readBody(req, MAX_HOOK_BODY);
  if (!body) return sendError(res, 413, `auth request larger than ${MAX_HOOK_BODY} bytes`);
  let r;
  try {
    r = parseAuthRequest(body);
  } catch (e) {
    if (e instanceof AuthInputError) {
      deps.log.warn({ reason: e.message }, "mediamtx auth: malformed request denied");
      return sendError(res, 400, e.message);
    }
    throw e;
  }
  const d = decideAuth(r, deps.policy());
  deps.onAuth?.(d.allow, r.action);
  const fields = { action: r.action, path: r.path, protocol: r.protocol, ip: r.ip, status: d.status, reason: d.reason };
  if (d.allow) {
    deps.log.info(fields, "mediamtx auth: allowed");
    res.statusCode = 200;
    res.end();
  } else {
    deps.log.warn(fields, "mediamtx auth: denied");
    sendError(res, d.status, d.reason);
  }
}

async function segmentHook(deps: LiveRoutesDeps, req: NodeRequest, res: NodeResponse): Promise<void> {
  const receivedAt = performance.now();
  const body = await readBody(req, MAX_HOOK_BODY);
  if (!body) return sendError(res, 413, `segment notice larger than ${MAX_HOOK_BODY} bytes`);
  try {
    const n = { ...parseSegmentHook(body), receivedAt };
    const s = await deps.intake.handle(n);
    sendJson(res, 200, { stream: s.stream, seq: s.entry.seq, blake3: s.entry.blake3, version: s.version });
  } catch (e) {
    if (e instanceof SegmentHookError) {
      deps.log.warn({ reason: e.message }, "mediamtx segment: refused");
      return sendError(res, e.status, e.message);
    }
    if (e instanceof IngestError) {
      deps.log.warn({ stream: e.stream, code: e.code, reason: e.message }, "mediamtx segment: not ingested");
      return sendError(res, e.code === "bad-duration" || e.code === "too-large" || e.code === "bad-stream" ? 422 : 409, e.message);
    }
    throw e;
  }
}

async function origin(deps: LiveRoutesDeps, req: NodeRequest, res: NodeResponse, url: URL): Promise<void> {
  const p = parseLivePath(url.pathname);
  if (!p) return sendError(res, 404, "not a /live/<path>/<file> URL");
  const a = await originAnswer(deps.ingest, deps.store, p[0], p[1]);
  const body = typeof a.body === "string" ? Buffer.from(a.body) : a.body;
  // Segments are paid (playlists, manifests and announces stay free so that players can find them).
  if (deps.gate && req.method === "GET" && a.status === 200 && p[1].endsWith(".ts")) {
    if (!(await deps.gate(req, res, url, { service: "live-view", bytes: body.byteLength, headers: { "access-control-allow-origin": "*" } }))) return;
    // A paid answer (it carries a session) must not be served to others from a shared cache.
    if (res.hasHeader("x-session")) a.headers["cache-control"] = "private, no-store";
  }
  writeHead(res, a.status, { ...a.headers, "content-length": String(body.byteLength) });
  if (req.method === "HEAD") {
    res.end();
    return;
  }
  if (a.status === 200 && p[1].endsWith(".ts") && deps.onSegmentServed) {
    const served = deps.onSegmentServed;
    res.once("finish", () => served(p[0], body.byteLength));
  }
  res.end(body);
}

/** The live edge's routes. */
export function liveRoutes(deps: LiveRoutesDeps): HttpRoute[] {
  return [
    { name: "/hooks/mediamtx/auth", methods: ["POST"], path: "/hooks/mediamtx/auth", expose: "hooks", loopbackOnly: true, handle: ({ req, res }) => authHook(deps, req, res) },
    { name: "/hooks/mediamtx/segment", methods: ["POST"], path: "/hooks/mediamtx/segment", expose: "hooks", loopbackOnly: true, handle: ({ req, res }) => segmentHook(deps, req, res) },
    {
      name: "/.well-known/jwks.json",
      methods: ["GET", "HEAD"],
      path: "/.well-known/jwks.json",
      expose: ["public", "hooks"],
      handle: ({ res }) => sendJson(res, 200, deps.jwks(), { "cache-control": "max-age=300", "access-control-allow-origin": "*" }),
    },
    { name: "/live/:path/:file", methods: ["GET", "HEAD"], path: /^\/live\/.+\/[^/]+$/, expose: "public", handle: ({ req, res, url }) => origin(deps, req, res, url) },
  ];
}
