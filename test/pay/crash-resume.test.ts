// Crash-resume: a real child process running a wallet operation is SIGKILLed after each persisted step, then restarted.
// The kill is injected with SLOWDRIP_TEST_CRASH_AFTER=<op>:<step> (src/pay/fault.ts): a real mint cannot be made to
// crash our process at a chosen point, so this is the one test double here. The mints are real nutshell processes.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Wallet as CashuWallet } from "@cashu/cashu-ts";
import { startMints, stopMints, type TestMint } from "../peers/mints.ts";
import { tempWallet, type TempDb } from "./helpers.ts";
import type { LedgerEntry } from "../../src/pay/ledger.ts";
import { isConnectionReset } from "../../src/pay/wallet.ts";

const child = fileURLToPath(new URL("./wallet-child.ts", import.meta.url));
const node = fileURLToPath(new URL("../../node_modules/.bin/node", import.meta.url));

let mints: TestMint[] = [];
let A = "";
let B = "";
const dirs: string[] = [];
const dbs: TempDb[] = [];

interface ChildOut {
  result: Record<string, unknown>;
  balances: Record<string, number>;
  reserved: Record<string, number>;
  ops: Array<{ id: string; kind: string; state: string }>;
  pending: Array<{ id: string; amount: number; token: string }>;
  ledger: LedgerEntry[];
}

function run(dir: string, cmd: Record<string, unknown>, crashAfter?: string): { out?: ChildOut; signal: string | null; stderr: string } {
  const env = { ...process.env };
  delete env.SLOWDRIP_TEST_CRASH_AFTER;
  if (crashAfter) env.SLOWDRIP_TEST_CRASH_AFTER = crashAfter;
  const r = spawnSync(node, [child, dir, JSON.stringify({ trust: [A, B], ...cmd })], { env, encoding: "utf8", timeout: 60_000 });
  const line = r.stdout.trim().split("\n").pop();
  return { out: r.status === 0 && line ? (JSON.parse(line) as ChildOut) : undefined, signal: r.signal, stderr: r.stderr };
}

/** Runs `cmd` with a crash after `step`, asserts the child died by SIGKILL, then resumes in a fresh process. */
function crashThenResume(dir: string, cmd: Record<string, unknown>, step: string): ChildOut {
  const crashed = run(dir, cmd, step);
  expect(crashed.signal, `${step}: child should be SIGKILLed (stderr: ${crashed.stderr})`).toBe("SIGKILL");
  const resumed = run(dir, { cmd: "resume" });
  expect(resumed.out, `${step}: resume failed: ${resumed.stderr}`).toBeDefined();
  return resumed.out!;
}

function fresh(): string {
  const d = mkdtempSync(join(tmpdir(), "slowdrip-crash-"));
  dirs.push(d);
  return d;
}

function fund(dir: string, amount: number): void {
  const r = run(dir, { cmd: "mint", mint: A, amount });
  expect(r.out?.balances[A], `funding failed: ${r.stderr}`).toBe(amount);
}

/** Retries a test-side mint call once when the mint closed a pooled keep-alive connection under it. */
async function retrying<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (!isConnectionReset(e)) throw e;
    return fn();
  }
}

async function invoiceAtB(amount: number): Promise<{ request: string; quote: string }> {
  return retrying(async () => {
    const w = new CashuWallet(B);
    await w.loadMint();
    return w.createMintQuoteBolt11(amount);
  });
}

// The first run on a machine installs nutshell into the cache (pip): allow minutes, not the default hook timeout.
beforeAll(async () => {
  mints = await startMints(2);
  A = mints[0]!.url;
  B = mints[1]!.url;
}, 300_000);

