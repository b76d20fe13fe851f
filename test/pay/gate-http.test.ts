// The 402 flow over HTTP against real nutshell mints: pay per MiB, double spend, bad tokens, sessions, a plain client.
// The HTTP server is a small node:http server (test/pay/helpers.ts) that calls the real gate binding (src/http/paygate.ts).
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Wallet as CashuWallet, decodePaymentRequest, getEncodedToken, getTokenMetadata, type Proof } from "@cashu/cashu-ts";
import { startMints, stopMints, type TestMint } from "../peers/mints.ts";
import { startGatedServer, tempWallet, type GatedServer, type TempDb } from "./helpers.ts";
import { MiB } from "../../src/pay/pricing.ts";
import type { PayWallet } from "../../src/pay/wallet.ts";

let mints: TestMint[] = [];
let feeMints: TestMint[] = [];
let A = "";
let B = "";
let F = "";
const dbs: TempDb[] = [];
const servers: GatedServer[] = [];
const blob = randomBytes(8 * MiB);
const PRICE_PER_MIB = 2;

async function startNode(accept: string[]): Promise<GatedServer> {
  const n = await startGatedServer({ accept, blob, pricePerMiB: PRICE_PER_MIB });
  servers.push(n);
  return n;
}

async function fundedClient(mint: string, amount: number, trust: string[] = [mint]): Promise<PayWallet> {
  const { wallet, db } = await tempWallet(trust);
  dbs.push(db);
  await wallet.mint(mint, amount);
  return wallet;
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const r = await fetch(url, { headers });
  return { status: r.status, headers: r.headers, body: Buffer.from(await r.arrayBuffer()) };
}

// The first run on a machine installs nutshell into the cache (pip): allow minutes, not the default hook timeout.
beforeAll(async () => {
  [mints, feeMints] = await Promise.all([startMints(2, { usd: true }), startMints(1, { feePpk: 100 })]);
  A = mints[0]!.url;
  B = mints[1]!.url;
  F = feeMints[0]!.url;
}, 300_000);

afterAll(async () => {
  for (const s of servers) await s.close();
  for (const d of dbs) await d.close();
  await stopMints([...mints, ...feeMints]);
});

