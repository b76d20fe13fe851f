// The listeners: NodeService over Connect (HTTP/1.1, HTTP/2), gRPC, gRPC-Web and buf curl; admin endpoints; control auth.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { NodeService } from "../../src/gen/slowdrip/v1/node_pb.ts";
import type { RunningNode } from "../../src/node/node.ts";
import { ROOT, startTestNode } from "../helpers/node.ts";

const run = promisify(execFile);
let node: RunningNode;

beforeAll(async () => {
  node = await startTestNode({}, async (base, add) => {
    base.readiness.register("disk-check", { required: false, detail: "optional and idle" });
    add({ name: "extra" });
  });
});
afterAll(() => node?.stop());

describe("NodeService.GetStatus over every protocol", () => {
  const transports: Array<[string, () => Transport]> = [
    ["connect, HTTP/1.1", () => createConnectTransport({ baseUrl: node.url, httpVersion: "1.1" })],
    ["connect, HTTP/2", () => createConnectTransport({ baseUrl: node.url, httpVersion: "2" })],
    ["connect JSON, HTTP/1.1", () => createConnectTransport({ baseUrl: node.url, httpVersion: "1.1", useBinaryFormat: false })],
    ["gRPC (HTTP/2)", () => createGrpcTransport({ baseUrl: node.url })],
    ["gRPC-Web, HTTP/1.1", () => createGrpcWebTransport({ baseUrl: node.url, httpVersion: "1.1" })],
    ["gRPC-Web, HTTP/2", () => createGrpcWebTransport({ baseUrl: node.url, httpVersion: "2" })],
  ];
  it.each(transports)("%s", async (_name, make) => {
    const client = createClient(NodeService, make());
    const st = await client.getStatus({});
    expect(st.nodeId).toBe(node.identity.nodeId);
    expect(st.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(st.ready).toBe(true);
    expect(st.components.map((c) => c.name)).toEqual(["api", "disk-check"]);
    expect(st.uptimeSeconds).toBeGreaterThanOrEqual(0);
    const id = await client.getIdentity({});
    expect(id.nodeId).toBe(node.identity.nodeId);
    expect(id.didKey).toMatch(/^did:key:z6Mk/);
  });

  it("buf curl (a third-party client) over gRPC with HTTP/2 prior knowledge", async () => {
    const { stdout } = await run(
      `${ROOT}/node_modules/.bin/buf`,
      ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--schema", "proto", "--data", "{}", `${node.url}/slowdrip.v1.NodeService/GetStatus`],
      { cwd: ROOT },
    );
    const st = JSON.parse(stdout);
    expect(st.nodeId).toBe(node.identity.nodeId);
    expect(st.ready).toBe(true);
  });

  it("buf curl over the Connect protocol on HTTP/1.1", async () => {
    const { stdout } = await run(`${ROOT}/node_modules/.bin/buf`, ["curl", "--schema", "proto", "--data", "{}", `${node.url}/slowdrip.v1.NodeService/GetIdentity`], { cwd: ROOT });
    expect(JSON.parse(stdout).didKey).toMatch(/^did:key:/);
  });
});

describe("admin endpoints", () => {
  it("/healthz answers 200", async () => {
    const r = await fetch(`${node.url}/healthz`);
    expect(r.status).toBe(200);
    expect((await r.json()).status).toBe("ok");
  });
  it("/readyz answers 200 with every component named", async () => {
    const r = await fetch(`${node.url}/readyz`);
    expect(r.status).toBe(200);
    const body = await r.json();
    expect(body.ready).toBe(true);
    expect(body.components.map((c: { name: string }) => c.name)).toEqual(["api", "disk-check"]);
  });
  it("/readyz answers 503 naming a required component that is not ready", async () => {
    const n = await startTestNode({}, async (base, add) => {
      base.readiness.register("store", { required: true, detail: "opening LMDB" });
      add({ name: "store" });
    });
    try {
      const r = await fetch(`${n.url}/readyz`);
      expect(r.status).toBe(503);
      const body = await r.json();
      expect(body.ready).toBe(false);
      expect(body.components).toContainEqual({ name: "store", ready: false, required: true, detail: "opening LMDB" });
      n.readiness.set("store", true);
      expect((await fetch(`${n.url}/readyz`)).status).toBe(200);
    } finally {
      await n.stop();
    }
  });
  it("/metrics is Prometheus text and counts the calls just made", async () => {
    const n = await startTestNode();
    try {
      const client = createClient(NodeService, createConnectTransport({ baseUrl: n.url, httpVersion: "1.1" }));
      for (let i = 0; i < 3; i++) await client.getStatus({});
      await client.getIdentity({});
      await fetch(`${n.url}/healthz`);
      await fetch(`${n.url}/nope`);
      const r = await fetch(`${n.adminUrl}/metrics`);
      expect(r.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await r.text();
      const samples = new Map<string, number>();
      for (const line of text.split("\n")) {
        if (line === "" || line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|[Nn][Aa][Nn]|\+Inf|-Inf)$/.exec(line); // Prometheus parses NaN case-insensitively
        expect(m, `not a Prometheus sample line: ${line}`).not.toBeNull();
        samples.set(`${m![1]}${m![2] ?? ""}`, Number(m![3]));
      }
      expect(samples.get('slowdrip_rpc_requests_total{service="slowdrip.v1.NodeService",method="GetStatus",code="ok"}')).toBe(3);
      expect(samples.get('slowdrip_rpc_requests_total{service="slowdrip.v1.NodeService",method="GetIdentity",code="ok"}')).toBe(1);
      expect(samples.get('slowdrip_rpc_duration_seconds_count{service="slowdrip.v1.NodeService",method="GetStatus",code="ok"}')).toBe(3);
      expect(samples.get('slowdrip_http_requests_total{route="/healthz",method="GET",status="200"}')).toBe(1);
      expect(samples.get('slowdrip_http_requests_total{route="unmatched",method="GET",status="404"}')).toBe(1);
      // Process and runtime metrics keep their standard names; prom-client's three gauges named *_total are gone.
      expect(samples.has("process_resident_memory_bytes")).toBe(true);
      expect(samples.has("process_cpu_seconds_total")).toBe(true);
      expect([...samples.keys()].some((k) => k.startsWith("nodejs_heap_size_used_bytes"))).toBe(true);
      expect([...samples.keys()].filter((k) => /^slowdrip_(process|nodejs)_|^nodejs_active_\w+_total/.test(k))).toEqual([]);
    } finally {
      await n.stop();
    }
  });
  it("unknown paths get 404 and wrong methods 405, as JSON", async () => {
    const r = await fetch(`${node.url}/no/such/path`);
    expect(r.status).toBe(404);
    expect((await r.json()).error).toMatch(/no route/);
    const r2 = await fetch(`${node.url}/healthz`, { method: "DELETE" });
    expect(r2.status).toBe(405);
  });
});

describe("control auth", () => {
  let closed: RunningNode;
  beforeAll(async () => {
    closed = await startTestNode({ "api.public_status": "false" });
  });
  afterAll(() => closed?.stop());
  const call = (headers?: Record<string, string>) =>
    createClient(NodeService, createConnectTransport({ baseUrl: closed.adminUrl, httpVersion: "1.1" })).getStatus({}, headers ? { headers } : {});

  it("refuses a control call without a token", async () => {
    const err = await call().catch((e) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.Unauthenticated);
    expect((err as ConnectError).rawMessage).toMatch(/Authorization: Bearer/);
  });
  it.each([
    ["a wrong token", "Bearer 00000000000000000000000000000000000000000000000000000000000000000"],
    ["a short token", "Bearer x"],
    ["a different scheme", "Basic dXNlcjpwYXNz"],
  ])("refuses %s", async (_n, auth) => {
    const err = await call({ authorization: auth }).catch((e) => e);
    expect((err as ConnectError).code).toBe(Code.Unauthenticated);
  });
  it("accepts the admin token", async () => {
    const st = await call({ authorization: `Bearer ${closed.adminToken}` });
    expect(st.nodeId).toBe(closed.identity.nodeId);
  });
  it("refuses the control call on the public listener, even with the token", async () => {
    const client = createClient(NodeService, createConnectTransport({ baseUrl: closed.url, httpVersion: "1.1" }));
    const err = await client.getStatus({}, { headers: { authorization: `Bearer ${closed.adminToken}` } }).catch((e) => e);
    expect((err as ConnectError).code).toBe(Code.PermissionDenied);
    expect((err as ConnectError).rawMessage).toMatch(/api\.admin_listen/);
  });
  it("GetIdentity stays public", async () => {
    const id = await createClient(NodeService, createConnectTransport({ baseUrl: closed.url, httpVersion: "1.1" })).getIdentity({});
    expect(id.nodeId).toBe(closed.identity.nodeId);
  });
  it("oversized RPC messages are rejected", async () => {
    const r = await fetch(`${node.url}/slowdrip.v1.NodeService/GetStatus`, {
      method: "POST",
      headers: { "content-type": "application/proto" },
      body: new Uint8Array(5 * 1024 * 1024),
    });
    // Connect answers resource_exhausted (HTTP 429) for a message over api.max_message_size.
    expect(r.status).toBe(429);
    expect((await r.json()).code).toBe("resource_exhausted");
  });
});
