// `slowdrip wallet` end to end: the built CLI against a spawned `slowdrip run` node and two real nutshell mints.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Wallet as CashuWallet } from "@cashu/cashu-ts";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { WalletService } from "../../src/gen/slowdrip/v1/wallet_pb.ts";
import { startMints, stopMints, type TestMint } from "../peers/mints.ts";
import { runCli, spawnNode, tempDir } from "../helpers/node.ts";

let mints: TestMint[] = [];
let A = "";
let B = "";
let child: ChildProcess | undefined;
let url = "";
let token = "";

async function wallet(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCli(["wallet", ...args, "--url", url, "--token", token]);
}

// The first run on a machine installs nutshell into the cache (pip): allow minutes, not the default hook timeout.
beforeAll(async () => {
  mints = await startMints(2);
  A = mints[0]!.url;
  B = mints[1]!.url;
  const dir = tempDir();
  const n = await spawnNode(["--data-dir", dir, "--listen", "127.0.0.1:0", "--log-level", "info"], {
    SLOWDRIP_PAY_ENABLED: "true",
    SLOWDRIP_PAY_TRUSTED_MINTS: `${A},${B}`,
  });
  child = n.child;
  url = n.adminUrl;
  token = readFileSync(join(dir, "admin.token"), "utf8").trim();
}, 300_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill("SIGTERM");
    await new Promise((r) => child!.once("exit", r));
  }
  await stopMints(mints);
});

