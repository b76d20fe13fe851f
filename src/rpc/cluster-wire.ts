// Conversions between the cluster's wire messages (cluster.proto) and the domain types of cluster/ and validator/.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  RebalanceProgressSchema,
  SignedClusterMapSchema,
  StripeInfoSchema,
  type RebalanceProgress,
  type ShardRef as WireRef,
  type SignedClusterMap,
  type StripeInfo,
} from "../gen/slowdrip/v1/cluster_pb.ts";
import type { ShardRef, StripeRecord } from "../cluster/layout.ts";
import type { SignedMap } from "../cluster/map.ts";
import type { RebalanceFigures } from "../cluster/net.ts";

/** Largest number a uint64 field may carry into a JS number. */
export function num(v: bigint, field: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`${field} ${v} is too large`);
  return Number(v);
}

export function toWireMap(m: SignedMap): SignedClusterMap {
  return create(SignedClusterMapSchema, { mapJson: m.json, signature: m.signature });
}

export function fromWireMap(m: SignedClusterMap | undefined): SignedMap {
  if (!m) throw new RangeError("map is missing");
  return { json: m.mapJson, signature: m.signature };
}

export function toWireStripe(s: StripeRecord): StripeInfo {
  return create(StripeInfoSchema, { fileHash: s.file, stripeIndex: s.index, pg: s.pg, shardSize: s.shardSize, shardHashes: s.shards, dataLength: s.dataLength, pending: s.pending === true });
}

export function fromWireStripe(s: StripeInfo): StripeRecord {
  const r: StripeRecord = { file: s.fileHash, index: s.stripeIndex, pg: s.pg, shardSize: s.shardSize, dataLength: s.dataLength, shards: s.shardHashes };
  if (s.pending) r.pending = true;
  return r;
}

export function fromWireRef(r: WireRef | undefined): ShardRef | undefined {
  return r ? { file: r.fileHash, stripe: r.stripeIndex, position: r.position, pg: r.pg } : undefined;
}

export function toWireRef(r: ShardRef): { fileHash: string; stripeIndex: number; position: number; pg: number } {
  return { fileHash: r.file, stripeIndex: r.stripe, position: r.position, pg: r.pg };
}

export function toWireProgress(f: RebalanceFigures): RebalanceProgress {
  return create(RebalanceProgressSchema, {
    epoch: BigInt(f.epoch),
    wanted: BigInt(f.wanted),
    missing: BigInt(f.missing),
    pulled: BigInt(f.pulled),
    failed: BigInt(f.failed),
    bytes: BigInt(f.bytes),
    complete: f.complete,
    orphans: BigInt(f.orphans),
    gcDeleted: BigInt(f.gcDeleted),
  });
}

export function fromWireProgress(p: RebalanceProgress | undefined): RebalanceFigures | undefined {
  if (!p) return undefined;
  const n = (v: bigint) => Number(v > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : v);
  return { epoch: n(p.epoch), wanted: n(p.wanted), missing: n(p.missing), pulled: n(p.pulled), failed: n(p.failed), bytes: n(p.bytes), complete: p.complete, orphans: n(p.orphans), gcDeleted: n(p.gcDeleted) };
}

/**
 * Splits an upload stream whose first message carries a header: resolves to the header and the data of every message
 * (the first one's included). A header later in the stream, or none first, is invalid_argument naming `what`.
 */
export async function headerAndData<M extends { data: Uint8Array }, H>(requests: AsyncIterable<M>, headerOf: (m: M) => H | undefined, what: string): Promise<{ header: H; data: AsyncGenerator<Uint8Array> }> {
  const it = requests[Symbol.asyncIterator]();
  const first = await it.next();
  const header = first.done ? undefined : headerOf(first.value);
  if (header === undefined) throw new ConnectError(`${what}: the first message must carry the header`, Code.InvalidArgument);
  async function* data(): AsyncGenerator<Uint8Array> {
    if (!first.done && first.value.data.byteLength > 0) yield first.value.data;
    for (let n = await it.next(); !n.done; n = await it.next()) {
      if (headerOf(n.value) !== undefined) throw new ConnectError(`${what}: the header is only allowed in the first message`, Code.InvalidArgument);
      if (n.value.data.byteLength > 0) yield n.value.data;
    }
  }
  return { header, data: data() };
}
