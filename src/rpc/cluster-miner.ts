// MinerService over Connect: only the cluster's validator may call it; thin, the work is in cluster/miner.ts.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  CheckShardsResponseSchema,
  ClusterMapUpdateResponseSchema,
  MinerService,
  MinerServiceDeleteResponseSchema,
  MinerServiceStoreResponseSchema,
  PullFromPeerResponseSchema,
  type MinerServiceStoreRequest,
} from "../gen/slowdrip/v1/cluster_pb.ts";
import { ClusterError, MapError, NoMapError, PlacementUnavailableError, ShardNotHeldError, ShardUnavailableError, StripeUnreadableError } from "../cluster/errors.ts";
import type { MinerShards } from "../cluster/miner.ts";
import type { PeerRule } from "./auth.ts";
import type { ErrorMapper } from "./errors.ts";
import type { RpcService } from "./router.ts";
import { fromWireMap, fromWireRef, headerAndData, num } from "./cluster-wire.ts";

/** Cluster errors as Connect codes. */
export const clusterRpcError: ErrorMapper = (err) => {
  if (!(err instanceof ClusterError)) return undefined;
  const c = (code: Code) => new ConnectError(err.message, code, undefined, undefined, err);
  if (err instanceof MapError) {
    if (err.reason === "stale") return c(Code.FailedPrecondition);
    if (err.reason === "malformed") return c(Code.InvalidArgument);
    return c(Code.PermissionDenied);
  }
  if (err instanceof NoMapError || err instanceof PlacementUnavailableError) return c(Code.FailedPrecondition);
  if (err instanceof ShardUnavailableError || err instanceof StripeUnreadableError) return c(Code.Unavailable);
  if (err instanceof ShardNotHeldError) return c(Code.NotFound);
  return c(Code.Internal);
};

/** The rule of every MinerService method: the signer must be the validator named by cluster.validator. */
export function validatorOnly(validatorId: string): PeerRule {
  return { rule: `the cluster validator (${validatorId.slice(0, 16)}…)`, allows: (id) => id === validatorId };
}

/** MinerService with its access policy. */
export function minerService(miner: MinerShards, validatorId: string): RpcService {
  const impl: ServiceImpl<typeof MinerService> = {
    async store(requests: AsyncIterable<MinerServiceStoreRequest>, ctx: HandlerContext) {
      const { header: h, data } = await headerAndData(requests, (m) => m.header, "Store");
      const ref = fromWireRef(h.ref);
      const pullFrom = h.pullFrom ? { nodeId: h.pullFrom.nodeId, endpoint: h.pullFrom.endpoint } : undefined;
      const size = num(h.size, "size");
      const r = await miner.store({ hash: h.hash, size, ...(ref ? { ref } : {}), ...(pullFrom ? { pullFrom } : {}) }, data, ctx.signal);
      return create(MinerServiceStoreResponseSchema, { hash: h.hash, size: h.size, created: r.created });
    },
    async delete(req) {
      return create(MinerServiceDeleteResponseSchema, { deleted: await miner.delete(req.hash, req.reason) });
    },
    async pullFromPeer(req, ctx) {
      const sources = req.sources.map((s) => ({ nodeId: s.nodeId, endpoint: s.endpoint }));
      const r = await miner.pull(req.hash, num(req.size, "size"), sources, fromWireRef(req.ref), ctx.signal);
      return create(PullFromPeerResponseSchema, { hash: req.hash, source: r.source, created: r.created });
    },
    async clusterMapUpdate(req) {
      const r = miner.updateMap(fromWireMap(req.map));
      return create(ClusterMapUpdateResponseSchema, { epoch: BigInt(r.epoch), applied: r.applied });
    },
    async checkShards(req) {
      return create(CheckShardsResponseSchema, { present: await miner.check(req.hashes) });
    },
  };
  const rule = validatorOnly(validatorId);
  return { service: MinerService, impl, access: { Store: rule, Delete: rule, PullFromPeer: rule, ClusterMapUpdate: rule, CheckShards: rule } };
}