describe("slowdrip wallet (CLI -> node -> real mints)", () => {
  it("mint, balance, send, receive, swap, mints, ledger", async () => {
    const m = await wallet("mint", "100", "--mint", A);
    expect(m.code, m.stderr).toBe(0);
    expect(m.stdout).toContain("minted 100 sat");
    expect(m.stderr).toMatch(/lnbc/);
    const bal = await wallet("balance", "--check");
    expect(bal.code, bal.stderr).toBe(0);
    expect(bal.stdout).toContain(`${A}  100 sat`);
    expect(bal.stdout).toContain("total  100 sat");
    const s = await wallet("send", "10", "--mint", A);
    expect(s.code, s.stderr).toBe(0);
    const tok = s.stdout.trim();
    expect(tok.startsWith("cashuB")).toBe(true);
    const r = await wallet("receive", tok);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("received 10 sat");
    const again = await wallet("receive", tok);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already/);
    const sw = await wallet("swap", "--from", A, "--to", B, "--amount", "20", "--max-fee", "10");
    expect(sw.code, sw.stderr).toBe(0);
    expect(sw.stdout).toMatch(/swap .*: done/);
    const json = JSON.parse((await wallet("mints", "--json")).stdout) as Array<{ mint: string; balance: number; trusted: boolean }>;
    const b = json.find((x) => x.mint === B)!;
    expect(b.balance).toBe(20);
    const a = json.find((x) => x.mint === A)!;
    expect(100 - a.balance - 20).toBeLessThanOrEqual(10);
    const capped = await wallet("swap", "--from", A, "--to", B, "--amount", "20", "--max-fee", "0");
    expect(capped.code).not.toBe(0);
    expect(capped.stderr).toMatch(/fee .* above the cap/);
    const led = await wallet("ledger");
    expect(led.stdout).toMatch(/\+100 sat {2}mint/);
    expect(led.stdout).toMatch(/\+20 sat {2}swap/);
    const bad = await wallet("send", "-5");
    expect(bad.code).not.toBe(0);
  });

  it("melt pays an invoice; pricing, revenue and sessions report", async () => {
    await wallet("mint", "60", "--mint", A);
    const b = new CashuWallet(B);
    await b.loadMint();
    const q = await b.createMintQuoteBolt11(25);
    const capped = await wallet("melt", q.request, "--mint", A, "--max-fee", "0");
    expect(capped.code).not.toBe(0);
    expect(capped.stderr).toMatch(/fee/);
    const m = await wallet("melt", q.request, "--mint", A, "--max-fee", "5");
    expect(m.code, m.stderr).toBe(0);
    expect(m.stdout).toMatch(/paid 25 sat \(melt .*: done/);
    expect((await b.checkMintQuoteBolt11(q.quote)).state).not.toBe("UNPAID");
    const pricing = await runCli(["wallet", "pricing", "--url", url]);
    expect(pricing.code, pricing.stderr).toBe(0);
    expect(pricing.stdout).toContain("charging: yes");
    expect(pricing.stdout).toContain("content-download  1 sat per MiB");
    const rev = JSON.parse((await wallet("revenue", "--json")).stdout) as { services: Array<{ service: string; spent: number }> };
    expect(rev.services.find((x) => x.service === "wallet")!.spent).toBeGreaterThanOrEqual(25);
    const sessions = await wallet("sessions");
    expect(sessions.code).toBe(0);
    const help = await runCli(["wallet", "--help"]);
    expect(help.stdout + help.stderr).toContain("slowdrip wallet <subcommand>");
  });

  it("pending lists sent tokens until reclaimed; a send cut off by its deadline strands nothing", async () => {
    const m = await wallet("mint", "50", "--mint", A);
    expect(m.code, m.stderr).toBe(0);
    const balanceA = async () => (JSON.parse((await wallet("mints", "--json")).stdout) as Array<{ mint: string; balance: number; reserved: number }>).find((x) => x.mint === A)!;
    const pending = async () => JSON.parse((await wallet("pending", "--json")).stdout) as Array<{ opId: string; amount: number; token: string }>;
    const before = (await balanceA()).balance;
    const s = await wallet("send", "7", "--mint", A);
    expect(s.code, s.stderr).toBe(0);
    const sent = (await pending()).find((p) => p.token === s.stdout.trim());
    expect(sent, "the token is on the pending list").toMatchObject({ amount: 7 });
    const text = await wallet("pending");
    expect(text.stdout).toContain(`${sent!.opId}  7 sat  ${A}`);
    const back = await wallet("reclaim", sent!.opId);
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toBe(`reclaimed 7 sat from ${sent!.opId}\n`);
    expect((await pending()).map((p) => p.opId)).not.toContain(sent!.opId);
    expect((await balanceA()).balance).toBe(before);
    const twice = await wallet("reclaim", sent!.opId);
    expect(twice.code, twice.stderr).toBe(0);
    const none = await wallet("reclaim", "send-00000000-0000-0000-0000-000000000000");
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/FailedPrecondition: no send operation/);

    // A caller whose deadline passes while the node splits proofs never gets the token: its value must come back.
    const earlier = new Set((await pending()).map((p) => p.opId));
    const client = createClient(WalletService, createConnectTransport({ baseUrl: url, httpVersion: "1.1" }));
    const cut = await client.send({ amount: 9n, mint: A }, { headers: { authorization: `Bearer ${token}` }, timeoutMs: 5 }).then(() => "answered", (e: unknown) => e);
    expect(cut).toBeInstanceOf(Error);
    const deadline = Date.now() + 30_000;
    let row = await balanceA();
    while (row.reserved > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      row = await balanceA();
    }
    expect(row.reserved).toBe(0);
    // Whatever the node was doing when the deadline passed, the 9 sat are either back or on the pending list.
    const left = (await pending()).filter((p) => !earlier.has(p.opId));
    expect(row.balance + left.reduce((x, p) => x + p.amount, 0)).toBe(before);
    for (const p of left) expect((await wallet("reclaim", p.opId)).code).toBe(0);
    expect((await balanceA()).balance).toBe(before);
    // A dozen CLI processes: allow for a loaded machine.
  }, 180_000);

  it("refuses without the admin token, and an untrusted mint", async () => {
    const r = await runCli(["wallet", "balance", "--url", url, "--token", "nope"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Unauthenticated/);
    const u = await wallet("mint", "5", "--mint", "http://127.0.0.1:9");
    expect(u.code).not.toBe(0);
    expect(u.stderr).toMatch(/not trusted/);
  });
});
