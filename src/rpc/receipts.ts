// ReceiptService over Connect: sealed batches, batch files, inclusion proofs and per-path QoS. Thin over proofs/intake.ts.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  GetBatchResponseSchema,
  ListBatchesResponseSchema,
  PathQosSchema,
  ReceiptBatchInfoSchema,
  ReceiptService,
  ReceiptServiceProveResponseSchema,
  ReceiptServiceStatsResponseSchema,
  type ReceiptBatchInfo,
} from "../gen/slowdrip/v1/proofs_pb.ts";
import type { ReceiptIntake } from "../proofs/intake.ts";
import type { BatchFile } from "../proofs/receipts.ts";
import type { RpcService } from "./router.ts";

function info(b: Pick<BatchFile, "header" | "signature">): ReceiptBatchInfo {
  return create(ReceiptBatchInfoSchema, {
    id: BigInt(b.header.id),
    node: b.header.node,
    createdUnixMs: BigInt(b.header.created_ms),
    count: b.header.count,
    root: b.header.root,
    signature: b.signature,
  });
}

const HEX64 = /^[0-9a-f]{64}$/;

/** The ReceiptService implementation: batches and proofs for signed peers (and the admin), QoS for anyone. */
export function receiptService(deps: { intake: ReceiptIntake }): RpcService {
  const { intake } = deps;
  const impl: ServiceImpl<typeof ReceiptService> = {
    async listBatches(req) {
      if (req.after > BigInt(Number.MAX_SAFE_INTEGER)) throw new ConnectError("after is too large", Code.InvalidArgument);
      return create(ListBatchesResponseSchema, { batches: intake.listBatches(Number(req.after), req.limit || 100).map(info), pending: Math.max(0, intake.pending) });
    },
    async getBatch(req) {
      const b = req.id <= BigInt(Number.MAX_SAFE_INTEGER) ? intake.getBatch(Number(req.id)) : undefined;
      if (!b) throw new ConnectError(`no receipt batch ${req.id} (unknown, or older than the batches kept)`, Code.NotFound);
      return create(GetBatchResponseSchema, { batch: info(b), document: `${JSON.stringify(b, null, 1)}\n` });
    },
    async prove(req) {
      if (!HEX64.test(req.viewer) || !HEX64.test(req.segment)) throw new ConnectError("viewer and segment are 64 lowercase hex", Code.InvalidArgument);
      const p = intake.prove(req.viewer, req.segment);
      if (!p) throw new ConnectError("no sealed receipt of this viewer for this segment (unknown, not in a batch yet, or dropped)", Code.NotFound);
      return create(ReceiptServiceProveResponseSchema, {
        batch: info(p.batch),
        index: p.index,
        receipt: JSON.stringify(p.batch.receipts[p.index]),
        leaf: p.leaf,
        siblings: p.siblings,
      });
    },
    async stats(req) {
      return create(ReceiptServiceStatsResponseSchema, {
        paths: intake.qos.stats(req.path).map((q) =>
          create(PathQosSchema, {
            path: q.path,
            receipts: BigInt(q.receipts),
            viewers: q.viewers,
            deadlineMisses: BigInt(q.deadlineMisses),
            deadlineMissRatio: q.deadlineMissRatio,
            ttfbP50Ms: q.ttfbP50Ms,
            ttfbP95Ms: q.ttfbP95Ms,
            jitterP50Ms: q.jitterP50Ms,
            jitterP95Ms: q.jitterP95Ms,
            bytes: BigInt(q.bytes),
          }),
        ),
      });
    },
  };
  return { service: ReceiptService, impl, access: { ListBatches: "peer", GetBatch: "peer", Prove: "peer", Stats: "public" } };
}
