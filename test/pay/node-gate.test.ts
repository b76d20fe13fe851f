// The real node (store + pay components on the one listener) charging for /blobs reads against a real nutshell mint.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePaymentRequest } from "@cashu/cashu-ts";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { PaymentRequiredSchema, PaymentService, WalletService } from "../../src/gen/slowdrip/v1/wallet_pb.ts";
import { StorageService } from "../../src/gen/slowdrip/v1/storage_pb.ts";
import { startMints, stopMints, type TestMint } from "../peers/mints.ts";
import { startTestNode } from "../helpers/node.ts";
import { tempWallet, type TempDb } from "./helpers.ts";
import { fullNode } from "../../src/node/components.ts";
import type { RunningNode } from "../../src/node/node.ts";
import { MiB } from "../../src/pay/pricing.ts";
import { publicKeyOf, randomSecret } from "../../src/identity/ed25519.ts";
import { hex } from "../../src/identity/hex.ts";
import { signRequest } from "../../src/identity/request-signing.ts";

let mints: TestMint[] = [];
let A = "";
let node: RunningNode;
const dbs: TempDb[] = [];
const blob = randomBytes(8 * MiB);
const freeSecret = randomSecret();
const freePeer = hex(publicKeyOf(freeSecret));
let hash = "";

// The first run on a machine installs nutshell into the cache (pip): allow minutes, not the default hook timeout.
beforeAll(async () => {
  mints = await startMints(1);
  A = mints[0]!.url;
  node = await startTestNode({ "pay.enabled": "true", "pay.trusted_mints": A, "pay.pricing.content_download": "2", "pay.free_peers": freePeer }, fullNode);
  const up = await fetch(`${node.adminUrl}/blobs`, { method: "PUT", body: blob, headers: { authorization: `Bearer ${node.adminToken}` } });
  expect(up.status).toBe(201);
  hash = ((await up.json()) as { hash: string }).hash;
}, 300_000);

afterAll(async () => {
  await node?.stop();
  for (const d of dbs) await d.close();
  await stopMints(mints);
});

