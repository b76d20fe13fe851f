// Undecodable binary request bodies are the caller's fault: invalid_argument on every procedure and protocol, nothing logged.
import type { ChildProcess } from "node:child_process";
import type { ClientHttp2Session } from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import type { DescMethod } from "@bufbuild/protobuf";
import { NodeService } from "../../src/gen/slowdrip/v1/node_pb.ts";
import { StorageService } from "../../src/gen/slowdrip/v1/storage_pb.ts";
import { StreamService } from "../../src/gen/slowdrip/v1/stream_pb.ts";
import { PaymentService, WalletService } from "../../src/gen/slowdrip/v1/wallet_pb.ts";
import { spawnNode, tempDir } from "../helpers/node.ts";
import { connectStream, connectUnary, envelope, grpc, grpcWeb, h2Session, http1, type RawAnswer } from "../fuzz/wire.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const METHODS: DescMethod[] = [NodeService, StorageService, StreamService, WalletService, PaymentService].flatMap((s) => s.methods);
const UNARY = METHODS.filter((m) => m.methodKind === "unary");
const STREAMING = METHODS.filter((m) => m.methodKind !== "unary");

/** Bodies no message type decodes: a length-delimited field longer than the body, a truncated varint, wire type 7. */
const GARBAGE: [string, Uint8Array][] = [
  ["field longer than the body", Uint8Array.of(0x0a, 0x05, 0x01)],
  ["truncated varint", Uint8Array.of(0x10, 0xff, 0xff)],
  ["invalid wire type", Uint8Array.of(0x0f, 0x00)],
];

const path = (m: DescMethod) => `/${m.parent.typeName}/${m.name}`;
let node: { child: ChildProcess; url: string; adminUrl: string; logs: () => string };
/** HTTP/2 sessions to the public and the admin listener. */
let h2: ClientHttp2Session;
let h2Admin: ClientHttp2Session;
let adminToken: string;

beforeAll(async () => {
  const dataDir = tempDir();
  node = await spawnNode(["--data-dir", dataDir, "--listen", "127.0.0.1:0"]);
  adminToken = readFileSync(join(dataDir, "admin.token"), "utf8").trim();
  h2 = h2Session(node.url);
  h2Admin = h2Session(node.adminUrl);
});
afterAll(() => {
  h2?.close();
  h2Admin?.close();
  node?.child.kill("SIGKILL");
});

const expectRefused = (a: RawAnswer, what: string) => {
  expect({ what, code: a.code === undefined ? "none" : Code[a.code], http: a.http }).toEqual({ what, code: "InvalidArgument", http: expect.any(Number) });
  expect(a.message).toMatch(/malformed request/);
};

