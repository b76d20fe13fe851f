// Prometheus metrics for one node: process metrics plus RPC and HTTP counters on a private registry.
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The node's metric registry and the instruments shared by rpc/ and http/. */
export class NodeMetrics {
  readonly registry = new Registry();
  readonly rpcRequests: Counter<"service" | "method" | "code">;
  readonly rpcDuration: Histogram<"service" | "method" | "code">;
  readonly httpRequests: Counter<"route" | "method" | "status">;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "slowdrip_" });
    this.rpcRequests = new Counter({
      name: "slowdrip_rpc_requests_total",
      help: "RPC calls by service, method and result code.",
      labelNames: ["service", "method", "code"],
      registers: [this.registry],
    });
    this.rpcDuration = new Histogram({
      name: "slowdrip_rpc_duration_seconds",
      help: "RPC latency by service, method and result code.",
      labelNames: ["service", "method", "code"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: [this.registry],
    });
    this.httpRequests = new Counter({
      name: "slowdrip_http_requests_total",
      help: "Plain HTTP requests by route, method and status.",
      labelNames: ["route", "method", "status"],
      registers: [this.registry],
    });
  }
}
