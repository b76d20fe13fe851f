// RPC binding of the payment gate: paid reads get resource_exhausted with a PaymentRequired detail; tokens ride in metadata.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { FetchBlobRequest, FetchBlobResponse, StorageService } from "../gen/slowdrip/v1/storage_pb.ts";
import { PaymentRequiredSchema } from "../gen/slowdrip/v1/wallet_pb.ts";
import { PAY_HEADERS, type Gate } from "../pay/gate.ts";
import { serviceForBlob, type ServiceName } from "../pay/pricing.ts";
import type { BlobStore } from "../store/types.ts";
import { callerKey } from "./auth.ts";
import { remoteAddressKey } from "./context.ts";

/** Gates one RPC read; resolves to a settle function (call it with the bytes sent) or throws a ConnectError. */
export type RpcReadGate = (ctx: HandlerContext, read: { service: ServiceName; bytes: number }) => Promise<(sent: number) => void>;

/**
 * Builds the RPC gate. Admin callers read free; signed callers are identified by their node id (free_peers apply);
 * the free allowance is counted per remote address (a free peer by its id), never in one bucket for all.
 * Refusals: resource_exhausted + PaymentRequired detail + "x-cashu" trailer (402), invalid_argument + "x-reason"
 * (bad token), unavailable (mint unreachable).
 */
export function rpcReadGate(gate: Gate): RpcReadGate {
  return async (ctx, read) => {
    const caller = ctx.values.get(callerKey);
    if (caller.admin) return () => {};
    const h = ctx.requestHeader;
    const path = `/${ctx.service.typeName}/${ctx.method.name}`;
    const opt = (name: string) => h.get(name) ?? undefined;
    const cashu = opt(PAY_HEADERS.cashu);
    const session = opt(PAY_HEADERS.session);
    const sessionRequest = opt(PAY_HEADERS.sessionRequest);
    const address = ctx.values.get(remoteAddressKey);
    const d = await gate.decide({
      service: read.service,
      path,
      ...(caller.nodeId ? { peer: caller.nodeId } : {}),
      client: caller.nodeId ?? address,
      allowanceKey: gate.pricing.allowanceKey(address, caller.nodeId),
      bytes: read.bytes,
      ...(cashu !== undefined ? { cashu } : {}),
      ...(session !== undefined ? { session } : {}),
      ...(sessionRequest !== undefined ? { sessionRequest } : {}),
    });
    switch (d.kind) {
      case "payment-required":
        throw new ConnectError(`payment required: ${d.amount} ${d.unit} (${d.reason})`, Code.ResourceExhausted, { [PAY_HEADERS.cashu]: d.request }, [
          {
            desc: PaymentRequiredSchema,
            value: create(PaymentRequiredSchema, { request: d.request, amount: BigInt(d.amount), unit: d.unit, mints: d.mints, allotment: BigInt(d.allotment), reason: d.reason }),
          },
        ]);
      case "bad-request":
        throw new ConnectError(d.message, Code.InvalidArgument, { [PAY_HEADERS.reason]: d.reason });
      case "conflict":
        throw new ConnectError(d.message, Code.Aborted, { [PAY_HEADERS.reason]: d.reason, "retry-after": "1" });
      case "unavailable":
        throw new ConnectError(d.message, Code.Unavailable, { [PAY_HEADERS.reason]: d.reason });
      case "serve":
        ctx.responseHeader.set(PAY_HEADERS.session, d.session.id);
        ctx.responseHeader.set(PAY_HEADERS.sessionRemaining, String(d.session.unit === "byte" ? d.session.left : Math.max(0, d.session.validUntil - Date.now())));
        return (sent) => gate.settle(d.ticket, sent);
      case "free":
        return (sent) => gate.settle(d.ticket, sent);
    }
  };
}

/** Wraps StorageService.FetchBlob so that each read passes the gate first and is metered by the bytes streamed. */
export function gateFetchBlob(impl: ServiceImpl<typeof StorageService>, gate: RpcReadGate, store: BlobStore): ServiceImpl<typeof StorageService> {
  const inner = impl.fetchBlob.bind(impl) as (req: FetchBlobRequest, ctx: HandlerContext) => AsyncIterable<FetchBlobResponse>;
  return {
    ...impl,
    async *fetchBlob(req: FetchBlobRequest, ctx: HandlerContext): AsyncGenerator<FetchBlobResponse> {
      const meta = await store.stat(req.hash);
      const offset = Number(req.offset);
      const avail = Math.max(0, meta.size - Math.min(offset, meta.size));
      const bytes = req.length === undefined ? avail : Math.min(avail, Number(req.length));
      // Live segments cost the same by hash as through /live/: the live-view price.
      const settle = await gate(ctx, { service: serviceForBlob(meta), bytes });
      let sent = 0;
      try {
        for await (const m of inner(req, ctx)) {
          // With a proof the content travels inside the Bao slice; its tree hashes are not charged.
          sent += m.data.byteLength + m.baoSlice.byteLength;
          yield m;
        }
      } finally {
        settle(Math.min(bytes, sent));
      }
    },
  };
}
