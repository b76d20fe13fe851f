// A storage cluster of real `slowdrip run` processes on loopback: one validator and miners in families, each with its own
// data dir, key and port; helpers to kill, restart, query and wait.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { createBLAKE3 } from "hash-wasm";
import { StorageService } from "../../src/gen/slowdrip/v1/storage_pb.ts";
import { ValidatorService } from "../../src/gen/slowdrip/v1/cluster_pb.ts";
import { randomSecret } from "../../src/identity/ed25519.ts";
import { encodeKeypair, identityFromSecret, type Identity } from "../../src/identity/identity.ts";
import { runCli, spawnNode, tempDir } from "../helpers/node.ts";
import { freePort } from "../helpers/sea.ts";

/**
 * Every node of a loopback cluster sees all its peers come from 127.0.0.1, so the per-address connection cap (made
 * for one remote machine) is raised to what a whole cluster opens at once.
 */
const LOOPBACK: Record<string, string> = { "api.max_connections_per_ip": "2048" };

/** Short intervals so that epochs, rebalancing and GC happen within seconds. */
export const FAST_VALIDATOR: Record<string, string> = {
  ...LOOPBACK,
  "cluster.role": "validator",
  "cluster.pg_count": "256",
  "cluster.stripe_size": "1MiB",
  "cluster.member_timeout": "8s",
  "cluster.rebalance_tick": "1s",
  "cluster.push_retries": "2",
  "tuning.max_backoff": "2s",
  "api.shutdown_timeout": "1s",
};

export const FAST_MINER: Record<string, string> = {
  ...LOOPBACK,
  "cluster.role": "miner",
  "cluster.heartbeat_interval": "1s",
  "cluster.registration_retry": "200ms",
  "cluster.rebalance_tick": "1s",
  "cluster.orphan_grace": "10m",
  "tuning.max_backoff": "2s",
  "store.cache_max_bytes": "0",
  "store.max_storage": "1GiB",
  "api.shutdown_timeout": "1s",
};

/** One `slowdrip run` process with a fixed identity, data dir and port (kept across restarts). */
export class NodeProc {
  readonly name: string;
  readonly dataDir: string;
  readonly identity: Identity;
  readonly port: number;
  readonly settings: Record<string, string>;
  child: ChildProcess | undefined;
  /** The admin listener of the running process (a free port at each start). */
  adminUrl = "";
  #logs: () => string = () => "";
  #earlier = "";

  constructor(name: string, port: number, settings: Record<string, string>) {
    this.name = name;
    this.dataDir = tempDir(`slowdrip-cluster-${name}-`);
    this.identity = identityFromSecret(randomSecret());
    writeFileSync(join(this.dataDir, "keypair"), encodeKeypair(this.identity), { mode: 0o600 });
    this.port = port;
    this.settings = settings;
  }

  get nodeId(): string {
    return this.identity.nodeId;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get adminToken(): string {
    return readFileSync(join(this.dataDir, "admin.token"), "utf8").trim();
  }

  /** Everything the process printed, across restarts. */
  logs(): string {
    return this.#earlier + this.#logs();
  }

  /** Starts the process (waits for "node started"). */
  async start(extra: Record<string, string> = {}): Promise<void> {
    const settings = { ...this.settings, ...extra };
    const args = ["--data-dir", this.dataDir, "--listen", `127.0.0.1:${this.port}`, "--log-level", "info"];
    for (const [k, v] of Object.entries(settings)) args.push("--set", `${k}=${v}`);
    const n = await spawnNode(args);
    this.child = n.child;
    this.adminUrl = n.adminUrl;
    this.#logs = n.logs;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends a signal and waits for the exit. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const c = this.child;
    if (!c || !this.running) return;
    const exited = new Promise((r) => c.once("exit", r));
    c.kill(signal);
    await exited;
    this.#earlier += this.#logs();
    this.#logs = () => "";
  }

  /** SIGSTOP: the process stays, its sockets stay open, and it answers nothing until `resume`. */
  pause(): void {
    this.child?.kill("SIGSTOP");
  }

  /** SIGCONT after `pause`. */
  resume(): void {
    this.child?.kill("SIGCONT");
  }

  /** Stops the process (SIGTERM) and starts it again with the same data, key and port, plus `extra` settings. */
  async restart(extra: Record<string, string> = {}): Promise<void> {
    await this.kill("SIGTERM");
    await this.start(extra);
  }

  /** Log lines (parsed JSON) whose msg matches. */
  lines(msg: RegExp): Record<string, unknown>[] {
    return this.logs()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return {};
        }
      })
      .filter((j) => typeof j.msg === "string" && msg.test(j.msg));
  }

  /** StorageService of this node on its admin listener with the admin token (blob lists need it; reads do not). */
  storage(): Client<typeof StorageService> {
    return createClient(StorageService, adminTransport(this.adminUrl, this.adminToken));
  }

  /** The node's Prometheus metrics (admin listener). */
  async metrics(): Promise<string> {
    return (await fetch(`${this.adminUrl}/metrics`)).text();
  }

  /** Every blob hash this node holds, with its tags and pin. */
  async blobs(): Promise<Map<string, { pinned: boolean; tags: string[]; size: number }>> {
    const out = new Map<string, { pinned: boolean; tags: string[]; size: number }>();
    let after = "";
    for (;;) {
      const page = await this.storage().list({ after, limit: 1000 });
      for (const b of page.blobs) out.set(b.hash, { pinned: b.pinned, tags: b.tags, size: Number(b.size) });
      if (!page.next) return out;
      after = page.next;
    }
  }

  /** /readyz body. */
  async readyz(): Promise<{ ready: boolean; components: { name: string; ready: boolean; detail: string }[] }> {
    const r = await fetch(`${this.url}/readyz`);
    return (await r.json()) as never;
  }
}

