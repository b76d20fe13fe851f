// Fuzz case generators: HTTP routes (paths, Range, conditionals, X-Cashu, bodies), RPC procedures on every protocol,
// and raw-socket garbage (broken HTTP/1.1, HTTP/2 frames, early closes). Case i of seed s is a pure function of (s, i).
import { create, toBinary, toJsonString, ScalarType, type DescField, type DescMessage, type DescMethod } from "@bufbuild/protobuf";
import { Amount, getEncodedToken } from "@cashu/cashu-ts";
import { NodeService } from "../../src/gen/slowdrip/v1/node_pb.ts";
import { StorageService } from "../../src/gen/slowdrip/v1/storage_pb.ts";
import { StreamService } from "../../src/gen/slowdrip/v1/stream_pb.ts";
import { PaymentService, WalletService } from "../../src/gen/slowdrip/v1/wallet_pb.ts";
import { SIG_HEADERS } from "../../src/identity/request-signing.ts";
import { envelope } from "./wire.ts";
import { Rng } from "./rng.ts";

/** What the generators draw from: the target's real blobs, its mint and a token it has already redeemed. */
export interface FuzzPools {
  hashes: readonly string[];
  spentToken: string;
  mint: string;
}

/** A plain HTTP request. */
export interface HttpCase {
  kind: "http";
  h2: boolean;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Uint8Array;
}

/** The wire protocols an RPC case uses. */
export type RpcProtocol = "connect" | "connect-json" | "connect-get" | "connect-stream" | "grpc" | "grpc-web";

/** One RPC call with a possibly malformed body and headers. */
export interface RpcCase {
  kind: "rpc";
  protocol: RpcProtocol;
  procedure: string;
  headers: Record<string, string>;
  body: Uint8Array;
  /** The case set a deadline header: deadline_exceeded is then the caller's choice. */
  deadline: boolean;
  /** A compression was named: unimplemented is then the protocol's answer. */
  compression: boolean;
}

/** Bytes written on a fresh TCP connection; "now" closes it right after writing, "wait" reads the answer. */
export interface RawCase {
  kind: "raw";
  what: string;
  chunks: Uint8Array[];
  close: "now" | "wait";
}

export type FuzzCase = HttpCase | RpcCase | RawCase;

const METHODS: DescMethod[] = [NodeService, StorageService, StreamService, WalletService, PaymentService].flatMap((s) => s.methods);
const HEX = "0123456789abcdef";
const PRINTABLE = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";
const PATHCHARS = "abcXYZ019-._~!$&'()*+,;=:@/%?#";
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const enc = new TextEncoder();

/** Byte-level mutations: bit flips, overwrites, inserts, deletes, truncation, duplication. */
export function mutate(rng: Rng, input: Uint8Array, rounds = rng.range(1, 4)): Uint8Array {
  let b: Uint8Array = Uint8Array.from(input);
  for (let i = 0; i < rounds; i++) {
    const at = rng.int(b.length + 1);
    switch (rng.int(6)) {
      case 0:
        if (b.length) b[at % b.length]! ^= 1 << rng.int(8);
        break;
      case 1:
        if (b.length) b[at % b.length] = rng.int(256);
        break;
      case 2:
        b = concat(b.subarray(0, at), rng.bytes(rng.size(64)), b.subarray(at));
        break;
      case 3:
        b = concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + rng.size(32) + 1)));
        break;
      case 4:
        b = b.subarray(0, at);
        break;
      default:
        b = concat(b, b.subarray(at, at + rng.size(256)));
    }
  }
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const mutateText = (rng: Rng, s: string) => Buffer.from(mutate(rng, enc.encode(s))).toString("latin1");
/** Keeps a header value sendable by node's HTTP clients (visible ASCII, space, tab); the raw cases send the rest. */
const headerSafe = (s: string) => s.replace(/[^\t\x20-\x7e]/g, "");

function hash(rng: Rng, p: FuzzPools): string {
  const real = rng.pick(p.hashes);
  return rng.weighted<() => string>([
    [6, () => real],
    [3, () => rng.string(HEX, 64)],
    [1, () => real.toUpperCase()],
    [1, () => real.slice(0, rng.int(64))],
    [1, () => real + rng.string(HEX, rng.range(1, 3))],
    [1, () => `${real.slice(0, 63)}g`],
    [1, () => encodeURIComponent(rng.string(PRINTABLE, rng.size(80)))],
    [1, () => ""],
    [1, () => rng.pick(["..", ".", "%2e%2e", "%00", "%zz", "%", "~", "\u00e9".normalize()])],
  ])();
}