describe("node: paid /blobs reads (real mint)", () => {
  it("GET without payment gets 402 with a NUT-18 request; HEAD stays free", async () => {
    const head = await fetch(`${node.url}/blobs/${hash}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    const r = await fetch(`${node.url}/blobs/${hash}`);
    expect(r.status).toBe(402);
    const body = (await r.json()) as { amount: number; mints: string[] };
    expect(body.amount).toBe(16);
    const pr = decodePaymentRequest(r.headers.get("x-cashu")!);
    expect(pr.amount?.toNumber()).toBe(16);
    expect(pr.mints).toEqual([A]);
    expect(r.headers.get("access-control-expose-headers")).toContain("x-cashu");
  });

  it("pays per MiB: the node's balance and ledger grow by the price, metrics count it", async () => {
    const { wallet: client, db } = await tempWallet([A]);
    dbs.push(db);
    await client.mint(A, 100);
    const token = (await client.send(16, { mint: A })).token;
    const r = await fetch(`${node.url}/blobs/${hash}`, { headers: { "x-cashu": token } });
    expect(r.status).toBe(200);
    expect(Buffer.from(await r.arrayBuffer()).equals(blob)).toBe(true);
    expect(r.headers.get("x-session")).toBeTruthy();
    expect(r.headers.get("cache-control")).toBe("private, no-store");
    expect(client.balance(A)).toBe(84);
    const metrics = await (await fetch(`${node.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/slowdrip_pay_402_total\{service="content-download"\} [1-9]/);
    expect(metrics).toContain(`slowdrip_pay_earned_sats_total{service="content-download",mint="${A}"} 16`);
    expect(metrics).toContain(`slowdrip_wallet_balance_sats{mint="${A}"} 16`);
    expect(metrics).toMatch(/slowdrip_pay_sessions_open 0/);
    // Same token again: refused, no bytes.
    const again = await fetch(`${node.url}/blobs/${hash}`, { headers: { "x-cashu": token } });
    expect(again.status).toBe(400);
    expect(again.headers.get("x-reason")).toBe("already-spent");
  });

  it("WalletService and PaymentService over RPC: admin-only wallet, public pricing, ledger and revenue", async () => {
    const transport = createConnectTransport({ baseUrl: node.adminUrl, httpVersion: "1.1" });
    const wallet = createClient(WalletService, transport);
    const payments = createClient(PaymentService, transport);
    const admin = { headers: { authorization: `Bearer ${node.adminToken}` } };
    const denied = await wallet.balance({}).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(ConnectError);
    expect((denied as ConnectError).code).toBe(Code.Unauthenticated);
    const pricing = await payments.getPricing({});
    expect(pricing.enabled).toBe(true);
    expect(pricing.acceptedMints).toEqual([A]);
    expect(pricing.services.find((x) => x.service === "content-download")).toMatchObject({ rate: 2n, per: "MiB" });

    const q = await wallet.mintQuote({ mint: A, amount: 50n }, admin);
    expect(q.request.startsWith("lnbc")).toBe(true);
    const m = await wallet.mint({ opId: q.opId }, admin);
    expect(m.op?.state).toBe("done");
    expect(m.minted).toBe(50n);
    const bal = await wallet.balance({}, admin);
    expect(bal.total).toBe(16n + 50n);
    const sent = await wallet.send({ amount: 5n, mint: A }, admin);
    expect(sent.token.startsWith("cashuB")).toBe(true);
    const back = await wallet.receive({ token: sent.token }, admin);
    expect(back.credited).toBe(5n);
    const bad = await wallet.receive({ token: "cashuBnope" }, admin).catch((e: unknown) => e);
    expect((bad as ConnectError).code).toBe(Code.InvalidArgument);
    const untrusted = await wallet.mintQuote({ mint: "http://127.0.0.1:9", amount: 1n }, admin).catch((e: unknown) => e);
    expect((untrusted as ConnectError).code).toBe(Code.FailedPrecondition);
    const mintsList = await wallet.listMints({}, admin);
    expect(mintsList.mints.map((x) => [x.mint, x.trusted])).toEqual([[A, true]]);

    const ledger = await payments.ledger({}, admin);
    expect(ledger.entries.find((e) => e.kind === "payment")).toMatchObject({ direction: "in", amount: 16n, service: "content-download", mint: A });
    const rev = await payments.revenue({}, admin);
    expect(rev.services.find((x) => x.service === "content-download")?.earned).toBe(16n);
    const sessions = await payments.listSessions({}, admin);
    expect(sessions.open).toBe(0);
  });

  it("RPC reads: resource_exhausted with a PaymentRequired detail, then the token in metadata pays; admin reads free", async () => {
    const storage = createClient(StorageService, createConnectTransport({ baseUrl: node.url, httpVersion: "1.1" }));
    const read = async (headers: Record<string, string> = {}, range: { offset?: bigint; length?: bigint } = {}) => {
      const parts: Uint8Array[] = [];
      let header: Headers | undefined;
      for await (const m of storage.fetchBlob({ hash, ...range }, { headers, onHeader: (h) => (header = h) })) parts.push(m.data);
      return { bytes: Buffer.concat(parts), header };
    };
    const err = await read().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    const ce = err as ConnectError;
    expect(ce.code).toBe(Code.ResourceExhausted);
    const [detail] = ce.findDetails(PaymentRequiredSchema);
    expect(detail?.amount).toBe(16n);
    expect(detail?.mints).toEqual([A]);
    expect(decodePaymentRequest(detail!.request).amount?.toNumber()).toBe(16);
    expect(ce.metadata.get("x-cashu")).toBe(detail!.request);

    const { wallet: client, db } = await tempWallet([A]);
    dbs.push(db);
    await client.mint(A, 40);
    // A session of 8 MiB paid over RPC, used by two 4 MiB reads, then exhausted.
    const token = (await client.send(16, { mint: A })).token;
    const r1 = await read({ "x-cashu": token }, { offset: 0n, length: BigInt(4 * MiB) });
    expect(r1.bytes.equals(blob.subarray(0, 4 * MiB))).toBe(true);
    const sid = r1.header?.get("x-session");
    expect(sid).toBeTruthy();
    const r2 = await read({ "x-session": sid! }, { offset: BigInt(4 * MiB), length: BigInt(4 * MiB) });
    expect(r2.bytes.equals(blob.subarray(4 * MiB))).toBe(true);
    const r3 = await read({ "x-session": sid! }, { offset: 0n, length: 1n }).catch((e: unknown) => e);
    expect((r3 as ConnectError).code).toBe(Code.ResourceExhausted);
    const bad = await read({ "x-cashu": "cashuBgarbage" }).catch((e: unknown) => e);
    expect((bad as ConnectError).code).toBe(Code.InvalidArgument);
    expect((bad as ConnectError).metadata.get("x-reason")).toBe("bad-token");
    const admin = await read({ authorization: `Bearer ${node.adminToken}` });
    expect(admin.bytes.equals(blob)).toBe(true);
  });

  it("free peers: a GET signed by a listed node id is free; a bad signature gets 400; other signers pay", async () => {
    const path = `/blobs/${hash}`;
    const signed = await fetch(`${node.url}${path}`, { headers: signRequest({ method: "GET", path }, freeSecret, freePeer, node.identity.nodeId) });
    expect(signed.status).toBe(200);
    expect(Buffer.from(await signed.arrayBuffer()).equals(blob)).toBe(true);
    const other = randomSecret();
    const stranger = await fetch(`${node.url}${path}`, { headers: signRequest({ method: "GET", path }, other, hex(publicKeyOf(other)), node.identity.nodeId) });
    expect(stranger.status).toBe(402);
    await stranger.arrayBuffer();
    const forged = { ...signRequest({ method: "GET", path: "/elsewhere" }, freeSecret, freePeer, node.identity.nodeId) };
    const bad = await fetch(`${node.url}${path}`, { headers: forged });
    expect(bad.status).toBe(400);
    expect(bad.headers.get("x-reason")).toBe("bad-signature");
    await bad.arrayBuffer();
  });
});

// Last, because it changes the node's balance that the tests above read.
describe("node: one token, many requests at once (real mint)", () => {
  it("the same token presented by five requests at once: one is served, the others are told to retry (409), none gets 503", async () => {
    const { wallet: client, db } = await tempWallet([A]);
    dbs.push(db);
    await client.mint(A, 16);
    const token = (await client.send(16, { mint: A })).token;
    const answers = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const r = await fetch(`${node.url}/blobs/${hash}`, { headers: { "x-cashu": token } });
        const bytes = Buffer.from(await r.arrayBuffer());
        return { status: r.status, reason: r.headers.get("x-reason"), retry: r.headers.get("retry-after"), ok: r.status === 200 && bytes.equals(blob) };
      }),
    );
    expect(answers.filter((a) => a.status === 200 && a.ok)).toHaveLength(1);
    expect(answers.filter((a) => a.status >= 500)).toEqual([]);
    const conflicts = answers.filter((a) => a.status === 409);
    expect(conflicts.length).toBeGreaterThanOrEqual(1);
    for (const c of conflicts) expect(c).toMatchObject({ reason: "redeem-in-progress", retry: "1" });
    // The others came after the redemption: the token's session is used up, so they are refused without bytes.
    for (const a of answers.filter((x) => x.status !== 200 && x.status !== 409)) expect([400, 402]).toContain(a.status);
  });
});
