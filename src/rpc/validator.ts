// ValidatorService over Connect: registration, heartbeats, maps, PG queries, and the gateway calls; thin, the work is in
// validator/.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  ClusterMemberSchema,
  DeleteFileResponseSchema,
  FileManifestSchema,
  GetClusterMapResponseSchema,
  GetClusterStatusResponseSchema,
  GetFileResponseSchema,
  HeartbeatResponseSchema,
  HeartbeatStatus,
  MemberState,
  MemberStatusSchema,
  PutFileResponseSchema,
  QueryManifestResponseSchema,
  QueryPgFilesBatchResponseSchema,
  RegisterResponseSchema,
  RegisterStatus,
  ShardHealth,
  StatFileResponseSchema,
  StorageProofTallySchema,
  ValidatorService,
  WatchClusterMapResponseSchema,
  type FileManifest,
  type GetFileResponse,
  type PutFileRequest,
} from "../gen/slowdrip/v1/cluster_pb.ts";
import type { MinerRecord } from "../proofs/warden.ts";
import type { ShardState } from "../validator/health.ts";
import type { FileRecord } from "../validator/manifests.ts";
import {
  BadRequestError,
  EpochNotKeptError,
  FileNotFoundError,
  FileRangeError,
  NotAllowedError,
  RegistryFullError,
  UploadBusyError,
  UploadFailedError,
  UploadMismatchError,
  ValidatorError,
  WatchersFullError,
} from "../validator/errors.ts";
import type { Validator } from "../validator/validator.ts";
import { callerKey, type PeerRule } from "./auth.ts";
import type { ErrorMapper } from "./errors.ts";
import type { RpcService } from "./router.ts";
import { fromWireProgress, headerAndData, num, toWireMap, toWireProgress, toWireStripe } from "./cluster-wire.ts";

/** Largest data payload per GetFile message. */
const PIECE = 1024 * 1024;

/** Validator errors as Connect codes. */
export const validatorRpcError: ErrorMapper = (err) => {
  if (!(err instanceof ValidatorError)) return undefined;
  const c = (code: Code) => new ConnectError(err.message, code, undefined, undefined, err);
  if (err instanceof BadRequestError) return c(Code.InvalidArgument);
  if (err instanceof NotAllowedError) return c(Code.PermissionDenied);
  if (err instanceof RegistryFullError || err instanceof WatchersFullError) return c(Code.ResourceExhausted);
  if (err instanceof FileNotFoundError || err instanceof EpochNotKeptError) return c(Code.NotFound);
  if (err instanceof FileRangeError) return c(Code.OutOfRange);
  if (err instanceof UploadMismatchError) return c(Code.DataLoss);
  if (err instanceof UploadBusyError) return c(Code.Aborted);
  if (err instanceof UploadFailedError) return c(Code.Unavailable);
  return c(Code.FailedPrecondition);
};

const HEALTH: Record<ShardState, ShardHealth> = {
  ok: ShardHealth.OK,
  missing: ShardHealth.MISSING,
  "holder-down": ShardHealth.HOLDER_DOWN,
  corrupt: ShardHealth.CORRUPT,
};

const STATE = { up: MemberState.UP, down: MemberState.DOWN, faulty: MemberState.FAULTY } as const;

function manifest(f: FileRecord): FileManifest {
  return create(FileManifestSchema, {
    hash: f.hash,
    size: BigInt(f.size),
    stripeSize: f.stripeSize,
    dataShards: f.k,
    parityShards: f.m,
    stripes: f.stripes.map((s, i) => toWireStripe({ file: f.hash, index: i, pg: s.pg, shardSize: s.shardSize, dataLength: s.dataLength, shards: s.shards })),
    createdUnixMs: BigInt(f.created),
    epoch: BigInt(f.epoch),
    name: f.name,
  });
}

function signer(ctx: HandlerContext): string {
  const id = ctx.values.get(callerKey).nodeId;
  if (!id) throw new ConnectError("this call must be signed with the caller's node key", Code.Unauthenticated);
  return id;
}