function token(rng: Rng, p: FuzzPools): string {
  return rng.weighted<() => string>([
    [4, () => p.spentToken],
    [6, () => mutateText(rng, p.spentToken)],
    [2, () => p.spentToken.slice(0, rng.int(p.spentToken.length))],
    [2, () => rng.pick(["cashuA", "cashuB", "creqA", ""]) + rng.string(B64URL, rng.size(400))],
    [1, () => "cashuB" + rng.string(B64URL, 8300)],
    [2, () => fabricatedToken(rng, rng.chance(0.5) ? p.mint : rng.pick(["http://127.0.0.1:1", "https://mint.invalid", p.mint + "/", "ftp://x"]))],
    [1, () => rng.string(PRINTABLE, rng.size(200))],
  ])();
}

/** A well-formed token whose proofs no mint signed (for the trusted mint, the node must ask the mint and refuse). */
function fabricatedToken(rng: Rng, mint: string): string {
  const proofs = Array.from({ length: rng.range(1, 3) }, () => ({
    id: "00" + rng.string(HEX, 14),
    amount: Amount.from(rng.pick([1, 2, 4, 8, 64, 1024, 2 ** 20])),
    secret: rng.string(HEX, 64),
    C: "02" + rng.string(HEX, 64),
  }));
  return getEncodedToken({ mint, proofs, unit: rng.chance(0.9) ? "sat" : rng.pick(["usd", "msat", "x"]) });
}

function range(rng: Rng): string {
  const n = () => String(rng.weighted([[5, rng.size(400_000)], [1, 2 ** 53 + rng.int(9)], [1, -rng.int(10)]]));
  return rng.weighted<() => string>([
    [4, () => `bytes=${n()}-${rng.chance(0.3) ? "" : n()}`],
    [2, () => `bytes=-${n()}`],
    [1, () => `bytes=${n()}-${n()},${n()}-${n()}`],
    [1, () => `${rng.pick(["bytes", "BYTES", "items", "bytes ", ""])}=${rng.string("0123456789-, ", rng.size(30))}`],
    [1, () => rng.string(PRINTABLE, rng.size(300))],
  ])();
}

function etag(rng: Rng, p: FuzzPools): string {
  const one = () => `${rng.chance(0.4) ? "W/" : ""}"${rng.chance(0.6) ? rng.pick(p.hashes) : rng.string(HEX, rng.size(64))}"`;
  return rng.weighted<() => string>([
    [4, one],
    [2, () => Array.from({ length: rng.range(2, 5) }, one).join(rng.pick([",", ", ", " ,", ",,"]))],
    [1, () => "*"],
    [1, () => rng.string(PRINTABLE, rng.size(120))],
  ])();
}

function sigHeaders(rng: Rng): Record<string, string> {
  const h: Record<string, string> = {};
  for (const name of Object.values(SIG_HEADERS)) {
    if (rng.chance(0.6)) h[name] = rng.weighted([[3, rng.string(HEX, rng.pick([64, 128, 32, 0]))], [1, String(Date.now() + rng.range(-120_000, 120_000))], [1, rng.string(PRINTABLE, rng.size(100))]]);
  }
  return h;
}

