// Node endpoints: /healthz (process alive) and /readyz (every required component ready) on every listener but the hooks;
// /metrics (Prometheus text, wallet balance included) on the admin listener only.
import type { NodeMetrics } from "../node/metrics.ts";
import type { Readiness } from "../node/readiness.ts";
import { sendJson, type HttpRoute } from "./routes.ts";
import { writeHead } from "./types.ts";

/** The health, readiness and metrics routes. */
export function adminRoutes(deps: { readiness: Readiness; metrics: NodeMetrics; nodeId: string }): HttpRoute[] {
  return [
    {
      name: "/healthz",
      methods: ["GET", "HEAD"],
      path: "/healthz",
      expose: "public",
      handle: ({ res }) => sendJson(res, 200, { status: "ok", node_id: deps.nodeId }),
    },
    {
      name: "/readyz",
      methods: ["GET", "HEAD"],
      path: "/readyz",
      expose: "public",
      handle: ({ res }) => {
        const ready = deps.readiness.ready;
        sendJson(res, ready ? 200 : 503, { ready, components: deps.readiness.list() });
      },
    },
    {
      name: "/metrics",
      methods: ["GET"],
      path: "/metrics",
      expose: "admin",
      handle: async ({ res }) => {
        const text = await deps.metrics.registry.metrics();
        const body = Buffer.from(text);
        writeHead(res, 200, { "content-type": deps.metrics.registry.contentType, "content-length": String(body.length), "cache-control": "no-store" });
        res.end(body);
      },
    },
  ];
}
