// What a paying node charges for reads of stored blobs: live segments cost live-view by their hash too (/blobs,
// FetchBlob), and the free allowance is counted per remote address, so fresh keys or one shared RPC bucket gain nothing.
import { mkdirSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { StorageService } from "../../src/gen/slowdrip/v1/storage_pb.ts";
import { PaymentRequiredSchema } from "../../src/gen/slowdrip/v1/wallet_pb.ts";
import { publicKeyOf, randomSecret } from "../../src/identity/ed25519.ts";
import { hex } from "../../src/identity/hex.ts";
import { signRequest } from "../../src/identity/request-signing.ts";
import { fullNode } from "../../src/node/components.ts";
import type { RunningNode } from "../../src/node/node.ts";
import { signingInterceptor } from "../../src/rpc/sign-client.ts";
import { addressBucket, Pricing } from "../../src/pay/pricing.ts";
import { testBytes } from "../../src/store/contract.ts";
import { startTestNode } from "../helpers/node.ts";

let node: RunningNode;
beforeAll(async () => {
  node = await startTestNode(
    {
      "pay.enabled": "true",
      "pay.pricing.content_download": "1",
      "pay.pricing.live_view": "7",
      "pay.live_view_minutes": "10",
      "pay.free_allowance": "1000",
      "mediamtx.manage": "off",
    },
    fullNode,
  );
});
afterAll(async () => {
  await node?.stop();
});

/** GET from a chosen loopback source address (127/8 is all loopback). */
function get(path: string, from: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(`${node.url}${path}`, { localAddress: from, headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
    });
    req.on("error", reject);
    req.end();
  });
}

const newKey = () => {
  const secretKey = randomSecret();
  return { secretKey, nodeId: hex(publicKeyOf(secretKey)) };
};

/** A StorageService client from `from`, signed by `key` when given. */
function storage(from: string, key?: { secretKey: Uint8Array; nodeId: string }) {
  const interceptors: Interceptor[] = key ? [signingInterceptor(key, node.identity.nodeId)] : [];
  return createClient(StorageService, createConnectTransport({ baseUrl: node.url, httpVersion: "1.1", nodeOptions: { localAddress: from, agent: false }, interceptors }));
}

/** FetchBlob to the end: the bytes, or the ConnectError. */
async function fetchBlob(client: ReturnType<typeof storage>, hash: string): Promise<Buffer | ConnectError> {
  try {
    const parts: Uint8Array[] = [];
    for await (const m of client.fetchBlob({ hash })) parts.push(m.data);
    return Buffer.concat(parts);
  } catch (e) {
    return ConnectError.from(e);
  }
}

const amountOf = (e: ConnectError) => Number(e.findDetails(PaymentRequiredSchema)[0]?.amount ?? -1);

async function upload(bytes: Uint8Array): Promise<string> {
  const r = await fetch(`${node.adminUrl}/blobs`, { method: "PUT", headers: { authorization: `Bearer ${node.adminToken}` }, body: bytes as Uint8Array<ArrayBuffer> });
  expect(r.status).toBe(201);
  return ((await r.json()) as { hash: string }).hash;
}

describe("live segments read by hash", () => {
  it("cost live-view on /blobs and FetchBlob, as through /live/; other blobs stay content-download", async () => {
    // A real ingest through the loopback segment hook, as MediaMTX's curl posts it.
    const dir = join(node.dataDir, "mediamtx/segments/live/cam");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "2026-12-01_10-00-00-000001.ts");
    writeFileSync(file, testBytes(5000, 3));
    const hook = await fetch(`${node.hooksUrl}/hooks/mediamtx/segment`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ path: "live/cam", segment: file, duration: "1.0" }).toString(),
    });
    expect(hook.status, await hook.clone().text()).toBe(200);
    const seg = ((await hook.json()) as { blake3: string }).blake3;
    const livePrice = 70; // 10 minutes at 7 sats per minute
    const viaLive = await get(`/live/live/cam/${seg}.ts`, "127.0.0.1");
    expect(viaLive.status).toBe(402);
    expect(JSON.parse(viaLive.body.toString())).toMatchObject({ amount: livePrice, allotment: 600_000 });
    const viaBlobs = await get(`/blobs/${seg}`, "127.0.0.1");
    expect(viaBlobs.status).toBe(402);
    expect(JSON.parse(viaBlobs.body.toString())).toMatchObject({ amount: livePrice, allotment: 600_000 });
    const viaRpc = await fetchBlob(storage("127.0.0.1"), seg);
    expect(viaRpc).toBeInstanceOf(ConnectError);
    expect((viaRpc as ConnectError).code).toBe(Code.ResourceExhausted);
    expect(amountOf(viaRpc as ConnectError)).toBe(livePrice);
    // An uploaded blob of the same size is a download: 1 sat (it is over the free allowance).
    const other = await upload(testBytes(5000, 4));
    const plain = await get(`/blobs/${other}`, "127.0.0.1");
    expect(plain.status).toBe(402);
    expect(JSON.parse(plain.body.toString())).toMatchObject({ amount: 1 });
  });
});

describe("the free allowance", () => {
  it("is counted per remote address: new keys gain nothing, other addresses and unsigned RPC callers have their own", async () => {
    const hash = await upload(testBytes(600, 9)); // the allowance (1000 bytes a day) covers one read, not two
    const path = `/blobs/${hash}`;
    const signed = (key: { secretKey: Uint8Array; nodeId: string }) => signRequest({ method: "GET", path }, key.secretKey, key.nodeId, node.identity.nodeId);
    expect((await get(path, "127.0.0.5", signed(newKey()))).status).toBe(200);
    expect((await get(path, "127.0.0.5", signed(newKey()))).status).toBe(402); // a fresh key, same address
    expect((await get(path, "127.0.0.5")).status).toBe(402);
    expect((await get(path, "127.0.0.6")).status).toBe(200); // another address has its own allowance
    // RPC: unsigned callers are counted by address too, not in one bucket shared by all of them.
    const first = await fetchBlob(storage("127.0.0.7"), hash);
    expect(first).toBeInstanceOf(Buffer);
    const fresh = await fetchBlob(storage("127.0.0.7", newKey()), hash);
    expect(fresh).toBeInstanceOf(ConnectError);
    expect((fresh as ConnectError).code).toBe(Code.ResourceExhausted);
    expect(await fetchBlob(storage("127.0.0.8"), hash)).toBeInstanceOf(Buffer);
  });
});

describe("allowance buckets", () => {
  it("are an IPv4 address (also IPv4-mapped), an IPv6 /64, or a free peer's key", () => {
    expect(addressBucket("192.0.2.7")).toBe("192.0.2.7");
    expect(addressBucket("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(addressBucket("2001:db8:1:2:3:4:5:6")).toBe(addressBucket("2001:db8:1:2::ffff"));
    expect(addressBucket("2001:db8:1:2::1")).not.toBe(addressBucket("2001:db8:1:3::1"));
    expect(addressBucket("2001:0db8:0001:0002::1")).toBe("2001:db8:1:2::/64");
    const free = "ab".repeat(32);
    const pricing = new Pricing({ freePeers: [free] });
    expect(pricing.allowanceKey("192.0.2.7", free)).toBe(`peer:${free}`);
    expect(pricing.allowanceKey("192.0.2.7", "cd".repeat(32))).toBe(pricing.allowanceKey("192.0.2.7"));
  });
});