/** Headers any request may carry: payment, sessions, auth, conditionals, signatures and noise. */
function commonHeaders(rng: Rng, p: FuzzPools): Record<string, string> {
  const h: Record<string, string> = {};
  if (rng.chance(0.3)) h["x-cashu"] = token(rng, p);
  if (rng.chance(0.15)) h["x-session"] = rng.weighted([[3, rng.string(HEX, rng.pick([32, 43, 64]))], [1, rng.string(PRINTABLE, rng.size(200))]]);
  if (rng.chance(0.15)) h["x-session-request"] = rng.pick(["default", "0", "1", "-1", "99999999999999999999999", String(rng.size(2 ** 40)), "1e9", " 5 ", rng.string(PRINTABLE, rng.size(30))]);
  if (rng.chance(0.15)) h.authorization = rng.pick([`Bearer ${rng.string(HEX, 64)}`, `Bearer ${rng.string(PRINTABLE, rng.size(2000))}`, "Bearer", "Basic YWRtaW46YWRtaW4=", rng.string(PRINTABLE, rng.size(100))]);
  if (rng.chance(0.1)) Object.assign(h, sigHeaders(rng));
  if (rng.chance(0.05)) h["x-forwarded-for"] = rng.pick(["127.0.0.1", "10.0.0.1, 127.0.0.1", rng.string(PRINTABLE, 40)]);
  if (rng.chance(0.05)) h[rng.string("abcdefghijklmnopqrstuvwxyz-", rng.range(1, 30))] = rng.string(PRINTABLE, rng.size(500));
  return h;
}

function path(rng: Rng, p: FuzzPools): string {
  const liveName = () => Array.from({ length: rng.range(1, 4) }, () => rng.string("abcdefghijklmnopqrstuvwxyz0123456789._-~%", rng.range(0, 12))).join("/");
  const base = rng.weighted<() => string>([
    [10, () => `/blobs/${hash(rng, p)}`],
    [1, () => rng.pick(["/blobs", "/blobs/", `/blobs/${rng.pick(p.hashes)}/x`, `//blobs/${rng.pick(p.hashes)}`, `/blobs/../blobs/${rng.pick(p.hashes)}`, `/Blobs/${rng.pick(p.hashes)}`])],
    [4, () => `/live/${liveName()}/${rng.pick(["index.m3u8", "manifest.json", "announce.json", `${rng.string(HEX, 64)}.ts`, rng.string(PATHCHARS, rng.size(40))])}`],
    [2, () => rng.pick(["/healthz", "/readyz", "/metrics", "/.well-known/jwks.json", "/", "/favicon.ico", "/hooks/mediamtx/auth", "/hooks/mediamtx/segment", "/api/film-catalog", "/tracker"])],
    [2, () => `/${rng.pick(["relay", "api/film"])}/${hash(rng, p)}${rng.pick(["", "", ".ts", ".m4s", ".m3u8", `.${rng.string(PATHCHARS, rng.size(8))}`])}`],
    [2, () => `/${rng.pick(METHODS).parent.typeName}/${rng.chance(0.8) ? rng.pick(METHODS).name : rng.string(PATHCHARS, rng.size(20))}`],
    [2, () => "/" + rng.string(PATHCHARS, rng.size(200))],
    [1, () => "/" + "a/".repeat(rng.range(100, 2000))],
  ])();
  return rng.chance(0.1) ? `${base}?${rng.string(PATHCHARS + "=&", rng.size(200))}` : base;
}

function httpCase(rng: Rng, p: FuzzPools): HttpCase {
  // POSTs to the MediaMTX hooks (loopback-only, trusted) would ingest on purpose: hooks are only fuzzed by GET/HEAD/PUT.
  const method = rng.weighted([[30, "GET"], [8, "HEAD"], [3, "OPTIONS"], [3, "PUT"], [1, "DELETE"], [1, "PATCH"], [1, "POST"], [1, "PROPFIND"]]);
  let target = path(rng, p);
  if (method === "POST" && target.startsWith("/hooks/")) target = `/blobs/${rng.pick(p.hashes)}`;
  const headers = commonHeaders(rng, p);
  if (rng.chance(0.45)) headers.range = range(rng);
  if (rng.chance(0.2)) headers["if-none-match"] = etag(rng, p);
  if (rng.chance(0.15)) headers["if-range"] = rng.chance(0.8) ? etag(rng, p) : new Date(rng.int(2 ** 41)).toUTCString();
  if (rng.chance(0.05)) headers["x-blake3"] = hash(rng, p);
  if (rng.chance(0.1)) headers["x-bao"] = rng.pick(["slice", "slice", "SLICE", "", rng.string(PRINTABLE, rng.size(40))]);
  if (rng.chance(0.05)) headers["x-slowdrip-relayed"] = rng.pick(["1", "0", rng.string(PRINTABLE, rng.size(20))]);
  if (rng.chance(0.05)) headers["content-type"] = rng.pick(["application/proto", "application/grpc", "application/connect+json", "text/plain", rng.string(PRINTABLE, 30)]);
  for (const k of Object.keys(headers)) headers[k] = headerSafe(headers[k]!);
  const c: HttpCase = { kind: "http", h2: rng.chance(0.2), method, path: target, headers };
  if (method === "PUT" || method === "POST" || method === "PATCH" || rng.chance(0.02)) c.body = rng.bytes(rng.size(70_000));
  return c;
}

