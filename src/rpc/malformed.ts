// Request-body boundary: a request whose messages do not decode or are framed wrong is the caller's fault (invalid_argument).
//
// connect-es reports an undecodable binary message as Internal ("parse binary: premature EOF"), and for unary calls it
// parses before any interceptor runs. So the check sits one step earlier, on the request body itself: every binary
// message is decoded once here as it arrives, and a message that does not decode ends the body with an
// invalid_argument ConnectError, which connect-es then answers in the caller's protocol (HTTP 400 for Connect unary,
// grpc-status 3 for gRPC and gRPC-Web, an end-of-stream error for Connect streams). Nothing reaches a handler and
// nothing is logged as a server error. Framing faults are caught the same way: a one-message call (unary, server
// streaming) with no message or several (connect-es: unimplemented), a frame flagged compressed when no compression was
// negotiated (connect-es: internal). JSON messages are framed and counted here but decoded by connect-es, which already
// refuses bad JSON as invalid_argument.
import { fromBinary, type DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerRequest } from "@connectrpc/connect/protocol";
import { SIG_HEADERS, StreamBodyHasher } from "../identity/request-signing.ts";
import { rawStreamHashKey, type RawStreamHash } from "./context.ts";

/** How a request carries its messages. */
interface Framing {
  /** "whole": the body is one message (Connect unary); "enveloped": 5-byte framed messages (streams, gRPC, gRPC-Web). */
  kind: "whole" | "enveloped";
  /** Header naming the body's compression. */
  encodingHeader: string;
  /** Envelope flag of frames the protocol does not parse as messages (Connect end-stream, gRPC-Web trailers); 0: none. */
  skipFlag: number;
  /** Binary messages are decoded here; JSON ones only framed and counted (connect-es refuses bad JSON itself). */
  binary: boolean;
}

const COMPRESSED = 0x01;

/**
 * The framing of a request by its Content-Type (the names connect-es accepts), or undefined for the rest. Connect unary
 * JSON needs none of this (its body is refused by connect-es as invalid_argument); every other type is checked.
 */
export function requestFraming(contentType: string | null): Framing | undefined {
  const m = /^application\/(proto|connect\+(proto|json)|grpc(-web)?(?:\+(proto|json))?)(?:;\s*charset=utf-?8)?$/.exec((contentType ?? "").trim().toLowerCase());
  if (!m) return undefined;
  if (m[1] === "proto") return { kind: "whole", encodingHeader: "content-encoding", skipFlag: 0, binary: true };
  if (m[2]) return { kind: "enveloped", encodingHeader: "connect-content-encoding", skipFlag: 0x02, binary: m[2] === "proto" };
  return { kind: "enveloped", encodingHeader: "grpc-encoding", skipFlag: m[3] ? 0x80 : 0, binary: m[4] !== "json" };
}

const malformed = (what: string) => new ConnectError(`malformed request: ${what}`, Code.InvalidArgument);

/** Decodes one message of the method's input type, throwing invalid_argument when it does not decode. */
function checkMessage(method: DescMethod, bytes: Uint8Array): void {
  try {
    fromBinary(method.input, bytes);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw malformed(`the body is not a binary ${method.input.typeName} (${why})`);
  }
}

async function* rest(it: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
}

/** A whole-body message (Connect unary): buffered up to `max` bytes, decoded, then handed on. Larger bodies pass untouched (connect-es refuses them). */
async function* checkedWhole(body: AsyncIterable<Uint8Array>, method: DescMethod, max: number): AsyncGenerator<Uint8Array> {
  const it = body[Symbol.asyncIterator]();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (let r = await it.next(); !r.done; r = await it.next()) {
    size += r.value.byteLength;
    chunks.push(r.value);
    if (size > max) {
      yield* chunks;
      yield* rest(it);
      return;
    }
  }
  const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
  checkMessage(method, all);
  if (size > 0) yield all;
}

/**
 * Enveloped messages: the body's chunks pass through unchanged, each one after every frame that ends in it has been
 * checked, so connect-es never sees a frame that does not decode. A frame that lies inside one chunk is decoded in
 * place; one that spans chunks is gathered in a scratch buffer reused for the whole request (no copy handed on, no
 * garbage per frame). A frame flagged compressed is refused (this node negotiates no compression), and so is a body
 * that ends inside a frame; a frame larger than `max` and whatever follows pass unchecked (connect-es refuses them).
 * Unary and server-streaming methods must carry exactly one message.
 */
