// BUD-07 against a real nutshell mint and a real `slowdrip run`: an upload by a pubkey that may not upload free needs
// payment (402 with a NUT-18 creqA), then succeeds after paying with a cashuB token from an independent cashu-ts
// client (blossom-client-sdk's payment hook); a cashuA token works too; bad and spent proofs get 400 with X-Reason and
// store nothing; a paid download works the same way; the node's ledger has the sats under content-upload.
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Wallet as CashuWallet, decodePaymentRequest, getEncodedToken, type Proof } from "@cashu/cashu-ts";
import { Actions, createUploadAuth } from "blossom-client-sdk";
import { startMints, stopMints, type TestMint } from "../peers/mints.ts";
import { runCli, spawnNode, tempDir, type SpawnedNode } from "../helpers/node.ts";
import { authEvent, authHeader, nostrUser, sha256Hex, stopNode } from "./helpers.ts";

const MiB = 1024 * 1024;
const payer = nostrUser();
const dir = tempDir("slowdrip-blossom-paid-");
let mints: TestMint[] = [];
let node: SpawnedNode;
let mint = "";
let cashu: CashuWallet;
let purse: Proof[] = [];

/** A token worth `amount` sats from the independent client's purse (cashuB unless `v3`). */
async function pay(amount: number, v3 = false): Promise<string> {
  const { send, keep } = await cashu.send(amount, purse, { includeFees: true });
  purse = keep;
  if (!v3) return getEncodedToken({ mint, unit: "sat", proofs: send });
  // NUT-00 V3 (cashuA): base64url of the JSON token, as older wallets send it.
  const plain = send.map((p) => ({ id: p.id, amount: Number(p.amount), secret: p.secret, C: p.C }));
  return `cashuA${Buffer.from(JSON.stringify({ token: [{ mint, proofs: plain }], unit: "sat" })).toString("base64url")}`;
}

async function usage(): Promise<number> {
  const text = await (await fetch(`${node.adminUrl}/metrics`)).text();
  return Number(/^slowdrip_store_blobs (\S+)$/m.exec(text)?.[1]);
}

// The first run on a machine installs nutshell into the cache (pip): allow minutes, not the default hook timeout.
beforeAll(async () => {
  mints = await startMints(1);
  mint = mints[0]!.url;
  node = await spawnNode([
    "--data-dir", dir,
    "--set", "pay.enabled=true",
    "--set", `pay.trusted_mints=${mint}`,
    "--set", "pay.pricing.content_upload=2",
    "--set", "pay.pricing.content_download=1",
  ]);
  cashu = new CashuWallet(mint, { unit: "sat" });
  await cashu.loadMint();
  const q = await cashu.createMintQuoteBolt11(500);
  let state = (await cashu.checkMintQuoteBolt11(q.quote)).state;
  for (let i = 0; i < 100 && state !== "PAID"; i++) {
    await new Promise((r) => setTimeout(r, 100));
    state = (await cashu.checkMintQuoteBolt11(q.quote)).state;
  }
  purse = await cashu.mintProofsBolt11(500, q.quote);
}, 300_000);

afterAll(async () => {
  await stopNode(node);
  await stopMints(mints);
  rmSync(dir, { recursive: true, force: true });
});

