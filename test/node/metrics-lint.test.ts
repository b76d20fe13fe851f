// /metrics passes Prometheus' own linter (promtool check metrics) on a default node and on a paying one (real mint).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { NodeService } from "../../src/gen/slowdrip/v1/node_pb.ts";
import { WalletService } from "../../src/gen/slowdrip/v1/wallet_pb.ts";
import { spawnNode, tempDir } from "../helpers/node.ts";
import { installPromtool, promtoolCheckMetrics } from "../peers/promtool.ts";
import { startMints, stopMints, type TestMint } from "../peers/mints.ts";
import { tempWallet, type TempDb } from "../pay/helpers.ts";

let promtool = "";
let mints: TestMint[] = [];
const nodes: ChildProcess[] = [];
const dbs: TempDb[] = [];

// The first run on a machine builds promtool (minutes) and installs nutshell (pip).
beforeAll(async () => {
  [promtool, mints] = await Promise.all([installPromtool(), startMints(1)]);
}, 1_800_000);
afterAll(async () => {
  for (const c of nodes) c.kill("SIGKILL");
  for (const d of dbs) await d.close();
  await stopMints(mints);
});

/** Starts `slowdrip run`, drives some traffic through it so labelled series exist, and returns its /metrics text. */
async function metricsOf(flags: string[], traffic: (url: string, adminUrl: string, token: string) => Promise<void>): Promise<string> {
  const dataDir = tempDir();
  const n = await spawnNode(["--data-dir", dataDir, "--listen", "127.0.0.1:0", ...flags]);
  nodes.push(n.child);
  const token = readFileSync(join(dataDir, "admin.token"), "utf8").trim();
  const client = createClient(NodeService, createConnectTransport({ baseUrl: n.adminUrl, httpVersion: "1.1" }));
  await client.getStatus({});
  await fetch(`${n.url}/healthz`);
  await fetch(`${n.url}/nope`);
  const put = await fetch(`${n.adminUrl}/blobs`, { method: "PUT", headers: { authorization: `Bearer ${token}` }, body: "metrics lint" });
  const { hash } = (await put.json()) as { hash: string };
  await fetch(`${n.url}/blobs/${hash}`);
  await traffic(n.url, n.adminUrl, token);
  return (await fetch(`${n.adminUrl}/metrics`)).text();
}

describe("promtool check metrics", () => {
  it("is clean on a default node, whose process and runtime metrics keep their standard names", async () => {
    const text = await metricsOf([], async () => {});
    expect(text).toMatch(/^process_cpu_seconds_total /m);
    expect(text).toMatch(/^process_resident_memory_bytes /m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
    expect(text).not.toMatch(/^slowdrip_(process|nodejs)_/m);
    const r = await promtoolCheckMetrics(promtool, text);
    expect(r).toEqual({ code: 0, output: "" });
  });

  it("is clean on a paying node that has answered 402, taken a payment and holds a balance", async () => {
    const A = mints[0]!.url;
    const text = await metricsOf(["--set", "pay.enabled=true", "--set", `pay.trusted_mints=${A}`], async (url, adminUrl, token) => {
      const { wallet, db } = await tempWallet([A]);
      dbs.push(db);
      await wallet.mint(A, 50);
      const blob = await fetch(`${adminUrl}/blobs`, { method: "PUT", headers: { authorization: `Bearer ${token}` }, body: "paid bytes" });
      const { hash } = (await blob.json()) as { hash: string };
      expect((await fetch(`${url}/blobs/${hash}`)).status).toBe(402);
      const paid = await fetch(`${url}/blobs/${hash}`, { headers: { "x-cashu": (await wallet.send(5, { mint: A })).token } });
      expect(paid.status).toBe(200);
      await paid.arrayBuffer();
      const w = createClient(WalletService, createConnectTransport({ baseUrl: adminUrl, httpVersion: "1.1" }));
      expect((await w.balance({}, { headers: { authorization: `Bearer ${token}` } })).total).toBeGreaterThan(0n);
    });
    expect(text).toMatch(/^slowdrip_pay_earned_sats_total\{/m);
    expect(text).toMatch(/^slowdrip_wallet_balance_sats\{/m);
    const r = await promtoolCheckMetrics(promtool, text);
    expect(r).toEqual({ code: 0, output: "" });
  });
});
