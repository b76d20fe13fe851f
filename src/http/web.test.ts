// The page routes over a real listener: the index on the public listener and the dashboard on the admin one, escaped
// page config, immutable assets with gzip and revalidation, the CSP on every answer.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startListener, type Listener } from "./listener.ts";
import { routeHandler, type ListenerName } from "./routes.ts";
import { contentSecurityPolicy, escapeHtml, pageHtml, webRoutes, type WebAssets } from "./web.ts";
import { NodeMetrics } from "../node/metrics.ts";
import { createLogger } from "../node/logger.ts";

const asset = (name: string, ext: string, body: string) => ({ file: `${name}.0123456789ab.${ext}`, type: ext === "css" ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8", body });
const assets: WebAssets = {
  player: asset("player", "js", "console.log('player');".repeat(50)),
  publish: asset("publish", "js", "1"),
  dashboard: asset("dashboard", "js", "2"),
  index: asset("index", "js", "3"),
  style: asset("style", "css", "body{}"),
};
const listeners: Partial<Record<ListenerName, Listener>> = {};

beforeAll(async () => {
  const routes = webRoutes({ assets, connectOrigins: () => ["wss://t.example"], page: () => ({ iceServers: [{ urls: 'stun:"><script>x</script>' }] }) });
  for (const l of ["public", "admin"] as const) {
    listeners[l] = await startListener({
      host: "127.0.0.1",
      port: 0,
      handler: routeHandler(routes, { metrics: new NodeMetrics(), log: createLogger("silent"), mappers: [], listener: l }),
      maxConnections: 64,
      maxConnectionsPerIp: 0,
      idleTimeoutMs: 5000,
      writeStallTimeoutMs: 5000,
      maxH2Streams: 10,
    });
  }
});

afterAll(async () => {
  for (const l of Object.values(listeners)) await l.close(0);
});

describe("web routes", () => {
  it("serves the index on the public listener and the dashboard on the admin one, both under the CSP", async () => {
    const csp = contentSecurityPolicy(["wss://t.example"]);
    expect(csp).toContain("connect-src 'self' wss://t.example");
    const pub = await fetch(`${listeners.public!.url}/`);
    const adm = await fetch(`${listeners.admin!.url}/`);
    for (const r of [pub, adm]) {
      expect(r.headers.get("content-security-policy")).toBe(csp);
      expect(r.headers.get("cache-control")).toBe("no-cache");
    }
    expect(await pub.text()).toContain(`/assets/${assets.index.file}`);
    expect(await adm.text()).toContain(`/assets/${assets.dashboard.file}`);
    const watch = await (await fetch(`${listeners.public!.url}/watch/live/x`)).text();
    expect(watch).toContain(`<script type="module" src="/assets/${assets.player.file}"></script>`);
    expect(watch).toContain("<title>live/x</title>");
  });

  it("escapes what it puts in a page", () => {
    const html = pageHtml('<img src=x onerror="y">', assets.player, assets.style, { iceServers: [{ urls: '"><script>alert(1)</script>' }] });
    expect(html).not.toContain("<img");
    expect(html).not.toContain("<script>alert");
    expect(html).toContain("&lt;img src=x onerror=&quot;y&quot;&gt;");
    expect(escapeHtml(`&<>"'`)).toBe("&amp;&lt;&gt;&quot;&#39;");
  });

  it("serves assets immutable, gzipped when accepted, 304 on revalidation, 404 for unknown names", async () => {
    const url = `${listeners.public!.url}/assets/${assets.player.file}`;
    const gz = await fetch(url, { headers: { "accept-encoding": "gzip" } });
    expect(gz.headers.get("content-encoding")).toBe("gzip");
    expect(gz.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    // fetch decodes gzip itself; the raw length is smaller than the body.
    expect(Number(gz.headers.get("content-length"))).toBeLessThan(assets.player.body.length);
    expect(await gz.text()).toBe(assets.player.body);
    const raw = await fetch(url, { headers: { "accept-encoding": "identity" } });
    expect(raw.headers.get("content-encoding")).toBeNull();
    expect(await raw.text()).toBe(assets.player.body);
    const again = await fetch(url, { headers: { "if-none-match": `"${assets.player.file}"` } });
    expect(again.status).toBe(304);
    const none = await fetch(`${listeners.public!.url}/assets/player.ffffffffffff.js`);
    expect(none.status).toBe(404);
    expect(none.headers.get("content-security-policy")).toBeTruthy();
  });
});