afterAll(async () => {
  for (const d of dbs) await d.close();
  await stopMints(mints);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const sum = (l: LedgerEntry[], dir: "in" | "out", mint: string) => l.filter((e) => e.direction === dir && e.mint === mint).reduce((s, e) => s + e.amount, 0);

describe("crash-resume (real mints, real child process killed with SIGKILL)", () => {
  for (const step of ["quoted", "mint-outputs-saved", "mint-sent", "minted"]) {
    it(`mint: killed after ${step}, restart claims exactly once`, () => {
      const dir = fresh();
      const out = crashThenResume(dir, { cmd: "mint", mint: A, amount: 40 }, `mint:${step}`);
      expect(out.balances[A], step).toBe(40);
      expect(out.reserved[A] ?? 0, step).toBe(0);
      expect(out.ops.map((o) => o.state), step).toEqual(["done"]);
      expect(sum(out.ledger, "in", A), step).toBe(40);
      // A second restart changes nothing.
      expect(run(dir, { cmd: "resume" }).out?.balances[A], step).toBe(40);
    });
  }

  for (const step of ["melt-quoted", "melt-prepared", "melt-sent", "melted"]) {
    it(`melt: killed after ${step}, restart pays once and returns change`, async () => {
      const dir = fresh();
      fund(dir, 100);
      const inv = await invoiceAtB(30);
      let out = crashThenResume(dir, { cmd: "melt", mint: A, invoice: inv.request }, `melt:${step}`);
      const melt = out.ops.find((o) => o.kind === "melt")!;
      if (melt.state === "quoted") {
        // Killed before any proof was committed: the quote is kept and can be paid now.
        const r = run(dir, { cmd: "resume" });
        out = r.out!;
      }
      expect(out.reserved[A] ?? 0, step).toBe(0);
      const spentA = 100 - (out.balances[A] ?? 0);
      const outA = sum(out.ledger, "out", A);
      if (step === "melt-quoted") {
        // The quote was recorded but not paid: nothing left the wallet.
        expect(spentA, step).toBe(0);
        expect(outA, step).toBe(0);
      } else {
        expect(spentA, step).toBeGreaterThanOrEqual(30);
        expect(spentA, step).toBeLessThanOrEqual(30 + 2 + 1);
        expect(outA, step).toBe(spentA);
        expect(out.ledger.filter((e) => e.direction === "out"), step).toHaveLength(1);
        const bq = await retrying(async () => {
          const w = new CashuWallet(B);
          await w.loadMint();
          return w.checkMintQuoteBolt11(inv.quote);
        });
        expect(bq.state, step).not.toBe("UNPAID");
      }
    });
  }

  for (const step of ["prepared", "swap-sent", "done"]) {
    it(`send: killed after ${step}, nothing is stranded (a token never handed out comes back, a handed-out one waits to be reclaimed)`, () => {
      const dir = fresh();
      fund(dir, 100);
      const out = crashThenResume(dir, { cmd: "send", mint: A, amount: 13 }, `send:${step}`);
      const op = out.ops.find((o) => o.kind === "send")!;
      expect(out.reserved[A] ?? 0, step).toBe(0);
      if (step !== "done") {
        // The process died before it could return the token: the restart puts the value back, no token exists.
        expect(op.state, step).toBe(step === "prepared" ? "failed" : "aborted");
        expect(out.balances[A], step).toBe(100);
        expect(out.pending, step).toEqual([]);
        return;
      }
      // Killed after the token was made: the caller may hold it, so it is pending, not lost.
      expect(op.state, step).toBe("done");
      expect(out.balances[A], step).toBe(100 - 13);
      expect(out.pending.map((p) => [p.id, p.amount]), step).toEqual([[op.id, 13]]);
      const back = run(dir, { cmd: "reclaim", op: op.id });
      expect(back.out, back.stderr).toBeDefined();
      expect(back.out!.result, step).toMatchObject({ outcome: "reclaimed", credited: 13 });
      expect(back.out!.balances[A], step).toBe(100);
      expect(back.out!.pending, step).toEqual([]);
      expect(sum(back.out!.ledger, "out", A) - sum(back.out!.ledger, "in", A), step).toBe(-100);
    });
  }

  for (const step of ["swap-prepared", "swap-sent", "done"]) {
    it(`receive: killed after ${step}, restart credits the token exactly once`, async () => {
      const { wallet: alice, db } = await tempWallet([A]);
      dbs.push(db);
      await alice.mint(A, 50);
      const token = (await alice.send(17, { mint: A })).token;
      const dir = fresh();
      const out = crashThenResume(dir, { cmd: "receive", token }, `receive:${step}`);
      expect(out.balances[A], step).toBe(17);
      expect(out.ops.map((o) => o.state), step).toEqual(["done"]);
      expect(sum(out.ledger, "in", A), step).toBe(17);
      // Presenting it again after the restart is refused, and the balance stays.
      const again = run(dir, { cmd: "receive", token });
      expect(again.out, step).toBeUndefined();
      expect(again.stderr, step).toMatch(/already/);
      expect(run(dir, { cmd: "state" }).out?.balances[A], step).toBe(17);
    });
  }

  for (const step of ["mint-quoted", "melt-quoted", "melt-prepared", "melt-sent", "melted", "mint-outputs-saved", "mint-sent", "minted"]) {
    it(`swap A->B: killed after ${step}, restart finishes the swap exactly once`, () => {
      const dir = fresh();
      fund(dir, 100);
      const out = crashThenResume(dir, { cmd: "swap", from: A, to: B, amount: 30, maxFee: 10 }, `swap:${step}`);
      const op = out.ops.find((o) => o.kind === "swap")!;
      expect(op.state, step).toBe("done");
      expect(out.balances[B], step).toBe(30);
      const spentA = 100 - (out.balances[A] ?? 0);
      expect(spentA - 30, step).toBeGreaterThanOrEqual(0);
      expect(spentA - 30, step).toBeLessThanOrEqual(10);
      expect(out.reserved[A] ?? 0, step).toBe(0);
      expect(sum(out.ledger, "out", A), step).toBe(spentA);
      expect(sum(out.ledger, "in", B), step).toBe(30);
      const again = run(dir, { cmd: "resume" }).out!;
      expect(again.balances, step).toEqual(out.balances);
    });
  }
});
