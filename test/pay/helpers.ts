// Shared helpers of the payment tests: temp LMDB roots, wallets, and a gated blob server on loopback.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { open, type RootDatabase } from "lmdb";
import { PayWallet, type PayWalletOptions } from "../../src/pay/wallet.ts";
import { chooseRange } from "../../src/http/blobs.ts";
import { gateRead } from "../../src/http/paygate.ts";
import { Gate } from "../../src/pay/gate.ts";
import { Pricing } from "../../src/pay/pricing.ts";
import { SessionStore } from "../../src/pay/session.ts";
import { PayCounters, countLedger } from "../../src/pay/counters.ts";

/** A temporary LMDB root that is removed by `close()`. */
export interface TempDb {
  dir: string;
  root: RootDatabase;
  close(): Promise<void>;
}

/** Opens a fresh LMDB environment in a temp dir (or in `dir` when given, to reopen after a crash). */
export function tempDb(dir?: string): TempDb {
  const d = dir ?? mkdtempSync(join(tmpdir(), "slowdrip-pay-"));
  const root = open({ path: join(d, "db") });
  return {
    dir: d,
    root,
    async close() {
      await root.close();
      if (!dir) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** Opens a wallet on a fresh temp DB, trusting `mints`. */
export async function tempWallet(mints: readonly string[], opts: Partial<PayWalletOptions> = {}): Promise<{ wallet: PayWallet; db: TempDb }> {
  const db = tempDb();
  const wallet = await PayWallet.open({ db: db.root, trustedMints: mints, quoteWaitMs: 10_000, ...opts });
  return { wallet, db };
}

/** A small node:http server serving one blob at /blobs/big through the real gate binding. */
export interface GatedServer {
  url: string;
  wallet: PayWallet;
  gate: Gate;
  counters: PayCounters;
  close(): Promise<void>;
}

/**
 * Starts a gated blob server on a loopback port: a node wallet trusting `accept`, pricing `pricePerMiB` sats per MiB
 * for content-download (or free when `enabled` is false), serving `blob` with single Range support.
 */
export async function startGatedServer(opts: {
  accept: string[];
  blob: Uint8Array;
  pricePerMiB?: number;
  enabled?: boolean;
  /** Serve as live-view segments (priced per minute) instead of content-download. */
  liveView?: { perMinute: number; defaultMinutes: number };
}): Promise<GatedServer> {
  const { wallet, db } = await tempWallet(opts.accept);
  const counters = new PayCounters();
  countLedger(wallet.ledger, counters);
  const pricing = new Pricing({
    enabled: opts.enabled ?? true,
    trustedMints: opts.accept,
    contentDownload: opts.pricePerMiB ?? 2,
    ...(opts.liveView ? { liveView: opts.liveView.perMinute, liveViewDefaultMinutes: opts.liveView.defaultMinutes } : {}),
  });
  const gate = new Gate({ pricing, wallet, sessions: new SessionStore(db.root, { ttlMs: 3_600_000 }), counters });
  const blob = opts.blob;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const choice = chooseRange(req.headers.range, blob.length);
    if (choice.kind === "unsatisfiable") {
      res.writeHead(416).end();
      return;
    }
    const [start, end] = choice.kind === "range" ? [choice.start, choice.end] : [0, blob.length - 1];
    gateRead(gate, req, res, url, { service: opts.liveView ? "live-view" : "content-download", bytes: end - start + 1 })
      .then((ok) => {
        if (!ok) return;
        res.writeHead(choice.kind === "range" ? 206 : 200, { "content-length": String(end - start + 1), "content-type": "application/octet-stream" });
        for (let o = start; o <= end; o += 64 * 1024) res.write(blob.subarray(o, Math.min(end + 1, o + 64 * 1024)));
        res.end();
      })
      .catch((e) => {
        res.writeHead(500).end(String(e));
      });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/blobs/big`,
    wallet,
    gate,
    counters,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await gate.sessions.stop();
      await db.close();
    },
  };
}
