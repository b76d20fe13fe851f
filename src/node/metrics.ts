// Prometheus metrics for one node: standard process and runtime metrics plus RPC and HTTP counters on a private registry.
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** prom-client default gauges named like counters; see the constructor. */
export const MISNAMED_DEFAULTS = ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"] as const;

/** The node's metric registry and the instruments shared by rpc/ and http/. */
export class NodeMetrics {
  readonly registry = new Registry();
  readonly rpcRequests: Counter<"service" | "method" | "code">;
  readonly rpcDuration: Histogram<"service" | "method" | "code">;
  readonly httpRequests: Counter<"route" | "method" | "status">;

  constructor() {
    // Process and runtime metrics keep the names every Prometheus client exports (process_cpu_seconds_total,
    // process_resident_memory_bytes, nodejs_*), so stock dashboards and alerts work; only our own carry slowdrip_.
    collectDefaultMetrics({ register: this.registry });
    // prom-client also exports three unlabelled gauges whose names end in _total, a suffix reserved for counters
    // (promtool flags them). Their values are the sums of the per-type gauges nodejs_active_handles{type},
    // nodejs_active_requests{type} and nodejs_active_resources{type}, which stay: sum(nodejs_active_handles) replaces
    // nodejs_active_handles_total.
    for (const name of MISNAMED_DEFAULTS) this.registry.removeSingleMetric(name);
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
