// Signed RPCs on a running node: operator keys act as admin, other signers do not; replays, signatures made for another
// node, and swapped request bodies (unary, server-streaming and client-streaming) are refused.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { NodeService } from "../../src/gen/slowdrip/v1/node_pb.ts";
import { FetchBlobRequestSchema, StorageService, StoreRequestSchema } from "../../src/gen/slowdrip/v1/storage_pb.ts";
import { create } from "@bufbuild/protobuf";
import { blake3Hex } from "../../src/wasm/index.ts";
import { storeOnly } from "../../src/node/components.ts";
import { identityFromSecret } from "../../src/identity/identity.ts";
import { randomSecret } from "../../src/identity/ed25519.ts";
import { signingInterceptor } from "../../src/rpc/sign-client.ts";
import type { RunningNode } from "../../src/node/node.ts";
import { startTestNode } from "../helpers/node.ts";

const operator = identityFromSecret(randomSecret());
const stranger = identityFromSecret(randomSecret());
let node: RunningNode;
let other: RunningNode;
beforeAll(async () => {
  node = await startTestNode({ "api.public_status": "false", "node.operator_keys": operator.nodeId }, storeOnly);
  other = await startTestNode({ "api.public_status": "false", "node.operator_keys": operator.nodeId });
});
afterAll(async () => {
  await node?.stop();
  await other?.stop();
});

const transport = (interceptors: Interceptor[], url = node.adminUrl) => createConnectTransport({ baseUrl: url, httpVersion: "1.1", interceptors });
const client = (interceptors: Interceptor[], url = node.adminUrl) => createClient(NodeService, transport(interceptors, url));
const signer = (who = operator, target = () => node.identity.nodeId) => signingInterceptor(who, target);

describe("operator-signed control calls", () => {
  it("an operator key's signature is accepted for a control call", async () => {
    const st = await client([signer()]).getStatus({});
    expect(st.nodeId).toBe(node.identity.nodeId);
  });
  it("another key's valid signature is not admin", async () => {
    const err = await client([signer(stranger)]).getStatus({}).catch((e) => e);
    expect((err as ConnectError).code).toBe(Code.Unauthenticated);
    expect((err as ConnectError).rawMessage).toMatch(/control call/);
  });
  it("a replayed signed request is refused", async () => {
    let captured: Headers | undefined;
    const capture: Interceptor = (next) => async (req) => {
      captured = new Headers(req.header);
      return next(req);
    };
    // Interceptors run outermost first: capture sits inside the signer, so it sees the signed headers.
    await client([signer(), capture]).getStatus({});
    const replay: Interceptor = (next) => async (req) => {
      for (const [k, v] of captured!) if (k.startsWith("x-slowdrip-")) req.header.set(k, v);
      return next(req);
    };
    const err = await client([replay]).getStatus({}).catch((e) => e);
    expect((err as ConnectError).code).toBe(Code.Unauthenticated);
    expect((err as ConnectError).rawMessage).toMatch(/replayed/);
  });
  it("a signature that does not match the request is refused even on a public method", async () => {
    const tamper: Interceptor = (next) => async (req) => {
      req.header.set("x-slowdrip-signature", "ab".repeat(64));
      return next(req);
    };
    const err = await client([signer(), tamper]).getIdentity({}).catch((e) => e);
    expect((err as ConnectError).code).toBe(Code.Unauthenticated);
    expect((err as ConnectError).rawMessage).toMatch(/bad-signature/);
  });
  it("a request signed for one node is refused by another (cross-node replay)", async () => {
    let captured: Headers | undefined;
    const capture: Interceptor = (next) => async (req) => {
      captured = new Headers(req.header);
      return next(req);
    };
    await client([signer(), capture]).getStatus({});
    const replay: Interceptor = (next) => async (req) => {
      for (const [k, v] of captured!) if (k.startsWith("x-slowdrip-")) req.header.set(k, v);
      return next(req);
    };
    const err = await client([replay], other.adminUrl).getStatus({}).catch((e) => e);
    expect((err as ConnectError).code).toBe(Code.Unauthenticated);
    expect((err as ConnectError).rawMessage).toMatch(/wrong-target/);
    expect((err as ConnectError).rawMessage).toContain(other.identity.nodeId);
    // Signed for the other node, it is accepted there.
    expect((await client([signer(operator, () => other.identity.nodeId)], other.adminUrl).getStatus({})).nodeId).toBe(other.identity.nodeId);
  });
});

describe("streaming bodies are covered by the signature", () => {
  const blob = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
  const evil = new Uint8Array(300_000).map((_, i) => (i * 11) & 0xff);
  const upload = (data: Uint8Array) =>
    (async function* () {
      for (let o = 0; o < data.length; o += 100_000) yield create(StoreRequestSchema, { data: data.subarray(o, o + 100_000) });
    })();

  it("a signed client stream stores when it arrives as signed", async () => {
    const storage = createClient(StorageService, transport([signer()]));
    const r = await storage.store(upload(blob));
    expect(r.hash).toBe(blake3Hex(blob));
  });
  it("a client stream swapped after signing is refused and nothing is stored", async () => {
    // Interceptors run outermost first: this one sits inside the signer, so it swaps the signed stream on the wire.
    const swap: Interceptor = (next) => async (req) => (req.stream ? next({ ...req, message: upload(evil) as never }) : next(req));
    const storage = createClient(StorageService, transport([signer(), swap]));
    const err = await storage.store(upload(blob)).catch((e) => e);
    expect((err as ConnectError).code).toBe(Code.Unauthenticated);
    expect((err as ConnectError).rawMessage).toMatch(/body-mismatch/);
    const stat = await createClient(StorageService, transport([signer()])).stat({ hash: blake3Hex(evil) }).catch((e) => e);
    expect((stat as ConnectError).code).toBe(Code.NotFound);
  });
  it("a signed client stream without its declared hash is refused", async () => {
    const strip: Interceptor = (next) => async (req) => {
      req.header.delete("x-slowdrip-body");
      return next(req);
    };
    const err = await createClient(StorageService, transport([signer(), strip])).store(upload(evil)).catch((e) => e);
    expect((err as ConnectError).code).toBe(Code.Unauthenticated);
    expect((err as ConnectError).rawMessage).toMatch(/x-slowdrip-body/);
  });
  it("a server-streaming request swapped after signing is refused", async () => {
    const swap: Interceptor = (next) => async (req) =>
      req.stream ? next({ ...req, message: (async function* () { yield create(FetchBlobRequestSchema, { hash: blake3Hex(blob), offset: 5n }); })() as never }) : next(req);
    const storage = createClient(StorageService, transport([signer(), swap]));
    const read = async () => {
      for await (const _ of storage.fetchBlob({ hash: blake3Hex(blob), offset: 0n })) void _;
    };
    const err = await read().catch((e) => e);
    expect((err as ConnectError).code).toBe(Code.Unauthenticated);
    expect((err as ConnectError).rawMessage).toMatch(/bad-signature/);
  });
});