/** A random value for one field (strings drawn from the pools half the time). */
function fieldValue(rng: Rng, f: DescField, kind: string, p: FuzzPools, depth: number): unknown {
  if (kind === "message") return randomInit(rng, (f as { message: DescMessage }).message, p, depth + 1);
  if (kind === "enum") return rng.chance(0.8) ? rng.pick((f as { enum: { values: { number: number }[] } }).enum.values).number : rng.range(-5, 1000);
  switch ((f as { scalar: ScalarType }).scalar) {
    case ScalarType.STRING:
      return rng.weighted([[3, rng.pick(p.hashes)], [1, p.mint], [1, p.spentToken], [2, rng.string(PRINTABLE, rng.size(100))], [1, ""], [1, "lnbc" + rng.string(B64URL, 60)]]);
    case ScalarType.BYTES:
      return rng.bytes(rng.size(4096));
    case ScalarType.BOOL:
      return rng.chance(0.5);
    case ScalarType.INT64: case ScalarType.SINT64: case ScalarType.SFIXED64:
      return BigInt(rng.weighted([[3, rng.size(2 ** 20)], [1, -rng.size(2 ** 30)], [1, Number.MAX_SAFE_INTEGER]]));
    case ScalarType.UINT64: case ScalarType.FIXED64:
      return BigInt(rng.weighted([[3, rng.size(400_000)], [1, Number.MAX_SAFE_INTEGER]])) * (rng.chance(0.05) ? 2n ** 10n : 1n);
    case ScalarType.FLOAT: case ScalarType.DOUBLE:
      return rng.pick([0, 1.5, -1, 1e300, Number.NaN]);
    case ScalarType.INT32: case ScalarType.SINT32: case ScalarType.SFIXED32:
      return rng.weighted([[3, rng.size(10_000)], [1, -rng.size(2 ** 31)]]);
    default:
      return rng.weighted([[3, rng.size(100_000)], [1, 2 ** 32 - 1]]);
  }
}

/** A message init with random fields set (oneofs pick one case; nesting stops at depth 3). */
function randomInit(rng: Rng, desc: DescMessage, p: FuzzPools, depth = 0): Record<string, unknown> {
  const init: Record<string, unknown> = {};
  if (depth > 2) return init;
  for (const m of desc.members) {
    if (!rng.chance(0.6)) continue;
    if (m.kind === "oneof") {
      const f = rng.pick(m.fields);
      init[m.localName] = { case: f.localName, value: fieldValue(rng, f, f.fieldKind, p, depth) };
    } else if (m.fieldKind === "list") {
      init[m.localName] = Array.from({ length: rng.range(0, 3) }, () => fieldValue(rng, m, m.listKind, p, depth));
    } else if (m.fieldKind !== "map") {
      init[m.localName] = fieldValue(rng, m, m.fieldKind, p, depth);
    }
  }
  return init;
}