/** A member's warden record as the status reports it. */
function tally(r: MinerRecord) {
  const last = r.recent.at(-1);
  const failure = [...r.recent].reverse().find((x) => x.result !== "pass");
  return create(StorageProofTallySchema, {
    passed: BigInt(r.pass),
    failed: BigInt(r.fail),
    timedOut: BigInt(r.timeout),
    lastResult: last?.result ?? "",
    lastFailure: failure ? `${failure.result}: ${failure.reason ?? ""}`.slice(0, 300) : "",
    lastUnixMs: BigInt(last?.at ?? 0),
  });
}

/** What the service reads besides the validator: the warden's record of a member, if it was challenged. */
export interface ValidatorServiceExtras {
  proofs?: (nodeId: string) => MinerRecord | undefined;
}

/** ValidatorService with its access policy. */
export function validatorService(v: Validator, extras: ValidatorServiceExtras = {}): RpcService {
  const impl: ServiceImpl<typeof ValidatorService> = {
    async register(req, ctx) {
      const a = await v.register(signer(ctx), {
        nodeId: req.nodeId,
        endpoint: req.endpoint,
        family: req.family,
        totalBytes: num(req.totalBytes, "total_bytes"),
        availableBytes: num(req.availableBytes, "available_bytes"),
        timestamp: num(req.timestampUnixMs < 0n ? 0n : req.timestampUnixMs, "timestamp_unix_ms"),
      });
      if (a.status === "ok") return create(RegisterResponseSchema, { status: RegisterStatus.OK, epoch: BigInt(a.epoch), wardenIds: a.wardens });
      if (a.status === "rate-limited") return create(RegisterResponseSchema, { status: RegisterStatus.RATE_LIMITED, retryAfterMs: BigInt(a.retryAfterMs) });
      return create(RegisterResponseSchema, { status: RegisterStatus.FAMILY_REJECTED, reason: a.reason });
    },
    heartbeat(req, ctx) {
      const rebalance = fromWireProgress(req.rebalance);
      const a = v.heartbeat(signer(ctx), { availableBytes: num(req.availableBytes, "available_bytes"), shardsStored: num(req.shardsStored, "shards_stored"), ...(rebalance ? { rebalance } : {}) });
      return create(HeartbeatResponseSchema, { status: a.known ? HeartbeatStatus.OK : HeartbeatStatus.UNKNOWN, epoch: BigInt(a.epoch), wardenIds: a.wardens });
    },
    getClusterMap(req) {
      return create(GetClusterMapResponseSchema, { map: toWireMap(v.map(num(req.epoch, "epoch"))) });
    },
    async *watchClusterMap(req, ctx) {
      for await (const m of v.watch(num(req.afterEpoch, "after_epoch"), ctx.signal)) yield create(WatchClusterMapResponseSchema, { map: toWireMap(m) });
    },
    queryPgFilesBatch(req, ctx) {
      v.registry.touch(signer(ctx));
      const r = v.pgStripes(req.pgs, req.after, req.limit);
      return create(QueryPgFilesBatchResponseSchema, { stripes: r.stripes.map(toWireStripe), next: r.next, epoch: BigInt(r.epoch) });
    },
    queryManifest(req) {
      return create(QueryManifestResponseSchema, { manifest: manifest(v.manifest(req.hash)) });
    },
    async putFile(requests: AsyncIterable<PutFileRequest>, ctx) {
      const { header: h, data } = await headerAndData(requests, (m) => m.header, "PutFile (hash, size)");
      const r = await v.put({ hash: h.hash, size: num(h.size, "size"), name: h.name }, data, ctx.signal);
      return create(PutFileResponseSchema, { hash: r.hash, size: BigInt(r.size), created: r.created, stripes: r.stripes, underReplicatedStripes: r.underReplicated });
    },
    async *getFile(req, ctx): AsyncGenerator<GetFileResponse> {
      const { file, offset, length } = v.range(req.hash, num(req.offset, "offset"), req.length === undefined ? undefined : num(req.length, "length"));
      const head = { size: BigInt(file.size), offset: BigInt(offset), length: BigInt(length) };
      if (req.withProof) {
        const slice = await v.slice(file, offset, length, ctx.signal);
        for (let at = 0; at < slice.length || at === 0; at += PIECE) {
          yield create(GetFileResponseSchema, { ...(at === 0 ? head : {}), baoSlice: slice.subarray(at, at + PIECE) });
          if (slice.length === 0) break;
        }
        return;
      }
      let first = true;
      for await (const bytes of v.read(req.hash, offset, length, ctx.signal)) {
        for (let at = 0; at < bytes.length; at += PIECE) {
          yield create(GetFileResponseSchema, { ...(first ? head : {}), data: bytes.subarray(at, at + PIECE) });
          first = false;
        }
      }
      if (first) yield create(GetFileResponseSchema, head);
    },
    async statFile(req, ctx) {
      const limit = req.stripeLimit === 0 ? 256 : req.stripeLimit;
      if (limit > 1024) throw new ConnectError("stripe_limit must be 1..1024 (0 means 256)", Code.InvalidArgument);
      const s = await v.stat(req.hash, ctx.signal);
      const k = s.file.k;
      let under = 0;
      let unreadable = false;
      for (const st of s.stripes) {
        const ok = st.states.filter((x) => x === "ok").length;
        if (ok < st.states.length) under++;
        if (ok < k) unreadable = true;
      }
      const from = Math.min(req.stripeOffset, s.stripes.length);
      const window = s.stripes.slice(from, from + limit).map((st, j) => {
        const i = from + j;
        return {
          index: i,
          pg: s.file.stripes[i]!.pg,
          underReplicated: st.states.some((x) => x !== "ok"),
          shards: st.holders.map((h, p) => ({ position: p, hash: s.file.stripes[i]!.shards[p]!, holder: h, family: st.families[p]!, health: HEALTH[st.states[p]!] })),
        };
      });
      const m = manifest(s.file);
      m.stripes = m.stripes.slice(from, from + limit);
      return create(StatFileResponseSchema, {
        manifest: m,
        stripes: window,
        health: unreadable ? "unreadable" : under > 0 ? "degraded" : "healthy",
        underReplicatedStripes: under,
        epoch: BigInt(s.epoch),
        stripeCount: s.stripes.length,
      });
    },
    async deleteFile(req) {
      const r = await v.delete(req.hash);
      return create(DeleteFileResponseSchema, { deleted: r.deleted, shardsDeleted: r.shardsDeleted });
    },
    async getClusterStatus() {
      const s = await v.status();
      return create(GetClusterStatusResponseSchema, {
        epoch: BigInt(s.epoch),
        validatorId: s.validatorId,
        pgCount: s.pgCount,
        dataShards: s.dataShards,
        parityShards: s.parityShards,
        wardenIds: s.wardens,
        files: BigInt(s.files),
        stripes: BigInt(s.stripes),
        underReplicatedStripes: BigInt(s.health.underReplicated),
        unreadableStripes: BigInt(s.health.unreadable),
        missingShards: BigInt(s.health.missing),
        lastScanUnixMs: BigInt(s.health.at),
        lastScanEpoch: BigInt(s.health.epoch),
        members: s.members.map((m) =>
          create(MemberStatusSchema, {
            member: create(ClusterMemberSchema, { nodeId: m.id, endpoint: m.endpoint, family: m.family, weight: m.weight, state: STATE[m.state] }),
            totalBytes: BigInt(m.totalBytes),
            availableBytes: BigInt(m.availableBytes),
            lastHeartbeatUnixMs: BigInt(m.lastHeartbeat),
            faults: BigInt(m.faults),
            faultReason: m.faultReason,
            pgPositions: m.pgPositions,
            registeredUnixMs: BigInt(m.registered),
            shardsStored: BigInt(m.shardsStored),
            ...(m.rebalance ? { rebalance: toWireProgress(m.rebalance) } : {}),
            ...((r) => (r ? { proofs: tally(r) } : {}))(extras.proofs?.(m.id)),
          }),
        ),
      });
    },
  };
  const members: PeerRule = { rule: "registered cluster members", allows: (id) => v.registry.isMember(id) };
  return {
    service: ValidatorService,
    impl,
    access: {
      Register: "peer",
      Heartbeat: "peer",
      GetClusterMap: "public",
      WatchClusterMap: "public",
      QueryPgFilesBatch: members,
      QueryManifest: "public",
      PutFile: "admin",
      GetFile: "public",
      StatFile: "public",
      DeleteFile: "admin",
      GetClusterStatus: "public",
    },
  };
}
