// Raw RPC calls for tests that send bytes no generated client would: Connect (unary, streaming), gRPC (HTTP/2), gRPC-Web.
import { connect as connectH2, constants as H2, type ClientHttp2Session } from "node:http2";
import { request as httpRequest, Agent } from "node:http";
import { Code } from "@connectrpc/connect";

/** The wire protocols a procedure answers on. */
export type Protocol = "connect" | "grpc" | "grpc-web";

/** What one raw call produced. */
export interface RawAnswer {
  /** HTTP status of the response. */
  http: number;
  /** The RPC outcome: 0 for OK, else the Connect/gRPC code; undefined when the answer named none. */
  code: number | undefined;
  message: string;
}

/** A 5-byte-framed message (flags, big-endian length, payload). */
export function envelope(payload: Uint8Array, flags = 0): Uint8Array {
  const out = new Uint8Array(5 + payload.byteLength);
  new DataView(out.buffer).setUint32(1, payload.byteLength);
  out[0] = flags;
  out.set(payload, 5);
  return out;
}

/** The complete frames (flags, payload) of an enveloped body. */
export function splitEnvelopes(body: Uint8Array): { flags: number; data: Uint8Array }[] {
  const out: { flags: number; data: Uint8Array }[] = [];
  let at = 0;
  while (at + 5 <= body.byteLength) {
    const len = new DataView(body.buffer, body.byteOffset + at + 1, 4).getUint32(0);
    if (at + 5 + len > body.byteLength) break;
    out.push({ flags: body[at]!, data: body.subarray(at + 5, at + 5 + len) });
    at += 5 + len;
  }
  return out;
}

/** Connect error codes by their JSON name ("invalid_argument"). */
const CONNECT_CODES = new Map<string, number>(
  Object.entries(Code)
    .filter(([, v]) => typeof v === "number")
    .map(([k, v]) => [k.replace(/[A-Z]/g, (c, i) => (i ? "_" : "") + c.toLowerCase()), v as number]),
);

/** The Code of a Connect error's JSON name ("invalid_argument"), or undefined. */
export const connectCode = (name: unknown) => (typeof name === "string" ? CONNECT_CODES.get(name) : undefined);

/** Parses "grpc-status: 3\r\ngrpc-message: ...\r\n" (the gRPC-Web trailer frame). */
function trailerFields(data: Uint8Array): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of Buffer.from(data).toString("latin1").split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0) fields[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return fields;
}

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

/** One HTTP/1.1 request; resolves with status, headers and the whole body (bounded to 8 MiB). */
export function http1(url: string, init: { method?: string; headers?: Record<string, string>; body?: Uint8Array; signal?: AbortSignal }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? "POST", headers: init.headers ?? {}, agent, ...(init.signal ? { signal: init.signal } : {}) }, (res) => {
      const parts: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > 8 << 20) res.destroy(new Error("answer over 8 MiB"));
        else parts.push(c);
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(init.body ?? undefined);
  });
}

/** A Connect unary call with a raw body (`application/proto` unless a content type is given). */
export async function connectUnary(base: string, path: string, body: Uint8Array, headers: Record<string, string> = {}): Promise<RawAnswer> {
  const r = await http1(base + path, { headers: { "content-type": "application/proto", "connect-protocol-version": "1", ...headers }, body });
  if (r.status === 200) return { http: 200, code: 0, message: "" };
  let j: { code?: string; message?: string } = {};
  try {
    j = JSON.parse(r.body.toString("utf8"));
  } catch {
    /* not a Connect error body */
  }
  return { http: r.status, code: connectCode(j.code), message: j.message ?? r.body.toString("utf8").slice(0, 200) };
}

/** A Connect streaming call with a raw (already framed) body; the outcome is in the end-stream frame. */
export async function connectStream(base: string, path: string, body: Uint8Array, headers: Record<string, string> = {}): Promise<RawAnswer> {
  const r = await http1(base + path, { headers: { "content-type": "application/connect+proto", "connect-protocol-version": "1", ...headers }, body });
  if (r.status !== 200) return { http: r.status, code: undefined, message: r.body.toString("utf8").slice(0, 200) };
  const end = splitEnvelopes(r.body).find((e) => (e.flags & 0x02) !== 0);
  if (!end) return { http: 200, code: undefined, message: "no end-stream frame" };
  const j = JSON.parse(Buffer.from(end.data).toString("utf8")) as { error?: { code?: string; message?: string } };
  return { http: 200, code: j.error ? connectCode(j.error.code) : 0, message: j.error?.message ?? "" };
}

/** A gRPC-Web call over HTTP/1.1 with a raw (already framed) body; the outcome is in the headers or the trailer frame. */
export async function grpcWeb(base: string, path: string, body: Uint8Array, headers: Record<string, string> = {}): Promise<RawAnswer> {
  const r = await http1(base + path, { headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", ...headers }, body });
  const fromHeaders = r.headers["grpc-status"];
  if (typeof fromHeaders === "string") return { http: r.status, code: Number(fromHeaders), message: decodeURIComponent(String(r.headers["grpc-message"] ?? "")) };
  const t = splitEnvelopes(r.body).find((e) => (e.flags & 0x80) !== 0);
  if (!t) return { http: r.status, code: undefined, message: r.body.toString("utf8").slice(0, 200) };
  const f = trailerFields(t.data);
  return { http: r.status, code: f["grpc-status"] === undefined ? undefined : Number(f["grpc-status"]), message: decodeURIComponent(f["grpc-message"] ?? "") };
}

/** An HTTP/2 session (prior knowledge) reused by grpc() calls until closed. */
export function h2Session(base: string): ClientHttp2Session {
  const s = connectH2(base);
  s.on("error", () => {});
  return s;
}

/** A gRPC call over HTTP/2 with a raw (already framed) body; the outcome is in trailers (or headers for trailers-only). */
export function grpc(session: ClientHttp2Session, path: string, body: Uint8Array, headers: Record<string, string> = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const st = session.request({ [H2.HTTP2_HEADER_METHOD]: "POST", [H2.HTTP2_HEADER_PATH]: path, "content-type": "application/grpc+proto", te: "trailers", ...headers });
    let http = 0;
    let fields: Record<string, unknown> = {};
    st.on("response", (h) => {
      http = Number(h[H2.HTTP2_HEADER_STATUS]);
      fields = { ...h };
    });
    st.on("trailers", (t) => (fields = { ...fields, ...t }));
    st.on("data", () => {});
    st.on("error", reject);
    st.on("close", () => {
      const s = fields["grpc-status"];
      resolve({ http, code: s === undefined ? undefined : Number(s), message: decodeURIComponent(String(fields["grpc-message"] ?? "")) });
    });
    st.end(Buffer.from(body));
  });
}
