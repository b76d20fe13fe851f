// StorageService end to end over the node's listener: store, fetch (ranges), stat, list, pin, delete, and every bad input.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { create } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { StorageService, StoreHeaderSchema, StoreRequestSchema, type StoreRequest } from "../../src/gen/slowdrip/v1/storage_pb.ts";
import { NodeService } from "../../src/gen/slowdrip/v1/node_pb.ts";
import type { RunningNode } from "../../src/node/node.ts";
import { storeOnly } from "../../src/node/components.ts";
import { pieces, refHash, testBytes } from "../../src/store/contract.ts";
import { startTestNode } from "../helpers/node.ts";
import { baoVerifySlice, fromHex } from "../../src/wasm/index.ts";

const MiB = 1024 * 1024;
let node: RunningNode;
let client: Client<typeof StorageService>;
let admin: { headers: Record<string, string> };

async function* upload(data: Uint8Array, header: MessageInitShape<typeof StoreHeaderSchema> = {}, piece = 100_000): AsyncGenerator<StoreRequest> {
  yield create(StoreRequestSchema, { header });
  for (const p of pieces(data, piece)) yield create(StoreRequestSchema, { data: p });
}

async function fetchAll(hash: string, offset = 0, length?: number): Promise<{ bytes: Buffer; info: unknown; messages: number }> {
  const parts: Uint8Array[] = [];
  let info: unknown;
  let messages = 0;
  for await (const m of client.fetchBlob({ hash, offset: BigInt(offset), ...(length === undefined ? {} : { length: BigInt(length) }) })) {
    if (messages === 0) info = m.info;
    messages++;
    parts.push(m.data);
  }
  return { bytes: Buffer.concat(parts), info, messages };
}

async function drain(it: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of it) void _;
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (err) {
    return Code[ConnectError.from(err).code] ?? "unknown";
  }
}

async function totals() {
  const st = await createClient(NodeService, createConnectTransport({ baseUrl: node.url, httpVersion: "1.1" })).getStatus({});
  return { bytesUsed: Number(st.storage?.bytesUsed), blobCount: Number(st.storage?.blobCount) };
}

beforeAll(async () => {
  // store.public_list: Stat and List answer without the token here (test/net/listeners.test.ts covers the default).
  node = await startTestNode({ "store.max_storage": "8MiB", "api.max_message_size": "1MiB", "store.public_list": "true" }, storeOnly);
  client = createClient(StorageService, createConnectTransport({ baseUrl: node.adminUrl, httpVersion: "1.1" }));
  admin = { headers: { authorization: `Bearer ${node.adminToken}` } };
});
afterAll(() => node?.stop());