describe("BUD-07 paid uploads and downloads (real mint, cashu-ts client)", () => {
  const bytes = randomBytes(3 * MiB);
  const sha256 = sha256Hex(bytes);
  const auth = () => authHeader(authEvent(payer, { x: [sha256] }));

  it("HEAD /upload and PUT /upload without payment get 402 with a NUT-18 request; nothing is stored", async () => {
    const before = await usage();
    const head = await fetch(`${node.url}/upload`, { method: "HEAD", headers: { authorization: auth(), "x-sha-256": sha256, "x-content-length": String(bytes.length) } });
    expect(head.status).toBe(402);
    const req = decodePaymentRequest(head.headers.get("x-cashu")!);
    expect(head.headers.get("x-cashu")!.startsWith("creqA")).toBe(true);
    expect(req.amount?.toNumber()).toBe(6);
    expect(req.mints).toEqual([mint]);
    const put = await fetch(`${node.url}/upload`, { method: "PUT", body: bytes, headers: { authorization: auth(), "x-sha-256": sha256 } });
    expect(put.status).toBe(402);
    expect(put.headers.get("x-cashu")!.startsWith("creqA")).toBe(true);
    expect(await usage()).toBe(before);
  });

  it("bad and spent proofs get 400 with X-Reason and store nothing", async () => {
    const before = await usage();
    const put = (token: string) => fetch(`${node.url}/upload`, { method: "PUT", body: bytes, headers: { authorization: auth(), "x-sha-256": sha256, "x-cashu": token } });
    const garbage = await put("cashuBnotatoken");
    expect(garbage.status).toBe(400);
    expect(garbage.headers.get("x-reason")).toBeTruthy();
    const small = await put(await pay(2));
    expect(small.status).toBe(400);
    expect(small.headers.get("x-reason")).toBe("underpaid");
    // A token whose proofs were spent at the mint (the client took them back) is refused by the mint's answer.
    const token = await pay(6);
    purse.push(...(await cashu.receive(token)));
    const spent = await put(token);
    expect(spent.status).toBe(400);
    expect(spent.headers.get("x-reason")).toBeTruthy();
    expect(await usage()).toBe(before);
  });

  it("blossom-client-sdk uploads after paying with a cashuB token; the ledger has it under content-upload", async () => {
    const paid: number[] = [];
    const desc = await Actions.uploadBlob(node.url, new Blob([bytes], { type: "video/mp4" }), {
      auth: true,
      onAuth: (s, hash) => createUploadAuth(payer.signer, hash, { servers: s }),
      onPaymentRequired: async (_s, _hash, _blob, headers) => {
        const req = decodePaymentRequest(headers.get("x-cashu")!);
        paid.push(req.amount!.toNumber());
        return { "X-Cashu": await pay(req.amount!.toNumber()) };
      },
    });
    expect(paid).toEqual([6]);
    expect(desc).toMatchObject({ sha256, size: bytes.length, type: "video/mp4" });
    const got = await fetch(`${node.url}/blobs/${(desc as unknown as { blake3: string }).blake3}`, { method: "HEAD" });
    expect(got.status).toBe(200);
    const token = readFileSync(join(dir, "admin.token"), "utf8").trim();
    const ledger = await runCli(["wallet", "ledger", "--service", "content-upload", "--json", "--url", node.adminUrl, "--token", token]);
    expect(ledger.code, ledger.stderr).toBe(0);
    expect(ledger.stdout).toMatch(/"amount":\s*"?6"?/);
  });

  it("a cashuA (V3) token pays as well; what it bought is its session's, never a second service's", async () => {
    const other = randomBytes(MiB + 1);
    const h = sha256Hex(other);
    const token = await pay(4, true);
    const put = (body: Uint8Array<ArrayBuffer>, t: string) =>
      fetch(`${node.url}/upload`, { method: "PUT", body, headers: { authorization: authHeader(authEvent(payer, { x: [sha256Hex(body)] })), "x-sha-256": sha256Hex(body), "x-cashu": t } });
    const r = await put(other, token);
    expect(r.status, r.headers.get("x-reason") ?? "").toBe(201);
    expect(((await r.json()) as { sha256: string }).sha256).toBe(h);
    expect(Number(r.headers.get("x-session-remaining"))).toBe(2 * MiB - (MiB + 1));
    // The same token again opens the session it paid for (its allotment is not lost), charged once.
    const small = await put(randomBytes(10), token);
    expect(small.status).toBe(201);
    expect(await put(randomBytes(MiB), token).then((x) => x.status)).toBe(402);
    // It bought uploads: a download with it is refused.
    const spent = await fetch(`${node.url}/${h}`, { headers: { "x-cashu": token } });
    expect(spent.status).toBe(400);
    expect(spent.headers.get("x-reason")).toBe("already-spent");
  });

  it("a paid download: 402 with X-Cashu, then the bytes for a cashuB token", async () => {
    const first = await fetch(`${node.url}/${sha256}.mp4`);
    expect(first.status).toBe(402);
    await first.arrayBuffer();
    const req = decodePaymentRequest(first.headers.get("x-cashu")!);
    expect(req.amount?.toNumber()).toBe(3);
    const res = await fetch(`${node.url}/${sha256}.mp4`, { headers: { "x-cashu": await pay(3) } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("video/mp4");
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
  });
});