/** A binary Connect transport that sends the admin token. */
export function adminTransport(url: string, token: string) {
  return createConnectTransport({
    baseUrl: url,
    httpVersion: "1.1",
    useBinaryFormat: true,
    interceptors: [(next) => async (req) => (req.header.set("authorization", `Bearer ${token}`), next(req))],
  });
}

/** Polls `fn` until it returns a truthy value; throws with `what` (and the last value) after `timeoutMs`. */
export async function waitFor<T>(fn: () => Promise<T> | T, what: string, timeoutMs = 60_000, everyMs = 200): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A validator and its miners. */
export class TestCluster {
  readonly validator: NodeProc;
  readonly miners: NodeProc[] = [];
  readonly #minerDefaults: Record<string, string>;

  private constructor(validator: NodeProc, minerDefaults: Record<string, string>) {
    this.validator = validator;
    this.#minerDefaults = minerDefaults;
  }

  /** Starts the validator, then the miners (in parallel); waits until the map lists them all. */
  static async start(opts: { families: string[]; validator?: Record<string, string>; miner?: Record<string, string> }): Promise<TestCluster> {
    const v = new NodeProc("validator", await freePort(), { ...FAST_VALIDATOR, ...opts.validator });
    await v.start();
    const c = new TestCluster(v, { ...FAST_MINER, ...opts.miner });
    try {
      await Promise.all(opts.families.map((f, i) => c.addMiner(f, `m${i}-${f}`)));
      await c.waitForMembers(opts.families.length);
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  /** Creates and starts one miner. */
  async addMiner(family: string, name = `m${this.miners.length}-${family}`, extra: Record<string, string> = {}): Promise<NodeProc> {
    const port = await freePort();
    const m = new NodeProc(name, port, {
      ...this.#minerDefaults,
      "cluster.validator": `${this.validator.nodeId}@${this.validator.url}`,
      "cluster.family": family,
      "node.public_endpoint": `http://127.0.0.1:${port}`,
      ...extra,
    });
    this.miners.push(m);
    await m.start();
    return m;
  }

  /** The validator's ValidatorService on its admin listener (admin token attached). */
  client(): Client<typeof ValidatorService> {
    return createClient(ValidatorService, adminTransport(this.validator.adminUrl, this.validator.adminToken));
  }

  status() {
    return this.client().getClusterStatus({});
  }

  /** The stripes of a file (shard hashes by position) from the validator's manifest. */
  async stripes(fileHash: string): Promise<string[][]> {
    const r = await this.client().queryManifest({ hash: fileHash });
    return r.manifest!.stripes.map((s) => s.shardHashes);
  }

  /** Waits until the current map lists exactly `n` members (all up). */
  async waitForMembers(n: number, timeoutMs = 60_000): Promise<bigint> {
    return waitFor(async () => {
      const s = await this.status();
      const up = s.members.filter((m) => m.member?.state === 1).length;
      return up === n && s.members.length >= n ? s.epoch : undefined;
    }, `${n} members up`, timeoutMs);
  }

  /** Runs the CLI against the validator's admin listener (`inputBytes` is written to its stdin). */
  cli(args: string[], opts: { inputBytes?: Uint8Array } = {}) {
    return runCli(args, { env: { SLOWDRIP_VALIDATOR: this.validator.adminUrl, SLOWDRIP_TOKEN: this.validator.adminToken }, ...(opts.inputBytes ? { input: opts.inputBytes } : {}) });
  }

  /** Kills every process; their logs stay in <data dir>/node.log for inspection. */
  async stop(): Promise<void> {
    const all = [this.validator, ...this.miners];
    await Promise.all(all.map((p) => p.kill("SIGKILL").catch(() => undefined)));
    for (const p of all) writeFileSync(join(p.dataDir, "node.log"), p.logs());
  }
}

/** BLAKE3 by an implementation independent of the node's (hash-wasm), to check what miners hold. */
export async function independentBlake3(bytes: Uint8Array): Promise<string> {
  const h = await createBLAKE3();
  h.init();
  h.update(bytes);
  return h.digest("hex");
}

/** Which of these miners hold each cluster shard, from each miner's own blob list. */
export async function holdings(miners: NodeProc[]): Promise<Map<string, NodeProc[]>> {
  const out = new Map<string, NodeProc[]>();
  const lists = await Promise.all(miners.map(async (m) => ({ m, blobs: await m.blobs() })));
  for (const { m, blobs } of lists) {
    for (const [hash, b] of blobs) if (b.tags.includes("cluster-shard")) (out.get(hash) ?? out.set(hash, []).get(hash)!).push(m);
  }
  return out;
}

/** The cluster.family a node runs with. */
export function familyOf(m: NodeProc): string {
  return m.settings["cluster.family"]!;
}