describe("undecodable binary request bodies answer invalid_argument", () => {
  it.each(GARBAGE)("Connect unary, every unary procedure on both listeners (%s): HTTP 400, control calls without a token included", async (_n, bytes) => {
    for (const base of [node.url, node.adminUrl]) {
      for (const m of UNARY) {
        const a = await connectUnary(base, path(m), bytes);
        expectRefused(a, `${base} ${path(m)}`);
        expect(a.http, path(m)).toBe(400);
      }
    }
  });

  it.each(GARBAGE)("gRPC (HTTP/2) and gRPC-Web, every unary procedure on both listeners (%s): grpc-status 3", async (_n, bytes) => {
    for (const [base, session] of [[node.url, h2], [node.adminUrl, h2Admin]] as const) {
      for (const m of UNARY) {
        expectRefused(await grpc(session, path(m), envelope(bytes)), `grpc ${base} ${path(m)}`);
        expectRefused(await grpcWeb(base, path(m), envelope(bytes)), `grpc-web ${base} ${path(m)}`);
      }
    }
  });

  it.each(GARBAGE)("every streaming procedure on Connect, gRPC and gRPC-Web (%s)", async (_n, bytes) => {
    // On the admin listener with the admin token, so that access control lets every call reach its messages.
    const auth = { authorization: `Bearer ${adminToken}` };
    for (const m of STREAMING) {
      expectRefused(await connectStream(node.adminUrl, path(m), envelope(bytes), auth), `connect ${path(m)}`);
      expectRefused(await grpc(h2Admin, path(m), envelope(bytes), auth), `grpc ${path(m)}`);
      expectRefused(await grpcWeb(node.adminUrl, path(m), envelope(bytes), auth), `grpc-web ${path(m)}`);
    }
  });

  it("a bad message after good ones in a client stream (Store) is refused and stores nothing", async () => {
    const good = envelope(Uint8Array.of(0x0a, 0x00)); // StoreRequest{header: {}}
    const body = Buffer.concat([good, envelope(Uint8Array.of(0x12, 0x03, 0x61, 0x62, 0x63)), envelope(GARBAGE[0]![1])]);
    const auth = { authorization: `Bearer ${adminToken}` };
    expectRefused(await connectStream(node.adminUrl, path(StorageService.method.store), body, auth), "connect Store");
    expectRefused(await grpc(h2Admin, path(StorageService.method.store), body, auth), "grpc Store");
    const list = await http1(`${node.adminUrl}/slowdrip.v1.StorageService/List`, { headers: { "content-type": "application/json", ...auth }, body: Buffer.from("{}") });
    expect(list.status).toBe(200);
    expect(JSON.parse(list.body.toString()).blobs ?? []).toEqual([]);
  });

  it("framing faults of one-message calls: no message, two messages, a compressed flag without compression", async () => {
    const m = NodeService.method.getStatus;
    expectRefused(await grpc(h2, path(m), new Uint8Array(0)), "no message");
    expectRefused(await grpcWeb(node.url, path(m), new Uint8Array(0)), "no message (gRPC-Web)");
    expectRefused(await grpc(h2, path(m), Buffer.concat([envelope(new Uint8Array(0)), envelope(new Uint8Array(0))])), "two messages");
    expectRefused(await grpc(h2, path(m), envelope(new Uint8Array(0), 0x01)), "compressed flag");
    expectRefused(await grpcWeb(node.url, path(m), Uint8Array.of(0, 0, 0, 0, 0xfe)), "a frame header without its payload");
    expectRefused(await grpc(h2, path(m), new Uint8Array(0), { "content-type": "application/grpc+json" }), "no message (gRPC JSON)");
    expectRefused(await connectStream(node.adminUrl, path(StorageService.method.fetchBlob), envelope(Buffer.from("{}"), 0x02), { "content-type": "application/connect+json" }), "only an end-stream frame (Connect JSON)");
    expectRefused(await connectStream(node.adminUrl, path(StorageService.method.fetchBlob), new Uint8Array(0)), "server stream without its message");
  });

  it("well-formed calls still work on every protocol", async () => {
    const m = NodeService.method.getIdentity;
    expect((await connectUnary(node.url, path(m), new Uint8Array(0))).code).toBe(0);
    expect((await grpc(h2, path(m), envelope(new Uint8Array(0)))).code).toBe(0);
    expect((await grpcWeb(node.url, path(m), envelope(new Uint8Array(0)))).code).toBe(0);
  });

  it("none of it is logged as a server error, and /metrics counts no internal RPC errors", async () => {
    const bad = node.logs().split("\n").filter((l) => l.startsWith("{") && (JSON.parse(l).level >= 50 || l.includes("unexpected error")));
    expect(bad).toEqual([]);
    const metrics = (await http1(`${node.adminUrl}/metrics`, { method: "GET" })).body.toString();
    expect(metrics).toMatch(/slowdrip_rpc_requests_total\{[^}]*code="InvalidArgument"/);
    expect(metrics).not.toMatch(/slowdrip_rpc_requests_total\{[^}]*code="Internal"/);
  });
});
