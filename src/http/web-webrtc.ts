// WHIP/WHEP proxy: /webrtc/<path>/whip|whep[/<session>] on the public listener forwards to MediaMTX's WebRTC HTTP
// listener (on loopback), so that the pages stay same-origin under their CSP; MediaMTX asks the node's auth hook as
// for any publish or read, and sees the browser's address through X-Forwarded-For. Bodies and time are bounded.
import { readBody } from "./live.ts";
import { sendError, type HttpRoute } from "./routes.ts";
import { securityHeaders } from "./web.ts";
import { writeHead } from "./types.ts";

/** Largest SDP offer/answer or ICE fragment forwarded either way. */
export const MAX_SDP_BYTES = 64 * 1024;
const TIMEOUT_MS = 15_000;
const FORWARDED_REQUEST_HEADERS = ["authorization", "content-type", "if-match"];
// Not WWW-Authenticate: MediaMTX's Basic challenge would make browsers prompt for a password; the pages ask for a token.
const FORWARDED_RESPONSE_HEADERS = ["content-type", "link", "etag", "id", "accept-patch", "accept-post"];

/** The base URL of MediaMTX's WebRTC listener for `mediamtx.webrtc` (":8889" -> "http://127.0.0.1:8889"); null when off. */
export function webrtcUpstream(listen: string): string | null {
  if (!listen) return null;
  const i = listen.lastIndexOf(":");
  let host = listen.slice(0, i);
  const port = listen.slice(i + 1);
  if (host === "" || host === "0.0.0.0") host = "127.0.0.1";
  else if (host === "[::]") host = "[::1]";
  return `http://${host}:${port}`;
}

const PROXY_PATH = /^\/webrtc\/([A-Za-z0-9._~%/-]{1,768})\/(whip|whep)(?:\/([0-9a-f-]{36}))?$/;

/** The proxy route; `upstream` is MediaMTX's WebRTC base URL (null: WebRTC is off). */
export function webrtcProxyRoutes(upstream: string | null): HttpRoute[] {
  return [
    {
      name: "/webrtc/:path/:kind",
      methods: ["OPTIONS", "POST", "PATCH", "DELETE"],
      path: PROXY_PATH,
      expose: "public",
      handle: async ({ req, res, params }) => {
        const headers = securityHeaders("default-src 'none'");
        if (!upstream) return sendError(res, 503, "WebRTC is off on this node (mediamtx.webrtc is empty)", headers);
        const [rawPath, kind, session] = params as [string, "whip" | "whep", string | undefined];
        let path: string;
        try {
          path = decodeURIComponent(rawPath);
        } catch {
          return sendError(res, 400, "malformed stream path", headers);
        }
        if (path.split("/").some((s) => s === "" || s === "." || s === "..")) return sendError(res, 400, "malformed stream path", headers);
        const method = req.method ?? "GET";
        if ((session === undefined) !== (method === "OPTIONS" || method === "POST")) {
          return sendError(res, 405, session ? `${method} is not allowed on a session` : `${method} needs a session URL`, headers);
        }
        const body = method === "POST" || method === "PATCH" ? await readBody(req, MAX_SDP_BYTES) : new Uint8Array(0);
        if (body === null) return sendError(res, 413, `SDP larger than ${MAX_SDP_BYTES} bytes`, headers);
        const fwd: Record<string, string> = {};
        for (const h of FORWARDED_REQUEST_HEADERS) {
          const v = req.headers[h];
          if (typeof v === "string" && v.length <= 8192) fwd[h] = v;
        }
        const remote = req.socket?.remoteAddress;
        if (remote) fwd["x-forwarded-for"] = remote.replace(/^::ffff:/, "");
        const target = `${upstream}/${path.split("/").map(encodeURIComponent).join("/")}/${kind}${session ? `/${session}` : ""}`;
        let r: Response;
        try {
          r = await fetch(target, { method, headers: fwd, ...(body.byteLength ? { body: body as Uint8Array<ArrayBuffer> } : {}), redirect: "manual", signal: AbortSignal.timeout(TIMEOUT_MS) });
        } catch (err) {
          return sendError(res, 502, `MediaMTX's WebRTC listener did not answer: ${(err as Error).message}`, headers);
        }
        const out = Buffer.from(await r.arrayBuffer());
        if (out.length > MAX_SDP_BYTES) return sendError(res, 502, "MediaMTX's answer is too large", headers);
        const back: Record<string, string | string[]> = { ...headers, "cache-control": "no-store", "content-length": String(out.length) };
        for (const h of FORWARDED_RESPONSE_HEADERS) {
          // Several Link headers arrive joined by commas; the pages split them again.
          const v = r.headers.get(h);
          if (v) back[h] = v;
        }
        // The session URL MediaMTX names (/<path>/whip/<secret>) lives under this proxy.
        const loc = r.headers.get("location");
        const m = loc ? /\/(whip|whep)\/([0-9a-f-]{36})(?:\?.*)?$/.exec(loc) : null;
        if (m) back.location = `/webrtc/${rawPath}/${m[1]}/${m[2]}`;
        writeHead(res, r.status, back);
        res.end(out);
      },
    },
  ];
}