function rpcCase(rng: Rng, p: FuzzPools): RpcCase {
  const method = rng.pick(METHODS);
  const streaming = method.methodKind !== "unary";
  const protocol: RpcProtocol = streaming
    ? rng.weighted([[3, "connect-stream"], [2, "grpc"], [2, "grpc-web"], [1, "connect"]])
    : rng.weighted([[4, "connect"], [2, "connect-json"], [1, "connect-get"], [2, "grpc"], [2, "grpc-web"], [1, "connect-stream"]]);
  const json = protocol === "connect-json" || (protocol === "connect-get" && rng.chance(0.5));
  const message = () => {
    const msg = create(method.input, randomInit(rng, method.input, p) as never);
    let bytes: Uint8Array;
    try {
      bytes = json ? enc.encode(toJsonString(method.input, msg)) : toBinary(method.input, msg);
    } catch {
      bytes = new Uint8Array(0);
    }
    return rng.weighted<() => Uint8Array>([[5, () => bytes], [4, () => mutate(rng, bytes)], [1, () => rng.bytes(rng.size(2048))], [1, () => new Uint8Array(0)]])();
  };
  let body: Uint8Array;
  if (protocol === "connect" || protocol === "connect-json" || protocol === "connect-get") body = message();
  else {
    const n = method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming" ? rng.range(0, 4) : rng.weighted([[8, 1], [1, 0], [1, 2]]);
    const frames = Array.from({ length: n }, () => envelope(message(), rng.weighted([[20, 0], [1, 1], [1, 2], [1, 0x80], [1, rng.int(256)]])));
    body = concat(...frames);
    if (rng.chance(0.1)) body = mutate(rng, body);
  }
  const headers = commonHeaders(rng, p);
  let deadline = false;
  let compression = false;
  if (rng.chance(0.1)) {
    deadline = true;
    if (protocol.startsWith("connect")) headers["connect-timeout-ms"] = rng.pick(["0", "1", "5", "-1", "abc", "99999999999", String(rng.size(100_000))]);
    else headers["grpc-timeout"] = rng.pick(["1m", "5S", "1n", "0H", "garbage", "99999999999S", `${rng.size(1000)}m`]);
  }
  if (rng.chance(0.05)) {
    compression = true;
    const name = protocol === "connect" || protocol === "connect-json" ? "content-encoding" : protocol === "connect-stream" ? "connect-content-encoding" : "grpc-encoding";
    headers[name] = rng.pick(["gzip", "br", "identity", "deflate", rng.string(PRINTABLE, 10)]);
  }
  if (rng.chance(0.05)) headers["connect-protocol-version"] = rng.pick(["2", "", "1.0", rng.string(PRINTABLE, 5)]);
  if (rng.chance(0.05)) headers["content-type"] = rng.pick(["application/proto", "application/json", "application/json; charset=utf-16", "application/connect+json", "application/grpc+json", "application/grpc-web-text", "text/plain", ""]);
  for (const k of Object.keys(headers)) headers[k] = headerSafe(headers[k]!);
  return { kind: "rpc", protocol, procedure: `/${method.parent.typeName}/${method.name}`, headers, body, deadline, compression };
}

const h1 = (lines: string[], body = "") => enc.encode(lines.join("\r\n") + "\r\n\r\n" + body);
const H2_PREFACE = enc.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** An HTTP/2 frame: 24-bit length, type, flags, stream id. */
function h2Frame(type: number, flags: number, stream: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(9 + payload.length);
  const v = new DataView(f.buffer);
  v.setUint8(0, (payload.length >>> 16) & 0xff);
  v.setUint16(1, payload.length & 0xffff);
  f[3] = type;
  f[4] = flags;
  v.setUint32(5, stream & 0x7fffffff);
  f.set(payload, 9);
  return f;
}

