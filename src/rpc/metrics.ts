// RPC metrics interceptor: counts calls and observes latency by service, method and final code.
import { Code, ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import type { NodeMetrics } from "../node/metrics.ts";

const codeName = (err: unknown) => (err instanceof ConnectError ? Code[err.code] : Code[Code.Internal]) ?? "unknown";

/** Interceptor recording slowdrip_rpc_requests_total and slowdrip_rpc_duration_seconds. */
export function metricsInterceptor(m: NodeMetrics): Interceptor {
  return (next) => async (req) => {
    const start = performance.now();
    const labels = { service: req.service.typeName, method: req.method.name };
    const done = (code: string) => {
      m.rpcRequests.inc({ ...labels, code });
      m.rpcDuration.observe({ ...labels, code }, (performance.now() - start) / 1000);
    };
    let res;
    try {
      res = await next(req);
    } catch (err) {
      done(codeName(err));
      throw err;
    }
    if (!res.stream) {
      done("ok");
      return res;
    }
    const inner = res.message;
    async function* observed() {
      try {
        yield* inner;
        done("ok");
      } catch (err) {
        done(codeName(err));
        throw err;
      }
    }
    return { ...res, message: observed() } as StreamResponse;
  };
}
