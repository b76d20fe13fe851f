// ProofService: storage challenges over Connect (miner side), the warden's signed client, and the error mapping of
// the proofs layer. Thin: the protocol lives in proofs/storage.ts and proofs/miner.ts.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { PosChallengeResponseSchema, ProofService, type PosChallengeRequest, type PosChallengeResponse } from "../gen/slowdrip/v1/proofs_pb.ts";
import type { Identity } from "../identity/identity.ts";
import type { PosResponder } from "../proofs/miner.ts";
import { POS_LIMITS, PosError, type PosAnswer, type PosChallenge } from "../proofs/storage.ts";
import { ChallengeBusyError } from "../proofs/warden.ts";
import { callerKey } from "./auth.ts";
import type { ErrorMapper } from "./errors.ts";
import type { RpcService } from "./router.ts";
import { signingInterceptor } from "./sign-client.ts";

/** PosError and the other proofs-layer refusals as Connect codes. */
export const posRpcError: ErrorMapper = (err) => {
  if (!(err instanceof PosError)) return undefined;
  const code = {
    "bad-challenge": Code.InvalidArgument,
    "not-stored": Code.NotFound,
    corrupt: Code.DataLoss,
    busy: Code.ResourceExhausted,
    refused: Code.PermissionDenied,
  }[err.reason];
  return new ConnectError(err.message, code, undefined, undefined, err);
};

function safeNumber(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ConnectError(`${what} ${v} is too large`, Code.InvalidArgument);
  return Number(v);
}

/** Wire request -> challenge. */
export function challengeFromWire(r: PosChallengeRequest): PosChallenge {
  return { shard: r.shard, nonce: r.nonce, count: r.count, root: r.expectedRoot };
}

/** Answer -> wire response. */
export function answerToWire(a: PosAnswer): PosChallengeResponse {
  return create(PosChallengeResponseSchema, {
    shard: a.shard,
    nonce: a.nonce,
    size: BigInt(a.size),
    chunks: a.chunks.map(BigInt),
    slices: a.slices,
    miner: a.miner,
    challenger: a.challenger,
    signature: a.signature,
  });
}

/** Wire response -> answer (for the verifier; sizes beyond 2^53 are refused). */
export function answerFromWire(r: PosChallengeResponse): PosAnswer {
  return {
    shard: r.shard,
    nonce: r.nonce,
    size: safeNumber(r.size, "size"),
    chunks: r.chunks.map((c) => safeNumber(c, "chunk")),
    slices: r.slices,
    miner: r.miner,
    challenger: r.challenger,
    signature: r.signature,
  };
}

/** The ProofService implementation: PosChallenge for signed callers the responder's predicate allows. */
export function proofService(deps: { responder: PosResponder }): RpcService {
  const impl: ServiceImpl<typeof ProofService> = {
    async posChallenge(req: PosChallengeRequest, ctx: HandlerContext) {
      const caller = ctx.values.get(callerKey);
      try {
        return answerToWire(await deps.responder.answer(caller.nodeId, challengeFromWire(req), ctx.signal));
      } catch (err) {
        // The challenger gave up (its deadline passed, it went away): not an error of this node.
        if (ctx.signal.aborted && !(err instanceof PosError)) throw new ConnectError("the challenger cancelled the challenge", Code.Canceled);
        throw err;
      }
    },
  };
  return { service: ProofService, impl, access: { PosChallenge: "peer" } };
}

/** Largest PosChallenge response the warden reads (256 KiB): the slices' bound plus room for the other fields. */
export const MAX_ANSWER_MESSAGE = 256 * 1024;
if (MAX_ANSWER_MESSAGE < POS_LIMITS.maxAnswerBytes + 4096) throw new Error("MAX_ANSWER_MESSAGE must exceed POS_LIMITS.maxAnswerBytes");

/** Errors of a connection that broke under a request. */
const BROKEN = /\b(EPIPE|ECONNRESET|socket hang up)\b/;

/**
 * The warden's transport: a challenge function for Warden that signs PosChallenge with the warden's key for the
 * miner at `endpoint(node)` (its URL), or throws when the miner has no known endpoint; a resource_exhausted answer
 * (the miner's tuning.pos_concurrency proofs in flight) becomes ChallengeBusyError, which the warden asks again; a
 * connection that broke under the request (EPIPE, ECONNRESET) is tried once more; a response larger than
 * MAX_ANSWER_MESSAGE is not read (resource_exhausted from the client, a failure of the miner).
 */
export function posChallenger(identity: Pick<Identity, "secretKey" | "nodeId">, endpoint: (node: string) => string | undefined) {
  const clients = new Map<string, ReturnType<typeof createClient<typeof ProofService>>>();
  return async (node: string, ch: PosChallenge, signal: AbortSignal): Promise<PosAnswer> => {
    const url = endpoint(node);
    if (!url) throw new Error(`no endpoint known for miner ${node}`);
    const key = `${node}@${url}`;
    let client = clients.get(key);
    if (!client) {
      if (clients.size >= 1024) clients.delete(clients.keys().next().value!);
      client = createClient(ProofService, createConnectTransport({ baseUrl: url, httpVersion: "1.1", readMaxBytes: MAX_ANSWER_MESSAGE, interceptors: [signingInterceptor(identity, node)] }));
      clients.set(key, client);
    }
    const req = { shard: ch.shard, nonce: ch.nonce, count: ch.count, expectedRoot: ch.root };
    let res: PosChallengeResponse;
    try {
      try {
        res = await client.posChallenge(req, { signal });
      } catch (err) {
        // A pooled connection that broke under the request (the previous one was aborted, the peer reset it) is not
        // the miner's failure: one fresh try.
        if (!(err instanceof ConnectError) || signal.aborted || !BROKEN.test(err.rawMessage)) throw err;
        res = await client.posChallenge(req, { signal });
      }
    } catch (err) {
      // resource_exhausted from the miner means busy; from this client it means the answer was too large to read.
      if (err instanceof ConnectError && err.code === Code.ResourceExhausted && !/readMaxBytes/.test(err.rawMessage)) throw new ChallengeBusyError(err.rawMessage, { cause: err });
      throw err;
    }
    return answerFromWire(res);
  };
}
