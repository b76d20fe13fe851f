// Test helper: starts real nutshell mints through test/peers/mints.sh and stops them by PID.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runPeerScript, stopPid } from "./pids.ts";

const script = fileURLToPath(new URL("./mints.sh", import.meta.url));

/** One running test mint. */
export interface TestMint {
  url: string;
  pid: number;
  /** Stops this mint (SIGTERM, then SIGKILL) and waits until it has exited. */
  stop(): Promise<void>;
}

/** Options for {@link startMints}. */
export interface StartMintsOptions {
  /** Input fee per 1000 proofs for every keyset (nutshell MINT_INPUT_FEE_PPK); default 0. */
  feePpk?: number;
  /** Also run a usd keyset (FakeWallet), for wrong-unit tests. */
  usd?: boolean;
  /** Extra FakeWallet settings (keys FAKEWALLET_*), e.g. { FAKEWALLET_PAY_INVOICE_STATE: "FAILED" } to fail melts. */
  fakeWallet?: Record<string, string>;
}

const run = (args: string[], env?: NodeJS.ProcessEnv) => runPeerScript(script, args, env);

/** Installs nutshell if needed (cached venv) and starts `n` independent mints on free loopback ports. */
export async function startMints(n: number, opts: StartMintsOptions = {}): Promise<TestMint[]> {
  const dir = mkdtempSync(join(tmpdir(), "slowdrip-mints-"));
  const extra = Object.entries(opts.fakeWallet ?? {}).map(([k, v]) => `${k}=${v}`).join(" ");
  const out = await run(["start", dir, String(n), String(opts.feePpk ?? 0), opts.usd ? "sat,usd" : "sat"], { ...process.env, SLOWDRIP_MINT_EXTRA_ENV: extra });
  const urls = out.trim().split("\n").filter(Boolean);
  if (urls.length !== n) throw new Error(`mints.sh start printed ${urls.length} URLs, expected ${n}`);
  let running = n;
  return urls.map((url, i) => {
    const pid = Number(readFileSync(join(dir, `mint-${i}`, "pid"), "utf8").trim());
    let stopped = false;
    return {
      url,
      pid,
      async stop() {
        if (stopped) return;
        stopped = true;
        await stopPid(pid);
        if (--running === 0) rmSync(dir, { recursive: true, force: true });
      },
    };
  });
}

/** Stops every mint in the list (safe to call with mints already stopped). */
export async function stopMints(mints: readonly TestMint[] | undefined): Promise<void> {
  await Promise.all((mints ?? []).map((m) => m.stop()));
}