async function* checkedEnvelopes(body: AsyncIterable<Uint8Array>, method: DescMethod, framing: Framing, max: number, raw?: RawStreamHash): AsyncGenerator<Uint8Array> {
  const single = method.methodKind === "unary" || method.methodKind === "server_streaming";
  const it = body[Symbol.asyncIterator]();
  const head = new Uint8Array(5);
  const view = new DataView(head.buffer);
  let headLen = 0;
  /** Payload bytes of the current frame: its length, how many have arrived, whether it is checked. */
  let len = -1;
  let got = 0;
  let check = false;
  let scratch = new Uint8Array(0);
  let messages = 0;
  const frameDone = (payload: Uint8Array) => {
    if (check) checkMessage(method, payload);
    headLen = 0;
    len = -1;
    got = 0;
  };
  for (let r = await it.next(); !r.done; r = await it.next()) {
    const chunk = r.value;
    let at = 0;
    while (at < chunk.byteLength) {
      if (len < 0) {
        const n = Math.min(5 - headLen, chunk.byteLength - at);
        head.set(chunk.subarray(at, at + n), headLen);
        headLen += n;
        at += n;
        if (headLen < 5) break;
        len = view.getUint32(1);
        const flags = head[0]!;
        raw?.hasher.begin(len);
        if (len > max) {
          yield chunk;
          yield* rest(it);
          return;
        }
        if ((flags & COMPRESSED) !== 0) throw malformed(`a message is flagged compressed, but the request names no compression (${framing.encodingHeader})`);
        const parsed = framing.skipFlag === 0 || (flags & framing.skipFlag) === 0;
        if (parsed && single && ++messages > 1) throw malformed(`${method.name} takes one request message, the request carries more`);
        check = parsed && framing.binary;
        if (len === 0) frameDone(chunk.subarray(at, at));
        continue;
      }
      const n = Math.min(len - got, chunk.byteLength - at);
      raw?.hasher.more(chunk.subarray(at, at + n));
      if (got === 0 && n === len) {
        frameDone(chunk.subarray(at, at + n));
      } else {
        if (check) {
          if (scratch.byteLength < len) scratch = new Uint8Array(len);
          scratch.set(chunk.subarray(at, at + n), got);
        }
        got += n;
        if (got === len) frameDone(scratch.subarray(0, len));
      }
      at += n;
    }
    yield chunk;
  }
  // (connect-es misses a frame cut off right after its header and would report a missing message instead.)
  if (headLen > 0) throw malformed(`the body ends inside a frame (${len >= 0 ? `${got} of ${len} payload bytes` : `${headLen} of 5 header bytes`})`);
  if (single && messages === 0) throw malformed(`${method.name} takes one request message, the request carries none`);
  if (raw) raw.complete = true;
}

/** Wraps one procedure's handler so that its binary request messages are decoded at the boundary (see the file header). */
export function guardRequestBody(handler: UniversalHandler, maxMessageSize: number): UniversalHandler {
  if (!Number.isSafeInteger(maxMessageSize) || maxMessageSize < 1) throw new RangeError(`maxMessageSize must be a positive integer, got ${maxMessageSize}`);
  const guarded = (req: UniversalServerRequest) => {
    const framing = req.method === "POST" ? requestFraming(req.header.get("content-type")) : undefined;
    const encoding = framing ? (req.header.get(framing.encodingHeader) ?? "identity").trim().toLowerCase() : "";
    const body = req.body;
    // A compressed body is refused by connect-es before it is read (no compression is negotiated), so it is left alone.
    if (!framing || encoding !== "identity" || body === null || typeof body !== "object" || !(Symbol.asyncIterator in body)) return handler(req);
    const bytes = body as AsyncIterable<Uint8Array>;
    // A signed client stream's frames are hashed here as they pass, for its signature check (auth.ts).
    const kind = handler.method.methodKind;
    let raw: RawStreamHash | undefined;
    if (framing.kind === "enveloped" && framing.binary && (kind === "client_streaming" || kind === "bidi_streaming") && req.header.get(SIG_HEADERS.signature) !== null && req.contextValues) {
      raw = { hasher: new StreamBodyHasher(), complete: false };
      req.contextValues.set(rawStreamHashKey, raw);
    }
    const checked = framing.kind === "whole" ? checkedWhole(bytes, handler.method, maxMessageSize) : checkedEnvelopes(bytes, handler.method, framing, maxMessageSize, raw);
    return handler({ ...req, body: checked });
  };
  return Object.assign(guarded, {
    protocolNames: handler.protocolNames,
    service: handler.service,
    method: handler.method,
    requestPath: handler.requestPath,
    allowedMethods: handler.allowedMethods,
    supportedContentType: handler.supportedContentType,
  });
}

/** Replaces every handler of a router (its `handlers` array) with its guarded form. */
export function guardRequestBodies(handlers: UniversalHandler[], maxMessageSize: number): void {
  for (let i = 0; i < handlers.length; i++) handlers[i] = guardRequestBody(handlers[i]!, maxMessageSize);
}
