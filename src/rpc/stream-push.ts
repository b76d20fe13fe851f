// A Connect client stream of byte-carrying messages sent without copies: frames are written by hand over node:http(s),
// each message as its parts (a small encoded prefix, then the caller's bytes as they are), for shard pushes.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeFromHttpStatus, endStreamFlag, endStreamFromJson, errorFromJsonBytes } from "@connectrpc/connect/protocol-connect";

/** Largest response body read (a client stream answers one small message and the end-of-stream frame). */
const MAX_RESPONSE_BYTES = 256 * 1024;

/** Kept-alive connections, shared by every push (their number is bounded by the callers' concurrency). */
const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };

/** The encoded tag and length of a `bytes` field (`field`, wire type 2) of `length` bytes: what precedes the bytes. */
export function bytesFieldPrefix(field: number, length: number): Uint8Array {
  const out = [(field << 3) | 2];
  let n = length;
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Uint8Array.from(out);
}

/**
 * One call: where it goes, its headers (signing included), and its messages, each as the parts that make it up. An
 * array of messages is sent with a Content-Length; an iterable (a file read as it is sent) is sent chunked.
 */
export interface FramedCall {
  /** Base URL of the peer (its endpoint; a path is kept) and the procedure, "/package.Service/Method". */
  baseUrl: string;
  procedure: string;
  headers: Record<string, string>;
  messages: Uint8Array[][] | AsyncIterable<Uint8Array[]>;
  signal?: AbortSignal;
  timeoutMs?: number;
}

function fail(message: string, code: Code, cause?: unknown): ConnectError {
  return new ConnectError(message, code, undefined, undefined, cause);
}

/**
 * Sends the messages as a Connect client stream (binary, uncompressed) and resolves to the single response message's
 * bytes; the server's error (end-of-stream frame, or an HTTP error status) rejects as the ConnectError it names.
 */
export async function sendFramed(call: FramedCall): Promise<Uint8Array> {
  const url = new URL(call.baseUrl.replace(/\/?$/, call.procedure));
  const https = url.protocol === "https:";
  let length: number | undefined;
  if (Array.isArray(call.messages)) {
    length = 0;
    for (const m of call.messages) length += 5 + m.reduce((s, p) => s + p.byteLength, 0);
  }
  const signals = [call.signal, call.timeoutMs ? AbortSignal.timeout(call.timeoutMs) : undefined].filter((s): s is AbortSignal => s !== undefined);
  const signal = signals.length ? AbortSignal.any(signals) : undefined;
  const headers: Record<string, string | number> = {
    ...call.headers,
    "content-type": "application/connect+proto",
    "connect-protocol-version": "1",
    ...(length !== undefined ? { "content-length": length } : {}),
    ...(call.timeoutMs ? { "connect-timeout-ms": String(call.timeoutMs) } : {}),
  };
  const req = (https ? httpsRequest : httpRequest)(url, { method: "POST", headers, agent: https ? agents.https : agents.http, ...(signal ? { signal } : {}) });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.once("response", resolve);
    req.once("error", reject);
  });
  response.catch(() => undefined);
  // A server that answers before the body is all sent (a refused call) ends the writing: nothing more is read or sent.
  let answered = false;
  response.then(() => (answered = true), () => undefined);
  try {
    for await (const parts of call.messages) {
      if (answered) break;
      const head = new Uint8Array(5);
      new DataView(head.buffer).setUint32(1, parts.reduce((s, p) => s + p.byteLength, 0));
      let ok = req.write(head);
      for (const p of parts) ok = req.write(p);
      if (!ok) await new Promise<void>((resolve, reject) => {
        req.once("drain", resolve);
        response.then(() => resolve(), reject);
      });
    }
    if (!answered) req.end();
    const res = await response;
    const body = await readBody(res);
    // A request cut short by the answer leaves its connection unusable for the next call.
    if (answered && !req.writableEnded) req.destroy();
    if (res.statusCode !== 200) {
      const code = codeFromHttpStatus(res.statusCode ?? 0);
      try {
        throw errorFromJsonBytes(body, undefined, fail(`HTTP ${res.statusCode}`, code));
      } catch (err) {
        throw err instanceof ConnectError ? err : fail(`HTTP ${res.statusCode}`, code, err);
      }
    }
    return parseStreamResponse(body);
  } catch (err) {
    req.destroy();
    if (err instanceof ConnectError) throw err;
    if (signal?.aborted) {
      const timedOut = !call.signal?.aborted;
      throw fail(timedOut ? `the call took over ${call.timeoutMs} ms` : "the call was cancelled", timedOut ? Code.DeadlineExceeded : Code.Canceled, err);
    }
    throw fail(err instanceof Error ? err.message : String(err), Code.Unavailable, err);
  }
}

async function readBody(res: IncomingMessage): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res as AsyncIterable<Buffer>) {
    n += c.byteLength;
    if (n > MAX_RESPONSE_BYTES) throw fail(`the response is over ${MAX_RESPONSE_BYTES} bytes`, Code.ResourceExhausted);
    chunks.push(c);
  }
  return Buffer.concat(chunks, n);
}

/** The one message of a Connect stream response, or the error of its end-of-stream frame. */
function parseStreamResponse(body: Uint8Array): Uint8Array {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let message: Uint8Array | undefined;
  for (let at = 0; at < body.byteLength; ) {
    if (at + 5 > body.byteLength) throw fail("the response ends inside a frame header", Code.Internal);
    const flags = body[at]!;
    const len = view.getUint32(at + 1);
    if (at + 5 + len > body.byteLength) throw fail("the response ends inside a frame", Code.Internal);
    const payload = body.subarray(at + 5, at + 5 + len);
    at += 5 + len;
    if ((flags & endStreamFlag) === endStreamFlag) {
      const end = endStreamFromJson(payload);
      if (end.error) throw end.error;
      if (message === undefined) throw fail("the stream ended without a response message", Code.Internal);
      return message;
    }
    if (flags !== 0) throw fail(`the response has a frame flagged ${flags}`, Code.Internal);
    if (message !== undefined) throw fail("the response carries more than one message", Code.Internal);
    message = payload;
  }
  throw fail("the response has no end-of-stream frame", Code.Internal);
}
