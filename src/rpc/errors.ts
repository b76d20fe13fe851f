// Error boundary for RPCs: domain errors become precise Connect codes; anything unexpected becomes Internal (logged, not leaked).
import { Code, ConnectError, type Interceptor, type StreamResponse, type UnaryResponse } from "@connectrpc/connect";
import type { Logger } from "../node/logger.ts";

/** Maps a domain error to a ConnectError, or returns undefined when it does not recognise it. */
export type ErrorMapper = (err: unknown) => ConnectError | undefined;

/** Turns any thrown value into a ConnectError using the mappers; unknown errors become Internal and are logged. */
export function toConnectError(err: unknown, mappers: readonly ErrorMapper[], log: Logger, where: string): ConnectError {
  if (err instanceof ConnectError) return err;
  for (const m of mappers) {
    const ce = m(err);
    if (ce) return ce;
  }
  if (err instanceof RangeError || err instanceof TypeError) {
    // Boundary checks of the pure modules: the caller sent a bad argument.
    return new ConnectError(err.message, Code.InvalidArgument, undefined, undefined, err);
  }
  log.error({ err, rpc: where }, "unexpected error in RPC handler");
  return new ConnectError("internal error", Code.Internal);
}

async function* mapStream<T>(it: AsyncIterable<T>, fail: (err: unknown) => ConnectError): AsyncIterable<T> {
  try {
    yield* it;
  } catch (err) {
    throw fail(err);
  }
}

/** Interceptor applying toConnectError to unary results and to errors raised while streaming. */
export function errorBoundary(mappers: readonly ErrorMapper[], log: Logger): Interceptor {
  return (next) => async (req) => {
    const where = `${req.service.typeName}/${req.method.name}`;
    const fail = (err: unknown) => toConnectError(err, mappers, log, where);
    let res: UnaryResponse | StreamResponse;
    try {
      res = await next(req);
    } catch (err) {
      throw fail(err);
    }
    if (res.stream) return { ...res, message: mapStream(res.message, fail) } as StreamResponse;
    return res;
  };
}
