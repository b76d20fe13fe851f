// Connect clients of the cluster's peer calls, every one signed for its target node: shard reads (FetchBlob), the
// validator's calls on miners (MinerService), and a miner's link to its validator (ValidatorService).
import { randomInt } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { HeartbeatStatus, MinerService, MinerServiceStoreRequestSchema, MinerServiceStoreResponseSchema, RegisterStatus, ValidatorService } from "../gen/slowdrip/v1/cluster_pb.ts";
import { StorageService } from "../gen/slowdrip/v1/storage_pb.ts";
import type { Identity } from "../identity/identity.ts";
import { ShardNotHeldError } from "../cluster/errors.ts";
import type { ShardRef } from "../cluster/layout.ts";
import type { SignedMap } from "../cluster/map.ts";
import type { MinerReport, Peer, RebalanceFigures, RegisterAnswer, ShardFetcher, ValidatorLink } from "../cluster/net.ts";
import type { MinerLink } from "../validator/net.ts";
import { baoVerifySlice, fromHex } from "../wasm/index.ts";
import { signRequest, StreamBodyHasher } from "../identity/request-signing.ts";
import { signingInterceptor } from "./sign-client.ts";
import { bytesFieldPrefix, sendFramed } from "./stream-push.ts";
import { fromWireMap, fromWireStripe, num, toWireMap, toWireProgress, toWireRef } from "./cluster-wire.ts";

/** Bytes per pushed Store message. */
const PIECE = 1024 * 1024;
/** Field number of MinerServiceStoreRequest.data (cluster.proto). */
const STORE_DATA_FIELD = MinerServiceStoreRequestSchema.field.data!.number;
/** Connect call options of a signal and a deadline. */
function opts(signal?: AbortSignal, timeoutMs?: number): { signal?: AbortSignal; timeoutMs?: number } {
  return { ...(signal ? { signal } : {}), ...(timeoutMs ? { timeoutMs } : {}) };
}

/** Transports kept (one per peer). */
const MAX_TRANSPORTS = 1024;

type Signer = Pick<Identity, "secretKey" | "nodeId">;

/** Signed transports to peers, one per (endpoint, node id), kept in a small LRU. */
export class PeerTransports {
  readonly #identity: Signer;
  readonly #cache = new Map<string, Transport>();

  constructor(identity: Signer) {
    this.#identity = identity;
  }

