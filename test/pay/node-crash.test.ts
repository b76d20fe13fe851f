// The real `slowdrip run` process SIGKILLed in the middle of a swap (driven by the CLI) and of a paid read (driven by
// a client paying over HTTP), then restarted: the node's startup resume finishes both exactly once.
// The kill is injected with SLOWDRIP_TEST_CRASH_AFTER (src/pay/fault.ts): a real mint cannot make our process die at
// a chosen step, so this is the one test double; mints, node, CLI and client are real.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMints, stopMints, type TestMint } from "../peers/mints.ts";
import { runCli, spawnNode, tempDir } from "../helpers/node.ts";
import { tempWallet, type TempDb } from "./helpers.ts";
import { MiB } from "../../src/pay/pricing.ts";

let mints: TestMint[] = [];
let A = "";
let B = "";
const dir = tempDir();
const children: ChildProcess[] = [];
const dbs: TempDb[] = [];

async function start(crashAfter?: string): Promise<{ child: ChildProcess; url: string; adminUrl: string; token: string }> {
  const env: NodeJS.ProcessEnv = { SLOWDRIP_PAY_ENABLED: "true", SLOWDRIP_PAY_TRUSTED_MINTS: `${A},${B}`, SLOWDRIP_TEST_CRASH_AFTER: crashAfter ?? "" };
  const n = await spawnNode(["--data-dir", dir, "--listen", "127.0.0.1:0"], env);
  children.push(n.child);
  return { child: n.child, url: n.url, adminUrl: n.adminUrl, token: readFileSync(join(dir, "admin.token"), "utf8").trim() };
}

function exited(child: ChildProcess): Promise<NodeJS.Signals | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.signalCode);
  return new Promise((r) => child.once("exit", (_code, signal) => r(signal)));
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill("SIGTERM");
    await exited(child);
  }
}

async function mintsJson(url: string, token: string): Promise<Record<string, number>> {
  const r = await runCli(["wallet", "mints", "--json", "--url", url, "--token", token]);
  if (r.code !== 0) throw new Error(r.stderr);
  return Object.fromEntries((JSON.parse(r.stdout) as Array<{ mint: string; balance: number }>).map((m) => [m.mint, m.balance]));
}

async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// The first run on a machine installs nutshell into the cache (pip): allow minutes, not the default hook timeout.
beforeAll(async () => {
  mints = await startMints(2);
  A = mints[0]!.url;
  B = mints[1]!.url;
}, 300_000);

afterAll(async () => {
  for (const c of children) await stop(c);
  for (const d of dbs) await d.close();
  await stopMints(mints);
});

describe("node killed mid-operation, restarted (real process, real mints)", () => {
  it("swap A->B killed after the melt was paid: the restarted node mints at B exactly once", async () => {
    const n1 = await start("swap:melt-sent");
    const m = await runCli(["wallet", "mint", "100", "--mint", A, "--url", n1.adminUrl, "--token", n1.token]);
    expect(m.code, m.stderr).toBe(0);
    const sw = await runCli(["wallet", "swap", "--from", A, "--to", B, "--amount", "30", "--max-fee", "10", "--url", n1.adminUrl, "--token", n1.token]);
    expect(sw.code).not.toBe(0);
    expect(await exited(n1.child)).toBe("SIGKILL");

    const n2 = await start();
    const bal = await until("B balance after resume", () => mintsJson(n2.adminUrl, n2.token), (b) => (b[B] ?? 0) === 30);
    expect(100 - (bal[A] ?? 0) - 30).toBeGreaterThanOrEqual(0);
    expect(100 - (bal[A] ?? 0) - 30).toBeLessThanOrEqual(10);
    const led = await runCli(["wallet", "ledger", "--json", "--url", n2.adminUrl, "--token", n2.token]);
    const entries = JSON.parse(led.stdout) as Array<{ kind: string; direction: string; amount: number; mint: string }>;
    expect(entries.filter((e) => e.kind === "swap").map((e) => [e.direction, e.mint])).toEqual([
      ["out", A],
      ["in", B],
    ]);
    await stop(n2.child);
  });

  it("paid read killed after the token was redeemed: the restarted node credits it once, and the payer's retry with the same token gets its session", async () => {
    const n1 = await start("receive:swap-sent");
    const blob = randomBytes(MiB);
    const up = await fetch(`${n1.adminUrl}/blobs`, { method: "PUT", body: blob, headers: { authorization: `Bearer ${n1.token}` } });
    expect(up.status).toBe(201);
    const { hash } = (await up.json()) as { hash: string };
    const before = (await mintsJson(n1.adminUrl, n1.token))[A] ?? 0;
    const { wallet: client, db } = await tempWallet([A]);
    dbs.push(db);
    await client.mint(A, 20);
    const token = (await client.send(1, { mint: A })).token;
    const paid = await fetch(`${n1.url}/blobs/${hash}`, { headers: { "x-cashu": token } }).catch((e: unknown) => e);
    expect(paid).toBeInstanceOf(Error);
    expect(await exited(n1.child)).toBe("SIGKILL");

    const n2 = await start();
    await until("node balance after resume", async () => (await mintsJson(n2.adminUrl, n2.token))[A] ?? 0, (v) => v === before + 1);
    const led = await runCli(["wallet", "ledger", "--service", "content-download", "--json", "--url", n2.adminUrl, "--token", n2.token]);
    expect(JSON.parse(led.stdout)).toMatchObject([{ direction: "in", kind: "payment", amount: 1, mint: A }]);
    // The payer never got an answer, so it retries with the same token: it gets what it paid for, charged once.
    const again = await fetch(`${n2.url}/blobs/${hash}`, { headers: { "x-cashu": token } });
    expect(again.status, `${again.headers.get("x-reason")}`).toBe(200);
    expect(Buffer.from(await again.arrayBuffer()).equals(blob)).toBe(true);
    const session = again.headers.get("x-session");
    expect(session).toBeTruthy();
    expect((await mintsJson(n2.adminUrl, n2.token))[A]).toBe(before + 1);
    // The token bought one MiB, now used: presenting it again buys nothing more.
    const third = await fetch(`${n2.url}/blobs/${hash}`, { headers: { "x-cashu": token } });
    expect(third.status).toBe(400);
    expect(third.headers.get("x-reason")).toBe("already-spent");
    await third.body?.cancel();
    const led2 = await runCli(["wallet", "ledger", "--service", "content-download", "--json", "--url", n2.adminUrl, "--token", n2.token]);
    expect(JSON.parse(led2.stdout)).toHaveLength(1);
    expect((await mintsJson(n2.adminUrl, n2.token))[A]).toBe(before + 1);
  });
});
