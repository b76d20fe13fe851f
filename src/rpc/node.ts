// NodeService: status and identity of this node.
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  ComponentStateSchema,
  GetIdentityResponseSchema,
  GetStatusResponseSchema,
  NodeService,
  StorageTotalsSchema,
} from "../gen/slowdrip/v1/node_pb.ts";
import type { Identity } from "../identity/identity.ts";
import type { Readiness } from "../node/readiness.ts";
import { VERSION } from "../version.ts";
import type { RpcService } from "./router.ts";

/** Storage totals as the store reports them. */
export interface StorageTotalsSource {
  (): { bytesUsed: number; bytesMax: number; blobCount: number };
}

/** What NodeService needs from the node. */
export interface NodeServiceDeps {
  identity: Identity;
  readiness: Readiness;
  startedAt: number;
  publicEndpoint: string;
  publicStatus: boolean;
  storageTotals?: StorageTotalsSource;
}

/** The NodeService implementation with its access policy. */
export function nodeService(deps: NodeServiceDeps): RpcService {
  const impl: ServiceImpl<typeof NodeService> = {
    getStatus() {
      const totals = deps.storageTotals?.() ?? { bytesUsed: 0, bytesMax: 0, blobCount: 0 };
      return create(GetStatusResponseSchema, {
        version: VERSION,
        nodeId: deps.identity.nodeId,
        uptimeSeconds: (Date.now() - deps.startedAt) / 1000,
        ready: deps.readiness.ready,
        components: deps.readiness.list().map((c) => create(ComponentStateSchema, c)),
        storage: create(StorageTotalsSchema, {
          bytesUsed: BigInt(totals.bytesUsed),
          bytesMax: BigInt(totals.bytesMax),
          blobCount: BigInt(totals.blobCount),
        }),
      });
    },
    getIdentity() {
      return create(GetIdentityResponseSchema, {
        nodeId: deps.identity.nodeId,
        didKey: deps.identity.didKey,
        publicEndpoint: deps.publicEndpoint,
      });
    },
  };
  return {
    service: NodeService,
    impl,
    access: { GetStatus: deps.publicStatus ? "public" : "admin", GetIdentity: "public" },
  };
}