function rawCase(rng: Rng, p: FuzzPools): RawCase {
  const target = `/blobs/${rng.pick(p.hashes)}`;
  const closeHeader = "Connection: close";
  return rng.weighted<() => RawCase>([
    [3, () => ({ kind: "raw", what: "random bytes", chunks: [rng.bytes(rng.range(1, 3000))], close: "wait" })],
    [4, () => ({ kind: "raw", what: "mutated request", chunks: [mutate(rng, h1([`GET ${target} HTTP/1.1`, "Host: node", `Range: ${headerSafe(range(rng))}`, closeHeader]))], close: "wait" })],
    [2, () => ({ kind: "raw", what: "control bytes in a header", chunks: [h1([`GET ${target} HTTP/1.1`, "Host: node", `X-Cashu: ${Buffer.from(rng.bytes(40)).toString("latin1")}`, closeHeader])], close: "wait" })],
    [2, () => ({ kind: "raw", what: "framing conflicts", chunks: [h1([`PUT /blobs HTTP/1.1`, "Host: node", rng.pick(["Content-Length: 5\r\nContent-Length: 6", "Content-Length: 5\r\nTransfer-Encoding: chunked", "Transfer-Encoding: chunked, gzip", "Content-Length: -1", "Content-Length: 99999999999999999999"]), closeHeader], rng.pick(["hello", "5\r\nhello\r\n0\r\n\r\n", "zz\r\n"]))], close: "wait" })],
    [1, () => ({ kind: "raw", what: "oversized headers", chunks: [h1([`GET ${target} HTTP/1.1`, "Host: node", `X-Big: ${"a".repeat(rng.range(17_000, 70_000))}`, closeHeader])], close: "wait" })],
    [2, () => ({ kind: "raw", what: "bad request line", chunks: [h1([rng.pick([`GET ${target} HTTP/2.0`, `GET ${target} HTTP/9.9`, `GET ${target}`, `G@T ${target} HTTP/1.1`, `GET  HTTP/1.1`, `GET ${target}\u0000 HTTP/1.1`, `get ${target} HTTP/1.1`]), "Host: node", closeHeader])], close: "wait" })],
    [2, () => ({ kind: "raw", what: "pipelined requests", chunks: [concat(...Array.from({ length: rng.range(2, 6) }, () => h1([`${rng.pick(["GET", "HEAD"])} ${path(rng, p).replace(/[^\x21-\x7e]/g, "")} HTTP/1.1`, "Host: node", `Range: ${headerSafe(range(rng))}`])), h1(["GET /healthz HTTP/1.1", "Host: node", closeHeader]))], close: "wait" })],
    [3, () => ({ kind: "raw", what: "request, then close before the answer", chunks: [h1([`GET ${rng.chance(0.5) ? target : path(rng, p).replace(/[^\x21-\x7e]/g, "")} HTTP/1.1`, "Host: node"])], close: "now" })],
    [2, () => ({ kind: "raw", what: "partial request, then close", chunks: [h1([`GET ${target} HTTP/1.1`, "Host: node"]).subarray(0, rng.range(1, 30))], close: "now" })],
    [1, () => ({ kind: "raw", what: "upload cut off", chunks: [h1(["PUT /blobs HTTP/1.1", "Host: node", `Content-Length: ${rng.range(10, 100_000)}`]), rng.bytes(rng.size(500))], close: "now" })],
    [2, () => ({ kind: "raw", what: "HTTP/2 frames", chunks: [H2_PREFACE, h2Frame(4, 0, 0, new Uint8Array(0)), ...Array.from({ length: rng.range(1, 6) }, () => h2Frame(rng.int(12), rng.int(256), rng.pick([0, 1, 3, 2 ** 31 - 1]), rng.bytes(rng.size(300))))], close: "wait" })],
    [1, () => ({ kind: "raw", what: "HTTP/2 preface cut off", chunks: [H2_PREFACE.subarray(0, rng.range(1, H2_PREFACE.length - 1))], close: "now" })],
    [1, () => ({ kind: "raw", what: "HTTP/2 garbage after the preface", chunks: [H2_PREFACE, rng.bytes(rng.range(1, 500))], close: "wait" })],
  ])();
}

/** Case `index` of run `seed`: 55% HTTP routes, 35% RPC procedures, 10% raw sockets. */
export function fuzzCase(seed: number, index: number, pools: FuzzPools): FuzzCase {
  const rng = new Rng(seed, index);
  const kind = rng.weighted([[55, "http"], [35, "rpc"], [10, "raw"]] as const);
  if (kind === "http") return httpCase(rng, pools);
  if (kind === "rpc") return rpcCase(rng, pools);
  return rawCase(rng, pools);
}

/** A one-line description of a case for failure reports (bodies summarised by size). */
export function describeCase(c: FuzzCase): string {
  const hdrs = (h: Record<string, string>) => Object.entries(h).map(([k, v]) => `${k}: ${v.length > 80 ? `${v.slice(0, 80)}…(${v.length})` : v}`).join("; ");
  if (c.kind === "http") return `${c.h2 ? "h2 " : ""}${c.method} ${c.path.length > 120 ? c.path.slice(0, 120) + "…" : c.path} [${hdrs(c.headers)}]${c.body ? ` body ${c.body.length} B` : ""}`;
  if (c.kind === "rpc") return `${c.protocol} ${c.procedure} [${hdrs(c.headers)}] body ${c.body.length} B ${Buffer.from(c.body.subarray(0, 24)).toString("hex")}`;
  return `raw ${c.what} (${c.chunks.reduce((n, x) => n + x.length, 0)} B, close ${c.close}): ${JSON.stringify(Buffer.from(c.chunks[0]!.subarray(0, 60)).toString("latin1"))}`;
}
