// The fuzz target: a real `slowdrip run` with the store and pay on, against a real nutshell mint, seeded with blobs, a
// paid session and a token spent elsewhere; and the node's observable state (store, wallet, ledger, sessions, data dir), read over the admin surface.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { create, toJson } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { StorageService, StoreRequestSchema, type StoreRequest } from "../../src/gen/slowdrip/v1/storage_pb.ts";
import { BalanceResponseSchema, LedgerResponseSchema, ListMintsResponseSchema, ListSessionsResponseSchema, PaymentService, WalletService, GetPricingResponseSchema } from "../../src/gen/slowdrip/v1/wallet_pb.ts";
import { refHash, testBytes } from "../../src/store/contract.ts";
import { spawnNode, tempDir } from "../helpers/node.ts";
import { startMints, stopMints, type TestMint } from "../peers/mints.ts";
import { tempWallet, type TempDb } from "../pay/helpers.ts";

/** A running fuzz target. */
export interface FuzzTarget {
  /** The listener under fuzz: the node's public one (the `url` of its "node started" line). */
  url: string;
  /** The admin listener (`admin_url`): only the seeding and the state reads go there, never a fuzz case. */
  adminUrl: string;
  adminToken: string;
  dataDir: string;
  mint: string;
  /** Hashes of the stored blobs. */
  hashes: string[];
  /** A token another wallet has already redeemed at the mint (presenting it must change nothing). */
  spentToken: string;
  child: ChildProcess;
  /** Everything the node printed so far. */
  logs(): string;
  stop(): Promise<void>;
}

/** Blobs the target holds: empty, small, over one store chunk, and one pinned with tags (uploaded over RPC). */
const BLOBS = [testBytes(0, 1), testBytes(1000, 2), testBytes(300_000, 3)];
const PINNED = testBytes(5000, 4);

/** Starts the mint and the node, fills the store and spends one token on a paid read. */
export async function startFuzzTarget(): Promise<FuzzTarget> {
  const mints: TestMint[] = await startMints(1);
  const mint = mints[0]!.url;
  const dbs: TempDb[] = [];
  let child: ChildProcess | undefined;
  try {
    const dataDir = tempDir("slowdrip-fuzz-");
    const node = await spawnNode(["--data-dir", dataDir, "--listen", "127.0.0.1:0", "--set", "pay.enabled=true", "--set", `pay.trusted_mints=${mint}`, "--set", "films.relay=true"]);
    child = node.child;
    const url = node.url;
    const adminUrl = node.adminUrl;
    const adminToken = readFileSync(join(dataDir, "admin.token"), "utf8").trim();
    const auth = { authorization: `Bearer ${adminToken}` };

    const hashes: string[] = [];
    for (const b of BLOBS) {
      const r = await fetch(`${adminUrl}/blobs`, { method: "PUT", headers: auth, body: Buffer.from(b) });
      if (r.status !== 201) throw new Error(`seeding the store: PUT answered ${r.status} ${await r.text()}`);
      hashes.push(((await r.json()) as { hash: string }).hash);
    }
    const storage = createClient(StorageService, createConnectTransport({ baseUrl: adminUrl, httpVersion: "1.1" }));
    async function* pinned(): AsyncGenerator<StoreRequest> {
      yield create(StoreRequestSchema, { header: { pin: true, tags: ["fuzz", "pinned"] } });
      yield create(StoreRequestSchema, { data: PINNED });
    }
    hashes.push((await storage.store(pinned(), { headers: auth })).hash);

    // One paid read, so that the wallet holds a balance and a session is open. Its token stays with the seeding: the
    // node answers a retry of a token it redeemed with the session that token bought (a payer who lost the answer
    // must get what it paid for), so presenting it again would rightly draw the session down.
    const { wallet, db } = await tempWallet([mint]);
    dbs.push(db);
    await wallet.mint(mint, 32);
    const paidToken = (await wallet.send(4, { mint })).token;
    const paid = await fetch(`${url}/blobs/${hashes[1]}`, { headers: { "x-cashu": paidToken, "x-session-request": "1048576" } });
    if (paid.status !== 200) throw new Error(`the seeding payment answered ${paid.status} ${await paid.text()}`);
    await paid.arrayBuffer();
    // The fuzzer's spent token was redeemed by another wallet: to the node it is a token the mint has seen spent.
    const other = await tempWallet([mint]);
    dbs.push(other.db);
    const spentToken = (await wallet.send(4, { mint })).token;
    await other.wallet.receive(spentToken);

    const proc = node.child;
    return {
      url,
      adminUrl,
      adminToken,
      dataDir,
      mint,
      hashes,
      spentToken,
      child: proc,
      logs: node.logs,
      async stop() {
        if (proc.exitCode === null && proc.signalCode === null) {
          const exited = new Promise((r) => proc.once("exit", r));
          proc.kill("SIGTERM");
          const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
          await exited;
          clearTimeout(t);
        }
        for (const d of dbs) await d.close();
        await stopMints(mints);
      },
    };
  } catch (err) {
    child?.kill("SIGKILL");
    for (const d of dbs) await d.close();
    await stopMints(mints);
    throw err;
  }
}

