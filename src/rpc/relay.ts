// RelayService over RPC: Fetch streams a catalog film's blob fetched on the caller's behalf, metered as
// relay-bandwidth through the RPC pay gate; refusals (loop, scope, cap) mapped to Connect codes here.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { RelayService, RelayServiceFetchResponseSchema, type RelayServiceFetchRequest, type RelayServiceFetchResponse } from "../gen/slowdrip/v1/relay_pb.ts";
import { RELAYED_HEADER, RelayError, type FilmRelay } from "../films/relay.ts";
import type { BlobStore } from "../store/types.ts";
import { callerKey } from "./auth.ts";
import { remoteAddressKey } from "./context.ts";
import type { ErrorMapper } from "./errors.ts";
import type { RpcReadGate } from "./paygate.ts";
import type { RpcService } from "./router.ts";

/** What RelayService needs. */
export interface RelayServiceDeps {
  relay: FilmRelay;
  store: BlobStore;
  gate?: RpcReadGate;
  maxMessageSize: number;
}

function toSafe(v: bigint, field: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ConnectError(`${field} ${v} is too large`, Code.InvalidArgument);
  return Number(v);
}

/** The RelayService implementation (public; paid by the gate). */
export function relayService(deps: RelayServiceDeps): RpcService {
  const perMessage = Math.max(1024, Math.min(1024 * 1024, deps.maxMessageSize - 1024));
  const impl: ServiceImpl<typeof RelayService> = {
    async *fetch(req: RelayServiceFetchRequest, ctx: HandlerContext): AsyncGenerator<RelayServiceFetchResponse> {
      if (!/^[0-9a-f]{64}$/.test(req.hash)) throw new ConnectError("hash must be 64 lowercase hex characters", Code.InvalidArgument);
      const offset = toSafe(req.offset, "offset");
      const want = req.length === undefined ? undefined : toSafe(req.length, "length");
      const caller = ctx.values.get(callerKey);
      const session = ctx.requestHeader.get("x-session") ?? undefined;
      const grant = await deps.relay.admit(req.hash, {
        relayed: ctx.requestHeader.get(RELAYED_HEADER) !== null,
        peer: caller.nodeId ?? ctx.values.get(remoteAddressKey) ?? "unknown",
        ...(session ? { session } : {}),
        range: (size) => {
          if (offset > size) throw new ConnectError(`offset ${offset} is past the end (${size} bytes)`, Code.OutOfRange);
          return { offset, length: Math.min(want ?? size - offset, size - offset) };
        },
      });
      const settle = deps.gate ? await deps.gate(ctx, { service: "relay-bandwidth", bytes: grant.length }) : () => {};
      let sent = 0;
      try {
        const head = create(RelayServiceFetchResponseSchema, { size: BigInt(grant.size), offset: BigInt(grant.offset), length: BigInt(grant.length), source: grant.source });
        if (grant.length === 0) {
          yield head;
          return;
        }
        const s = await deps.store.read(req.hash, grant.offset, grant.length, { signal: ctx.signal });
        try {
          let first = true;
          for await (const piece of s) {
            s.pause();
            for (let at = 0; at < piece.byteLength; at += perMessage) {
              const data = piece.subarray(at, Math.min(at + perMessage, piece.byteLength));
              sent += data.byteLength;
              if (first) {
                head.data = data;
                first = false;
                yield head;
              } else {
                yield create(RelayServiceFetchResponseSchema, { data });
              }
            }
          }
        } finally {
          s.release();
        }
      } finally {
        settle(Math.min(sent, grant.length));
        grant.commit(sent);
      }
    },
  };
  return { service: RelayService, impl, access: { Fetch: "public" } };
}

/** RelayError -> Connect code: off unimplemented, scope permission_denied, cap resource_exhausted, loop failed_precondition. */
export const relayRpcError: ErrorMapper = (err) => {
  if (!(err instanceof RelayError)) return undefined;
  const code = { off: Code.Unimplemented, scope: Code.PermissionDenied, cap: Code.ResourceExhausted, loop: Code.FailedPrecondition, unavailable: Code.Unavailable }[err.reason];
  return new ConnectError(err.message, code, { "x-reason": `relay-${err.reason}` });
};
