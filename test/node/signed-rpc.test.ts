// Signed RPCs on a running node: operator keys act as admin, other signers do not, and replays are refused.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { NodeService } from "../../src/gen/slowdrip/v1/node_pb.ts";
import { identityFromSecret } from "../../src/identity/identity.ts";
import { randomSecret } from "../../src/identity/ed25519.ts";
import { signingInterceptor } from "../../src/rpc/sign-client.ts";
import type { RunningNode } from "../../src/node/node.ts";
import { startTestNode } from "../helpers/node.ts";

const operator = identityFromSecret(randomSecret());
const stranger = identityFromSecret(randomSecret());
let node: RunningNode;
beforeAll(async () => {
  node = await startTestNode({ "api.public_status": "false", "node.operator_keys": operator.nodeId });
});
afterAll(() => node?.stop());

const client = (interceptors: Interceptor[]) => createClient(NodeService, createConnectTransport({ baseUrl: node.url, httpVersion: "1.1", interceptors }));

describe("operator-signed control calls", () => {
  it("an operator key's signature is accepted for a control call", async () => {
    const st = await client([signingInterceptor(operator)]).getStatus({});
    expect(st.nodeId).toBe(node.identity.nodeId);
  });
  it("another key's valid signature is not admin", async () => {
    const err = await client([signingInterceptor(stranger)]).getStatus({}).catch((e) => e);
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
    await client([signingInterceptor(operator), capture]).getStatus({});
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
    const err = await client([signingInterceptor(operator), tamper]).getIdentity({}).catch((e) => e);
    expect((err as ConnectError).code).toBe(Code.Unauthenticated);
    expect((err as ConnectError).rawMessage).toMatch(/bad-signature/);
  });
});