  /** A transport whose every call is signed for `peer.nodeId`. */
  get(peer: Peer): Transport {
    const key = `${peer.endpoint}|${peer.nodeId}`;
    let t = this.#cache.get(key);
    if (t) {
      this.#cache.delete(key);
      this.#cache.set(key, t);
      return t;
    }
    t = createConnectTransport({ baseUrl: peer.endpoint, httpVersion: "1.1", useBinaryFormat: true, interceptors: [signingInterceptor(this.#identity, peer.nodeId)] });
    this.#cache.set(key, t);
    if (this.#cache.size > MAX_TRANSPORTS) this.#cache.delete(this.#cache.keys().next().value!);
    return t;
  }
}

/** Shard reads and the validator's calls on miners, over signed Connect. */
export class PeerClients implements ShardFetcher, MinerLink {
  readonly #t: PeerTransports;
  readonly #identity: Signer;

  constructor(identity: Signer) {
    this.#t = new PeerTransports(identity);
    this.#identity = identity;
  }

  #storage(p: Peer): Client<typeof StorageService> {
    return createClient(StorageService, this.#t.get(p));
  }

  #miner(p: Peer): Client<typeof MinerService> {
    return createClient(MinerService, this.#t.get(p));
  }

  async fetch(peer: Peer, hash: string, size: number, signal?: AbortSignal, timeoutMs?: number): Promise<Uint8Array> {
    const out = new Uint8Array(size);
    let at = 0;
    try {
      for await (const m of this.#storage(peer).fetchBlob({ hash }, opts(signal, timeoutMs))) {
        if (m.info && Number(m.info.size) !== size) throw new Error(`the peer holds ${m.info.size} bytes under ${hash.slice(0, 16)}…, expected ${size}`);
        if (at + m.data.byteLength > size) throw new Error(`the peer sent more than ${size} bytes`);
        out.set(m.data, at);
        at += m.data.byteLength;
      }
    } catch (err) {
      if (err instanceof ConnectError && err.code === Code.NotFound) throw new ShardNotHeldError(hash, { cause: err });
      throw err;
    }
    if (at !== size) throw new Error(`the peer sent ${at} of ${size} bytes`);
    return out;
  }

  async probe(peer: Peer, hash: string, size: number, signal?: AbortSignal): Promise<boolean> {
    if (size === 0) return false;
    const len = Math.min(1024, size);
    const offset = size > len ? randomInt(0, size - len + 1) : 0;
    const parts: Uint8Array[] = [];
    let total = 0;
    for await (const m of this.#storage(peer).fetchBlob({ hash, offset: BigInt(offset), length: BigInt(len), withProof: true }, signal ? { signal } : {})) {
      total += m.baoSlice.byteLength;
      if (total > 64 * 1024) return false;
      parts.push(m.baoSlice);
    }
    const slice = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      slice.set(p, at);
      at += p.byteLength;
    }
    try {
      baoVerifySlice(fromHex(hash), slice, offset, len);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Sends the shard as a Store client stream written frame by frame (stream-push.ts): the header message, then the
   * bytes in PIECE-sized data messages straight from `bytes` (no serialization copies). Signed like every peer call,
   * the signature covering the BLAKE3 of the framed messages, which the miner checks as they arrive.
   */
  async push(miner: Peer, hash: string, bytes: Uint8Array, ref: ShardRef, signal?: AbortSignal, timeoutMs?: number): Promise<void> {
    const header = toBinary(MinerServiceStoreRequestSchema, create(MinerServiceStoreRequestSchema, { header: { hash, size: BigInt(bytes.length), ref: toWireRef(ref) } }));
    const messages: Uint8Array[][] = [[header]];
    for (let at = 0; at < bytes.length; at += PIECE) {
      const piece = bytes.subarray(at, at + PIECE);
      messages.push([bytesFieldPrefix(STORE_DATA_FIELD, piece.byteLength), piece]);
    }
    const body = new StreamBodyHasher();
    for (const m of messages) body.updateParts(m);
    const procedure = `/${MinerService.typeName}/${MinerService.method.store.name}`;
    const headers = signRequest({ method: "POST", path: procedure, bodyHash: body.digestHex() }, this.#identity.secretKey, this.#identity.nodeId, miner.nodeId);
    const answer = await sendFramed({ baseUrl: miner.endpoint, procedure, headers, messages, ...opts(signal, timeoutMs) });
    const r = fromBinary(MinerServiceStoreResponseSchema, answer);
    if (r.hash !== hash) throw new Error(`the miner answered Store for ${r.hash.slice(0, 16)}…, not ${hash.slice(0, 16)}…`);
  }

  async delete(miner: Peer, hash: string, reason: string, signal?: AbortSignal, timeoutMs?: number): Promise<boolean> {
    return (await this.#miner(miner).delete({ hash, reason }, opts(signal, timeoutMs))).deleted;
  }

  async check(miner: Peer, hashes: string[], signal?: AbortSignal): Promise<boolean[]> {
    const r = await this.#miner(miner).checkShards({ hashes }, signal ? { signal } : {});
    if (r.present.length !== hashes.length) throw new Error(`CheckShards answered ${r.present.length} of ${hashes.length}`);
    return r.present;
  }

  async sendMap(miner: Peer, map: SignedMap, signal?: AbortSignal, timeoutMs?: number): Promise<void> {
    await this.#miner(miner).clusterMapUpdate({ map: toWireMap(map) }, opts(signal, timeoutMs));
  }
}

/** A miner's signed link to its validator. */
export function validatorLink(identity: Signer, validator: Peer): ValidatorLink {
  const client = createClient(ValidatorService, new PeerTransports(identity).get(validator));
  return {
    async register(r: MinerReport): Promise<RegisterAnswer> {
      const a = await client.register({
        nodeId: identity.nodeId,
        endpoint: r.endpoint,
        family: r.family,
        totalBytes: BigInt(r.totalBytes),
        availableBytes: BigInt(r.availableBytes),
        timestampUnixMs: BigInt(Date.now()),
      }, { timeoutMs: 15_000 });
      if (a.status === RegisterStatus.OK) return { status: "ok", epoch: num(a.epoch, "epoch"), wardens: a.wardenIds };
      if (a.status === RegisterStatus.RATE_LIMITED) return { status: "rate-limited", retryAfterMs: num(a.retryAfterMs, "retry_after_ms") };
      if (a.status === RegisterStatus.FAMILY_REJECTED) return { status: "family-rejected", reason: a.reason };
      throw new Error(`the validator answered an unknown registration status ${a.status}`);
    },
    async heartbeat(hb: { availableBytes: number; epoch: number; shardsStored: number; rebalance: RebalanceFigures }) {
      const a = await client.heartbeat(
        { availableBytes: BigInt(hb.availableBytes), epoch: BigInt(hb.epoch), shardsStored: BigInt(hb.shardsStored), rebalance: toWireProgress(hb.rebalance) },
        { timeoutMs: 15_000 },
      );
      return { known: a.status === HeartbeatStatus.OK, epoch: num(a.epoch, "epoch"), wardens: a.wardenIds };
    },
    async map(epoch: number, signal?: AbortSignal) {
      const a = await client.getClusterMap({ epoch: BigInt(epoch) }, { timeoutMs: 15_000, ...(signal ? { signal } : {}) });
      return fromWireMap(a.map);
    },
    async *watch(afterEpoch: number, signal: AbortSignal) {
      for await (const m of client.watchClusterMap({ afterEpoch: BigInt(afterEpoch) }, { signal })) yield fromWireMap(m.map);
    },
    async pgStripes(pgs: number[], after: string, limit: number, signal?: AbortSignal) {
      const a = await client.queryPgFilesBatch({ pgs, after, limit }, { timeoutMs: 60_000, ...(signal ? { signal } : {}) });
      return { stripes: a.stripes.map(fromWireStripe), next: a.next };
    },
  };
}