describe("StorageService", () => {
  const data = testBytes(3 * MiB + 12345, 21);
  const hash = refHash(data);

  it("Store streams an upload in and returns hash and size; a second upload is not stored again", async () => {
    const r = await client.store(upload(data, { size: BigInt(data.length), tags: ["film"] }), admin);
    expect({ hash: r.hash, size: Number(r.size), created: r.created }).toEqual({ hash, size: data.length, created: true });
    const again = await client.store(upload(data, { expectedHash: hash }), admin);
    expect(again.created).toBe(false);
    expect(await totals()).toEqual({ bytesUsed: data.length, blobCount: 1 });
  });

  it("FetchBlob streams the blob and byte ranges, over Connect and gRPC", async () => {
    const whole = await fetchAll(hash);
    expect(whole.bytes.equals(Buffer.from(data))).toBe(true);
    expect(whole.info).toMatchObject({ hash, size: BigInt(data.length), tags: ["film"] });
    for (const [off, len] of [[0, 1], [262143, 2], [MiB, MiB + 7], [data.length - 5, 5], [data.length - 5, 500]] as const) {
      const r = await fetchAll(hash, off, len);
      expect(r.bytes.equals(Buffer.from(data.subarray(off, off + len))), `range ${off}+${len}`).toBe(true);
    }
    const grpc = createClient(StorageService, createGrpcTransport({ baseUrl: node.adminUrl }));
    const parts: Uint8Array[] = [];
    for await (const m of grpc.fetchBlob({ hash, offset: 1000n, length: 2_000_000n })) parts.push(m.data);
    expect(Buffer.concat(parts).equals(Buffer.from(data.subarray(1000, 2_001_000)))).toBe(true);
  });

  it("FetchBlob with_proof streams a Bao slice that verifies against the hash", async () => {
    for (const [off, len] of [[0, 1000], [123_456, 2 * MiB], [data.length - 100, 100]] as const) {
      const parts: Uint8Array[] = [];
      let head: { offset: bigint; length: bigint } | undefined;
      for await (const m of client.fetchBlob({ hash, offset: BigInt(off), length: BigInt(len), withProof: true })) {
        head ??= m;
        expect(m.data.byteLength).toBe(0);
        parts.push(m.baoSlice);
      }
      expect([Number(head?.offset), Number(head?.length)]).toEqual([off, len]);
      const proven = baoVerifySlice(fromHex(hash), Buffer.concat(parts), off, len);
      expect(Buffer.from(proven).equals(Buffer.from(data.subarray(off, off + len))), `proof ${off}+${len}`).toBe(true);
      expect(() => baoVerifySlice(fromHex(refHash(testBytes(10, 1))), Buffer.concat(parts), off, len)).toThrow();
    }
    expect(await code(drain(client.fetchBlob({ hash, offset: BigInt(data.length), withProof: true })))).toBe("OutOfRange");
  });

  it("Stat, List, Pin, Unpin, Delete", async () => {
    const st = await client.stat({ hash });
    expect(st.blob).toMatchObject({ hash, size: BigInt(data.length), pinned: false, source: "upload" });
    const small = await client.store(upload(testBytes(1000, 22)), admin);
    const page1 = await client.list({ limit: 1 });
    const page2 = await client.list({ limit: 1, after: page1.next });
    expect([page1.blobs[0]?.hash, page2.blobs[0]?.hash].sort()).toEqual([hash, small.hash].sort());
    expect(page2.next).toBe("");
    expect((await client.pin({ hash }, admin)).blob?.pinned).toBe(true);
    expect(await code(client.delete({ hash }, admin))).toBe("FailedPrecondition");
    expect((await client.unpin({ hash }, admin)).blob?.pinned).toBe(false);
    expect((await client.delete({ hash: small.hash }, admin)).deleted).toBe(true);
    expect((await client.delete({ hash: small.hash }, admin)).deleted).toBe(false);
    expect(await totals()).toEqual({ bytesUsed: data.length, blobCount: 1 });
  });

  it("control calls need the admin token; reads do not", async () => {
    expect(await code(client.store(upload(testBytes(10, 1))))).toBe("Unauthenticated");
    expect(await code(client.delete({ hash }))).toBe("Unauthenticated");
    expect(await code(client.pin({ hash }))).toBe("Unauthenticated");
    expect(await code(client.delete({ hash }, { headers: { authorization: "Bearer nope" } }))).toBe("Unauthenticated");
    expect(await code(client.stat({ hash }))).toBe("ok");
  });

  it("bad input: malformed hash, unknown hash, range past the end", async () => {
    for (const bad of ["zz", "AB".repeat(32), "ab".repeat(40), "../etc"]) {
      expect(await code(client.stat({ hash: bad })), `stat ${bad}`).toBe("InvalidArgument");
      expect(await code(fetchAll(bad)), `fetch ${bad}`).toBe("InvalidArgument");
      expect(await code(client.delete({ hash: bad }, admin)), `delete ${bad}`).toBe("InvalidArgument");
      expect(await code(client.store(upload(testBytes(10), { expectedHash: bad }), admin)), `store ${bad}`).toBe("InvalidArgument");
    }
    const unknown = "cd".repeat(32);
    expect(await code(client.stat({ hash: unknown }))).toBe("NotFound");
    expect(await code(fetchAll(unknown))).toBe("NotFound");
    expect(await code(client.pin({ hash: unknown }, admin))).toBe("NotFound");
    expect(await code(fetchAll(hash, data.length))).toBe("OutOfRange");
    expect(await code(fetchAll(hash, data.length + 10, 1))).toBe("OutOfRange");
    expect(await code(client.list({ limit: 5000 }))).toBe("InvalidArgument");
  });

  it("an upload over max_storage is resource_exhausted; nothing stored, space unchanged", async () => {
    // Pinned, so that GC cannot make room by collecting them (an upload of unknown size would).
    const stored = (await client.list({ limit: 1000 }, admin)).blobs.filter((b) => !b.pinned).map((b) => b.hash);
    for (const h of stored) await client.pin({ hash: h }, admin);
    const before = await totals();
    const big = testBytes(6 * MiB, 23);
    expect(await code(client.store(upload(big, { size: BigInt(big.length) }), admin))).toBe("ResourceExhausted");
    expect(await code(client.store(upload(big), admin))).toBe("ResourceExhausted");
    expect(await totals()).toEqual(before);
    expect(await code(client.stat({ hash: refHash(big) }))).toBe("NotFound");
    for (const h of stored) await client.unpin({ hash: h }, admin);
  });

  it("an expected-hash mismatch is data_loss; nothing stored", async () => {
    const before = await totals();
    const bytes = testBytes(50_000, 24);
    expect(await code(client.store(upload(bytes, { expectedHash: "ef".repeat(32) }), admin))).toBe("DataLoss");
    expect(await code(client.stat({ hash: refHash(bytes) }))).toBe("NotFound");
    expect(await totals()).toEqual(before);
  });

  it("a client that disconnects midway leaves no partial blob", async () => {
    const before = await totals();
    const bytes = testBytes(2 * MiB, 25);
    const ac = new AbortController();
    async function* dying(): AsyncGenerator<StoreRequest> {
      yield create(StoreRequestSchema, { header: {} });
      yield create(StoreRequestSchema, { data: bytes.subarray(0, MiB / 2) });
      await new Promise((r) => setTimeout(r, 100));
      ac.abort();
      yield create(StoreRequestSchema, { data: bytes.subarray(MiB / 2) });
    }
    expect(await code(client.store(dying(), { ...admin, signal: ac.signal }))).toBe("Canceled");
    // The server notices the reset asynchronously: wait for the import to be given up.
    for (let i = 0; i < 50 && (await totals()).bytesUsed !== before.bytesUsed; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 200));
    expect(await totals()).toEqual(before);
    expect(await code(client.stat({ hash: refHash(bytes) }))).toBe("NotFound");
    const ok = await client.store(upload(bytes), admin);
    expect(ok.hash).toBe(refHash(bytes));
    await client.delete({ hash: ok.hash }, admin);
  });

  it("oversized RPC messages are rejected and store nothing", async () => {
    const before = await totals();
    const huge = testBytes(MiB + 10, 26);
    expect(await code(client.store(upload(huge, {}, huge.length), admin))).toBe("ResourceExhausted");
    expect(await code(client.stat({ hash: refHash(huge) }))).toBe("NotFound");
    expect(await totals()).toEqual(before);
  });

  it("/readyz includes the store and /metrics exposes its figures", async () => {
    const ready = await (await fetch(`${node.url}/readyz`)).json();
    expect(ready.components.find((c: { name: string }) => c.name === "store")).toMatchObject({ ready: true, required: true });
    const text = await (await fetch(`${node.adminUrl}/metrics`)).text();
    const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
    expect(metric("slowdrip_store_bytes_used")).toBe((await totals()).bytesUsed);
    expect(metric("slowdrip_store_blobs")).toBe((await totals()).blobCount);
    expect(metric("slowdrip_store_capacity_bytes")).toBe(8 * MiB);
    expect(text).toMatch(/^slowdrip_store_imports_total\{result="created"\} [1-9]/m);
    expect(text).toMatch(/^slowdrip_store_imports_total\{result="full"\} 2$/m);
    expect(text).toMatch(/^slowdrip_store_imports_total\{result="mismatch"\} 1$/m);
    expect(text).toMatch(/^slowdrip_store_reads_total\{result="not_found"\} [1-9]/m);
    expect(text).toMatch(/^slowdrip_store_cache_hits_total \d+$/m);
  });
});

describe("StorageService concurrency limits", () => {
  let busy: RunningNode;
  afterAll(() => busy?.stop());

  it("a full store limit makes callers wait up to tuning.queue_timeout, then resource_exhausted", async () => {
    busy = await startTestNode({ "tuning.store_concurrency": "1", "tuning.queue_timeout": "200ms" }, storeOnly);
    const c = createClient(StorageService, createConnectTransport({ baseUrl: busy.adminUrl, httpVersion: "1.1" }));
    const auth = { headers: { authorization: `Bearer ${busy.adminToken}` } };
    let go!: () => void;
    const gate = new Promise<void>((r) => (go = r));
    async function* held(): AsyncGenerator<StoreRequest> {
      yield create(StoreRequestSchema, { header: {}, data: testBytes(1000, 51) });
      await gate;
    }
    const first = c.store(held(), auth);
    await new Promise((r) => setTimeout(r, 100));
    expect(await code(c.store(upload(testBytes(10, 52)), auth))).toBe("ResourceExhausted");
    go();
    expect((await first).size).toBe(1000n);
    expect(await code(c.store(upload(testBytes(10, 52)), auth))).toBe("ok");
  });
});
