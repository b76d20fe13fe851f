// The client side of ValidatorService.PutFile written frame by frame (stream-push.ts): the header message, then each
// piece of the file as a data message whose bytes are written as they are (no protobuf or envelope copies).
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { PutFileRequestSchema, PutFileResponseSchema, ValidatorService, type PutFileResponse } from "../gen/slowdrip/v1/cluster_pb.ts";
import { bytesFieldPrefix, sendFramed } from "./stream-push.ts";

/** Field number of PutFileRequest.data (cluster.proto). */
const DATA_FIELD = PutFileRequestSchema.field.data!.number;
const PROCEDURE = `/${ValidatorService.typeName}/${ValidatorService.method.putFile.name}`;

/** A PutFile call: the validator's URL, headers (the admin token), the declared file and its bytes in pieces. */
export interface PutFileCall {
  baseUrl: string;
  headers: Record<string, string>;
  hash: string;
  size: number;
  name: string;
  /** The file's bytes, in pieces of any size (each becomes one data message; keep them at most a few MiB). */
  data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  signal?: AbortSignal;
}

/**
 * Uploads a file through PutFile and resolves to the validator's answer; a refusal rejects as the ConnectError the
 * validator named. The validator checks the bytes against `hash` and `size` before it commits anything.
 */
export async function putFileFramed(call: PutFileCall): Promise<PutFileResponse> {
  const header = toBinary(PutFileRequestSchema, create(PutFileRequestSchema, { header: { hash: call.hash, size: BigInt(call.size), name: call.name } }));
  async function* messages(): AsyncGenerator<Uint8Array[]> {
    yield [header];
    for await (const piece of call.data) if (piece.byteLength > 0) yield [bytesFieldPrefix(DATA_FIELD, piece.byteLength), piece];
  }
  const answer = await sendFramed({ baseUrl: call.baseUrl, procedure: PROCEDURE, headers: call.headers, messages: messages(), ...(call.signal ? { signal: call.signal } : {}) });
  return fromBinary(PutFileResponseSchema, answer);
}