/** Paths under the data dir, with the size of files outside db/ (LMDB's own files may grow without a change of state). */
function files(dir: string, rel = ""): string[] {
  return readdirSync(join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) return [`${p}/`, ...files(dir, p)];
    return [p.startsWith("db/") ? p : `${p} ${statSync(join(dir, p)).size}`];
  });
}

/** The node's observable state, as comparable JSON: every blob (metadata and a BLAKE3 check of its bytes), the wallet,
 * the ledger, the sessions, the pricing and the data dir's files. */
export async function observeState(t: FuzzTarget): Promise<unknown> {
  const auth = { headers: { authorization: `Bearer ${t.adminToken}` } };
  const transport = createConnectTransport({ baseUrl: t.adminUrl, httpVersion: "1.1" });
  const storage = createClient(StorageService, transport);
  const wallet = createClient(WalletService, transport);
  const payment = createClient(PaymentService, transport);
  const blobs: unknown[] = [];
  for (let after = "", page = 0; page < 100; page++) {
    const r = await storage.list({ after, limit: 1000 }, auth);
    for (const b of r.blobs) {
      const parts: Uint8Array[] = [];
      for await (const m of storage.fetchBlob({ hash: b.hash }, auth)) parts.push(m.data);
      const bytes = Buffer.concat(parts);
      blobs.push({ hash: b.hash, size: Number(b.size), pinned: b.pinned, tags: b.tags, source: b.source, created: Number(b.createdUnixMs), intact: bytes.length === Number(b.size) && refHash(bytes) === b.hash });
    }
    if (!r.next) break;
    after = r.next;
  }
  return {
    blobs,
    balance: toJson(BalanceResponseSchema, await wallet.balance({}, auth)),
    mints: toJson(ListMintsResponseSchema, await wallet.listMints({}, auth)),
    ledger: toJson(LedgerResponseSchema, await payment.ledger({ limit: 10_000 }, auth)),
    sessions: toJson(ListSessionsResponseSchema, await payment.listSessions({ limit: 10_000 }, auth)),
    pricing: toJson(GetPricingResponseSchema, await payment.getPricing({})),
    files: files(t.dataDir).sort(),
  };
}

/** Lines the node logged at error level or above, or that report an unexpected error. */
export function serverErrors(logs: string): string[] {
  return logs.split("\n").filter((l) => {
    if (!l.startsWith("{")) return l.trim() !== "" && /error|unexpected/i.test(l);
    try {
      const j = JSON.parse(l) as { level?: number; msg?: string };
      return (j.level ?? 0) >= 50 || /unexpected error/i.test(j.msg ?? "");
    } catch {
      return true;
    }
  });
}