describe("HTTP 402 gate (NUT-24) against real mints", () => {
  it("pay per MiB: 402, pay, bytes; node balance rises by the price, ledger has the entry", async () => {
    const node = await startNode([A]);
    const client = await fundedClient(A, 100);
    const first = await get(node.url);
    expect(first.status).toBe(402);
    const creq = first.headers.get("x-cashu")!;
    expect(creq.startsWith("creqA")).toBe(true);
    const pr = decodePaymentRequest(creq);
    expect(pr.amount?.toNumber()).toBe(8 * PRICE_PER_MIB);
    expect(pr.unit).toBe("sat");
    expect(pr.mints).toEqual([A]);
    const pay = await client.send(pr.amount!.toNumber(), { mint: A, ctx: { service: "content-download" } });
    const paid = await get(node.url, { "x-cashu": pay.token });
    expect(paid.status).toBe(200);
    expect(paid.body.equals(blob)).toBe(true);
    expect(node.wallet.balance(A)).toBe(16);
    expect(100 - client.balance(A)).toBe(16 + pay.fee);
    const led = node.wallet.ledger.list();
    expect(led).toHaveLength(1);
    expect(led[0]).toMatchObject({ direction: "in", kind: "payment", service: "content-download", amount: 16, mint: A, bytes: 8 * MiB });
    expect(led[0]!.peer).toBe("127.0.0.1");
    expect(node.counters.paymentRequired.get({ service: "content-download" })).toBe(1);
    expect(node.counters.earned.get({ service: "content-download", mint: A })).toBe(16);
  });

  it("pay per MiB at a mint with input fees: the node nets exactly the price, the client pays price plus fees", async () => {
    const node = await startNode([F]);
    const client = await fundedClient(F, 100);
    const first = await get(node.url);
    const pr = decodePaymentRequest(first.headers.get("x-cashu")!);
    expect(pr.mints).toEqual([F]);
    const pay = await client.send(pr.amount!.toNumber(), { mint: F });
    const paid = await get(node.url, { "x-cashu": pay.token });
    expect(paid.status).toBe(200);
    expect(paid.body.equals(blob)).toBe(true);
    expect(node.wallet.balance(F)).toBe(16);
    const spent = 100 - client.balance(F);
    expect(spent).toBeGreaterThan(16);
    const fees = client.ledger.list().filter((e) => e.direction === "out").reduce((s, e) => s + e.amount, 0) - 16;
    expect(spent).toBe(16 + fees);
    expect(node.wallet.ledger.list()).toMatchObject([{ direction: "in", amount: 16, mint: F, service: "content-download" }]);
  });

  it("double spend: the same token is accepted at most once, also across two nodes", async () => {
    const n1 = await startNode([A]);
    const n2 = await startNode([A]);
    const client = await fundedClient(A, 100);
    const token = (await client.send(16, { mint: A })).token;
    const ok = await get(n1.url, { "x-cashu": token });
    expect(ok.status).toBe(200);
    const again = await get(n1.url, { "x-cashu": token });
    expect(again.status).toBe(400);
    expect(again.headers.get("x-reason")).toBe("already-spent");
    expect(again.body.length).toBeLessThan(1024);
    const other = await get(n2.url, { "x-cashu": token });
    expect(other.status).toBe(400);
    expect(other.headers.get("x-reason")).toBe("already-spent");
    expect(n1.wallet.balance(A)).toBe(16);
    expect(n2.wallet.balance(A)).toBe(0);
    // Presented to both nodes at the same moment: exactly one accepts it.
    for (let round = 0; round < 3; round++) {
      const t = (await client.send(16, { mint: A })).token;
      const [r1, r2] = await Promise.all([get(n1.url, { "x-cashu": t }), get(n2.url, { "x-cashu": t })]);
      const statuses = [r1.status, r2.status].sort();
      expect(statuses, `round ${round}`).toEqual([200, 400]);
    }
    expect(n1.wallet.balance(A) + n2.wallet.balance(A)).toBe(16 + 3 * 16);
  });

  it("bad tokens get 400 with a reason, no bytes, and change nothing", async () => {
    const node = await startNode([A]);
    const client = await fundedClient(A, 100, [A, B]);
    await client.mint(B, 50);
    const cases: Array<{ name: string; header: string; reason: string }> = [];
    const fromB = (await client.send(16, { mint: B })).token;
    cases.push({ name: "wrong mint", header: fromB, reason: "wrong-mint" });
    const good = await client.send(16, { mint: A });
    const decoded = getTokenMetadata(good.token);
    expect(decoded.unit).toBe("sat");
    // Same proofs, labelled with another unit.
    const { wallet: probe, db } = await tempWallet([A]);
    dbs.push(db);
    const proofs = (await probe.cashu(A)).decodeToken(good.token).proofs as Proof[];
    cases.push({ name: "wrong unit", header: getEncodedToken({ mint: A, unit: "usd", proofs }), reason: "wrong-unit" });
    // Real usd proofs from the same mint: as a usd token, and relabelled as sat.
    const { wallet: usdClient, db: usdDb } = await tempWallet([A], { unit: "usd" });
    dbs.push(usdDb);
    await usdClient.mint(A, 500);
    const usdToken = (await usdClient.send(100, { mint: A })).token;
    expect(getTokenMetadata(usdToken).unit).toBe("usd");
    cases.push({ name: "usd token", header: usdToken, reason: "wrong-unit" });
    const usdProofs = (await usdClient.cashu(A)).decodeToken(usdToken).proofs as Proof[];
    cases.push({ name: "usd proofs labelled sat", header: getEncodedToken({ mint: A, unit: "sat", proofs: usdProofs }), reason: "wrong-unit" });
    const small = (await client.send(5, { mint: A })).token;
    cases.push({ name: "underpaid", header: small, reason: "underpaid" });
    cases.push({ name: "garbage", header: "cashuBthis-is-not-a-token", reason: "bad-token" });
    cases.push({ name: "not a token", header: "hello", reason: "bad-token" });
    cases.push({ name: "oversized header", header: "cashuB" + "A".repeat(10_000), reason: "header-too-large" });
    const before = client.balances();
    for (const c of cases) {
      const r = await get(node.url, { "x-cashu": c.header });
      expect(r.status, c.name).toBe(400);
      expect(r.headers.get("x-reason"), c.name).toBe(c.reason);
      expect(r.headers.get("content-type"), c.name).toBe("application/json");
      expect(r.body.length, c.name).toBeLessThan(2048);
    }
    expect(node.wallet.balances(), "node balance unchanged").toEqual({});
    expect(node.wallet.ledger.list(), "no ledger entry").toEqual([]);
    // The refused tokens were never redeemed: their owner can still take them back.
    for (const t of [fromB, good.token, small]) expect((await client.receive(t)).credited).toBeGreaterThan(0);
    expect((await usdClient.receive(usdToken)).credited).toBe(100);
    expect(client.balances()).toEqual({ [A]: before[A]! + 16 + 5, [B]: before[B]! + 16 });
  });

  it("sessions: a 10 MiB allotment serves 10 MiB across several requests, then 402", async () => {
    const node = await startNode([A]);
    const client = await fundedClient(A, 100);
    const ask = await get(node.url, { range: "bytes=0-4194303", "x-session-request": String(10 * MiB) });
    expect(ask.status).toBe(402);
    const pr = decodePaymentRequest(ask.headers.get("x-cashu")!);
    expect(pr.amount?.toNumber()).toBe(10 * PRICE_PER_MIB);
    const token = (await client.send(pr.amount!.toNumber(), { mint: A })).token;
    const r1 = await get(node.url, { range: "bytes=0-4194303", "x-cashu": token, "x-session-request": String(10 * MiB) });
    expect(r1.status).toBe(206);
    expect(r1.body.equals(blob.subarray(0, 4 * MiB))).toBe(true);
    const sid = r1.headers.get("x-session")!;
    expect(Number(r1.headers.get("x-session-remaining"))).toBe(6 * MiB);
    const r2 = await get(node.url, { range: `bytes=${4 * MiB}-${8 * MiB - 1}`, "x-session": sid });
    expect(r2.status).toBe(206);
    expect(r2.body.equals(blob.subarray(4 * MiB, 8 * MiB))).toBe(true);
    const r3 = await get(node.url, { range: `bytes=0-${2 * MiB - 1}`, "x-session": sid });
    expect(r3.status).toBe(206);
    expect(r3.body.length).toBe(2 * MiB);
    expect(Number(r3.headers.get("x-session-remaining"))).toBe(0);
    const r4 = await get(node.url, { range: "bytes=0-0", "x-session": sid });
    expect(r4.status).toBe(402);
    expect(r4.headers.get("x-cashu")?.startsWith("creqA")).toBe(true);
    expect(node.wallet.balance(A)).toBe(20);
    const s = node.gate.sessions.list();
    expect(s).toHaveLength(0);
  });

  it("live-view is sold by the minute: one payment opens a time session that serves every segment in it", async () => {
    const n = await startGatedServer({ accept: [A], blob: blob.subarray(0, 256 * 1024), liveView: { perMinute: 3, defaultMinutes: 5 } });
    servers.push(n);
    const client = await fundedClient(A, 100);
    const first = await get(n.url);
    expect(first.status).toBe(402);
    const pr = decodePaymentRequest(first.headers.get("x-cashu")!);
    expect(pr.amount?.toNumber()).toBe(15);
    const asked = await get(n.url, { "x-session-request": "2" });
    expect(decodePaymentRequest(asked.headers.get("x-cashu")!).amount?.toNumber()).toBe(6);
    const token = (await client.send(15, { mint: A })).token;
    const r1 = await get(n.url, { "x-cashu": token });
    expect(r1.status).toBe(200);
    const sid = r1.headers.get("x-session")!;
    expect(Number(r1.headers.get("x-session-remaining"))).toBeGreaterThan(4 * 60_000);
    for (let i = 0; i < 5; i++) expect((await get(n.url, { "x-session": sid })).status).toBe(200);
    expect(n.wallet.balance(A)).toBe(15);
    expect(n.wallet.ledger.list()).toMatchObject([{ service: "live-view", amount: 15 }]);
  });

  it("many clients paying at once: every payment is redeemed and served, each counted once", async () => {
    const node = await startNode([A]);
    const payer = await fundedClient(A, 400);
    const tokens: string[] = [];
    for (let i = 0; i < 12; i++) tokens.push((await payer.send(16, { mint: A })).token);
    const answers = await Promise.all(tokens.map((t) => get(node.url, { "x-cashu": t })));
    answers.forEach((r, i) => {
      expect(r.status, `client ${i}`).toBe(200);
      expect(r.body.length, `client ${i}`).toBe(blob.length);
    });
    expect(node.wallet.balance(A)).toBe(12 * 16);
    expect(node.wallet.ledger.list().filter((e) => e.kind === "payment")).toHaveLength(12);
    expect(node.gate.sessions.count()).toBe(0);
  });

  it("a token from an untrusted mint is refused", async () => {
    const node = await startNode([A]);
    const client = await fundedClient(B, 50);
    const token = (await client.send(16, { mint: B })).token;
    const r = await get(node.url, { "x-cashu": token });
    expect(r.status).toBe(400);
    expect(r.headers.get("x-reason")).toBe("wrong-mint");
    expect(node.wallet.balances()).toEqual({});
  });

  it("a plain cashu-ts client completes the 402 flow using only the headers", async () => {
    const node = await startNode([A]);
    // Everything below is the client's own code: cashu-ts only, no SlowDrip modules.
    const first = await fetch(node.url);
    expect(first.status).toBe(402);
    await first.arrayBuffer();
    const req = decodePaymentRequest(first.headers.get("x-cashu")!);
    const mint = req.mints![0]!;
    const w = new CashuWallet(mint, { unit: req.unit ?? "sat" });
    await w.loadMint();
    const q = await w.createMintQuoteBolt11(50);
    let state = (await w.checkMintQuoteBolt11(q.quote)).state;
    for (let i = 0; i < 40 && state !== "PAID"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      state = (await w.checkMintQuoteBolt11(q.quote)).state;
    }
    const proofs = await w.mintProofsBolt11(50, q.quote);
    const { send } = await w.send(req.amount!, proofs, { includeFees: true });
    const token = getEncodedToken({ mint, unit: req.unit ?? "sat", proofs: send });
    const paid = await fetch(node.url, { headers: { "X-Cashu": token } });
    expect(paid.status).toBe(200);
    expect(Buffer.from(await paid.arrayBuffer()).equals(blob)).toBe(true);
    expect(node.wallet.balance(A)).toBe(req.amount!.toNumber());
  });
});
