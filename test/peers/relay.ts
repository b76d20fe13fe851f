// Test helper: starts a real Nostr relay (PyPI nostr-relay) through test/peers/relay.sh and stops it by PID.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runPeerScript, stopPid } from "./pids.ts";

const script = fileURLToPath(new URL("./relay.sh", import.meta.url));

/** One running test relay. */
export interface TestRelay {
  /** ws://127.0.0.1:<port> */
  url: string;
  pid: number;
  /** Stops the relay (SIGTERM, then SIGKILL), waits until it has exited and removes its directory. */
  stop(): Promise<void>;
}

/** Options for {@link startRelay}. */
export interface StartRelayOptions {
  /** Largest event content the relay accepts, in characters (default 65536). */
  maxEventSize?: number;
  /** Listen on this port instead of a free one (e.g. to bring a stopped relay back where its clients expect it). */
  port?: number;
}

const run = (args: string[], env?: NodeJS.ProcessEnv) => runPeerScript(script, args, env);

/** Installs nostr-relay if needed (cached venv) and starts one relay on a free loopback port. */
export async function startRelay(opts: StartRelayOptions = {}): Promise<TestRelay> {
  const dir = mkdtempSync(join(tmpdir(), "slowdrip-relay-"));
  const env = { ...process.env, SLOWDRIP_RELAY_MAX_EVENT_SIZE: String(opts.maxEventSize ?? 65536), ...(opts.port ? { SLOWDRIP_RELAY_PORT: String(opts.port) } : {}) };
  const url = (await run(["start", dir], env)).trim();
  if (!/^ws:\/\/127\.0\.0\.1:\d+$/.test(url)) throw new Error(`relay.sh start printed ${JSON.stringify(url)}`);
  const pid = Number(readFileSync(join(dir, "relay", "pid"), "utf8").trim());
  let stopped = false;
  return {
    url,
    pid,
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopPid(pid);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
