// The browser pages and their assets: / (the public index of live streams; the dashboard on the admin listener),
// /watch/<path>, /publish/<path> and /assets/<name>.<hash>.<ext>, every answer with a strict Content-Security-Policy;
// assets are immutable under their content-hashed names and served gzipped when the client accepts it.
import { gzipSync } from "node:zlib";
import { sendError, type HttpContext, type HttpRoute } from "./routes.ts";
import { writeHead } from "./types.ts";

/** One asset as embedded by the build (src/web/gen/assets.ts). */
export interface Asset {
  readonly file: string;
  readonly type: string;
  readonly body: string;
}

/** The assets the pages need, by logical name. */
export interface WebAssets {
  player: Asset;
  publish: Asset;
  dashboard: Asset;
  index: Asset;
  style: Asset;
}

/** What the pages are told (rendered into <meta name="slowdrip-config">). */
export interface PageConfig {
  iceServers: { urls: string; username?: string; credential?: string }[];
}

export interface WebRoutesDeps {
  assets: WebAssets;
  /** Extra origins the pages may connect to (WebSocket trackers named in announces), e.g. "wss://tracker.example". */
  connectOrigins?: () => readonly string[];
  page: () => PageConfig;
}

/** The Content-Security-Policy of every page and asset: scripts and styles from this node only, WASM allowed. */
export function contentSecurityPolicy(connectOrigins: readonly string[] = []): string {
  return [
    "default-src 'none'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "style-src 'self'",
    "img-src 'self' data:",
    "media-src 'self' blob:",
    `connect-src ${["'self'", ...connectOrigins].join(" ")}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** Headers every answer of the web routes carries. */
export function securityHeaders(csp: string): Record<string, string> {
  return {
    "content-security-policy": csp,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-resource-policy": "same-origin",
  };
}

const ESC: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
/** Escapes text for HTML content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESC[c]!);
}

/** The HTML shell of a page: title, stylesheet, page config and its module script; the script builds the page. */
export function pageHtml(title: string, script: Asset, style: Asset, config: PageConfig): string {
  return [
    "<!doctype html>",
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    '<link rel="icon" href="data:,">',
    `<meta name="slowdrip-config" content="${escapeHtml(JSON.stringify(config))}">`,
    `<link rel="stylesheet" href="/assets/${style.file}">`,
    `<script type="module" src="/assets/${script.file}"></script>`,
    '</head><body><main id="app"></main></body></html>',
    "",
  ].join("\n");
}

const STREAM_PAGE = /^\/(watch|publish)\/([A-Za-z0-9._~%/-]{1,768})$/;

/** The routes of the pages and assets. */
export function webRoutes(deps: WebRoutesDeps): HttpRoute[] {
  const byFile = new Map(Object.values(deps.assets).map((a: Asset) => [a.file, a]));
  const gz = new Map<string, Buffer>();
  const csp = () => contentSecurityPolicy(deps.connectOrigins?.() ?? []);

  const sendPage = ({ req, res }: HttpContext, title: string, script: Asset, extra: Record<string, string> = {}) => {
    const body = Buffer.from(pageHtml(title, script, deps.assets.style, deps.page()));
    writeHead(res, 200, { ...securityHeaders(csp()), "content-type": "text/html; charset=utf-8", "content-length": String(body.length), "cache-control": "no-cache", ...extra });
    if (req.method === "HEAD") res.end();
    else res.end(body);
  };

  return [
    {
      name: "/",
      methods: ["GET", "HEAD"],
      path: "/",
      expose: "public",
      handle: (ctx) => (ctx.listener === "admin" ? sendPage(ctx, "SlowDrip node", deps.assets.dashboard) : sendPage(ctx, "Live on this node", deps.assets.index)),
    },
    {
      name: "/watch|publish/:path",
      methods: ["GET", "HEAD"],
      path: STREAM_PAGE,
      expose: "public",
      handle: (ctx) => {
        const [kind, raw] = ctx.params as [string, string];
        let path: string;
        try {
          path = decodeURIComponent(raw);
        } catch {
          return sendError(ctx.res, 400, "malformed stream path", securityHeaders(csp()));
        }
        if (kind === "watch") return sendPage(ctx, path, deps.assets.player);
        // Only the publish page may ask for the camera and microphone.
        return sendPage(ctx, `Publish ${path}`, deps.assets.publish, { "permissions-policy": "camera=(self), microphone=(self)" });
      },
    },
    {
      name: "/assets/:file",
      methods: ["GET", "HEAD"],
      path: /^\/assets\/([A-Za-z0-9._-]{1,100})$/,
      expose: "public",
      handle: ({ req, res, params }) => {
        const a = byFile.get(params[0]!);
        if (!a) return sendError(res, 404, `no asset ${params[0]}`, securityHeaders(csp()));
        const accepts = /\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""));
        let body: Buffer;
        const headers: Record<string, string> = {
          ...securityHeaders(csp()),
          "content-type": a.type,
          "cache-control": "public, max-age=31536000, immutable",
          etag: `"${a.file}"`,
          vary: "accept-encoding",
        };
        if (req.headers["if-none-match"] === `"${a.file}"`) {
          writeHead(res, 304, headers);
          res.end();
          return;
        }
        if (accepts) {
          body = gz.get(a.file) ?? gzipSync(a.body, { level: 9 });
          gz.set(a.file, body);
          headers["content-encoding"] = "gzip";
        } else body = Buffer.from(a.body);
        headers["content-length"] = String(body.length);
        writeHead(res, 200, headers);
        if (req.method === "HEAD") res.end();
        else res.end(body);
      },
    },
  ];
}
