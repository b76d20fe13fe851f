// The pay component: wallet, pricing, sessions and the 402 gate from the `pay` config; metrics; resumes wallet operations.
import { Counter, Gauge } from "prom-client";
import type { Config } from "../config/schema.ts";
import { readGate } from "../http/paygate.ts";
import { hasSignature, verifyRequest } from "../identity/request-signing.ts";
import { PayCounters, countLedger } from "../pay/counters.ts";
import { Gate } from "../pay/gate.ts";
import { Pricing, type PricingConfig } from "../pay/pricing.ts";
import { SessionStore } from "../pay/session.ts";
import { registerSwap } from "../pay/swap.ts";
import { PayWallet } from "../pay/wallet.ts";
import { openWalletDb } from "../pay/wallet-db.ts";
import { paymentService, payRpcError, walletService } from "../rpc/wallet.ts";
import { rpcReadGate } from "../rpc/paygate.ts";
import type { ReadGate } from "../http/paygate.ts";
import type { RpcReadGate } from "../rpc/paygate.ts";
import type { Component, NodeBase } from "./node.ts";

/** The `pay` config section as pricing options. */
export function pricingFromConfig(config: Config): Partial<PricingConfig> {
  return {
    enabled: config["pay.enabled"],
    trustedMints: config["pay.trusted_mints"],
    contentDownload: config["pay.pricing.content_download"],
    relayBandwidth: config["pay.pricing.relay_bandwidth"],
    liveView: config["pay.pricing.live_view"],
    freeAllowance: config["pay.free_allowance"],
    freePeers: config["pay.free_peers"],
    freePaths: config["pay.free_paths"],
    sessionDefault: config["pay.session_default"],
    sessionMax: config["pay.session_max"],
    sessionTtl: config["pay.session_ttl"],
    liveViewDefaultMinutes: config["pay.live_view_minutes"],
    headerMax: config["pay.header_max"],
  };
}

/** What other components and services use of the pay layer. */
export interface PayParts {
  wallet: PayWallet;
  pricing: Pricing;
  sessions: SessionStore;
  gate: Gate;
  counters: PayCounters;
}

/** The pay gate bound to each boundary: public HTTP reads (402) and paid RPC reads (resource_exhausted). */
export interface PayGates {
  http: ReadGate;
  rpc: RpcReadGate;
}

/** Opens the wallet in the node's LMDB environment (`<data_dir>/db`) and builds the gate; provides the pay parts and gates. */
export async function payComponent(ctx: NodeBase): Promise<Component & { pay: PayParts; gates: PayGates }> {
  const { config, log, readiness } = ctx;
  readiness.register("pay", { required: false, detail: "opening wallet" });
  // lmdb shares one environment per path within the process, so this is the same env the blob store uses
  // (openLmdb gives every opener the same maxDbs, whichever opens it first).
  // Private (db/ 0700, files 0600): the proofs in it are bearer money, and MediaMTX runs in the node's group.
  const root = await openWalletDb(ctx.dataDir);
  const wallet = await PayWallet.open({ db: root, trustedMints: config["pay.trusted_mints"], logger: log });
  registerSwap(wallet);
  const pricing = new Pricing(pricingFromConfig(config));
  const sessions = new SessionStore(root, { ttlMs: pricing.config.sessionTtl });
  const counters = new PayCounters();
  countLedger(wallet.ledger, counters);
  const gate = new Gate({ pricing, wallet, sessions, counters, logger: log });
  const httpGate = readGate(gate, {
    verifyPeer: (req, url) => {
      const get = (n: string) => {
        const v = req.headers[n];
        return Array.isArray(v) ? v[0] : v;
      };
      if (!hasSignature(get)) return undefined;
      return verifyRequest(get, { method: req.method ?? "GET", path: url.pathname }, ctx.nonces, { self: ctx.identity.nodeId, address: req.socket?.remoteAddress ?? "unknown" });
    },
  });
  registerPayMetrics(ctx, { wallet, sessions, counters });
  readiness.set("pay", true, pricing.config.enabled ? `charging; ${wallet.listMints().filter((m) => m.trusted).length} trusted mints` : "free (pay.enabled is false)");

  // Finish operations a crash interrupted; mints may be down, so this does not block the start.
  const resuming = wallet.resume().then(
    (ops) => {
      const open = ops.filter((o) => !["done", "failed", "aborted"].includes(o.state));
      if (ops.length) log.info({ resumed: ops.length, still_open: open.length }, "wallet: resumed interrupted operations");
    },
    (err: unknown) => log.warn({ err }, "wallet: resume failed"),
  );
  let resumeRunning: Promise<unknown> = resuming;
  const sweep = setInterval(() => {
    sessions.sweep();
    // Operations waiting on a payment or a mint that was down are retried in the background.
    if (wallet.listOps({ unfinished: true, limit: 1 }).length > 0) {
      resumeRunning = resumeRunning.then(() => wallet.resume()).catch((err: unknown) => log.warn({ err }, "wallet: background resume failed"));
    }
  }, 60_000);
  sweep.unref();
  return {
    name: "pay",
    pay: { wallet, pricing, sessions, gate, counters },
    gates: { http: httpGate, rpc: rpcReadGate(gate) },
    services: [walletService({ wallet }), paymentService({ wallet, pricing, sessions, gate })],
    rpcErrors: [payRpcError],
    async stop() {
      clearInterval(sweep);
      // A resume stuck on an unreachable mint must not hold up shutdown: every step is committed atomically, so an
      // operation cut off here simply resumes at the next start.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([resumeRunning, new Promise((r) => (timer = setTimeout(r, 2000)))]);
      clearTimeout(timer);
      await sessions.stop();
      readiness.set("pay", false, "closed");
      await root.close();
    },
  };
}

function registerPayMetrics(ctx: NodeBase, p: Pick<PayParts, "wallet" | "sessions" | "counters">): void {
  const registers = [ctx.metrics.registry];
  for (const c of p.counters.all()) {
    new Counter({
      name: c.name,
      help: c.help,
      labelNames: [...c.labels],
      registers,
      collect() {
        this.reset();
        for (const s of c.series()) this.inc(s.labels, s.value);
      },
    });
  }
  new Gauge({
    name: "slowdrip_pay_sessions_open",
    help: "Open metered sessions.",
    registers,
    collect() {
      this.set(p.sessions.count());
    },
  });
  new Gauge({
    name: "slowdrip_wallet_balance_sats",
    help: "Spendable wallet balance per mint.",
    labelNames: ["mint"],
    registers,
    collect() {
      this.reset();
      for (const [mint, sats] of Object.entries(p.wallet.balances())) this.set({ mint }, sats);
    },
  });
}
