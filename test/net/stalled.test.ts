// Stalled readers against a real `slowdrip run`: 200 clients from 127.0.0.2-127.0.0.9 open reads (GET /blobs over
// HTTP/1.1 and HTTP/2, FetchBlob over Connect, a /live segment) and never read. The per-address cap refuses most of them at once, the
// write-stall timeout destroys the rest and frees their fetch slots, and a normal client from 127.0.0.1 still gets
// its blob within the queue timeout; the node's fds and memory stay bounded and every stalled socket gets closed.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { request as h1Request } from "node:http";
import { connect as h2Connect, type ClientHttp2Session } from "node:http2";
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testBytes } from "../../src/store/contract.ts";
import { spawnNode, tempDir, type SpawnedNode } from "../helpers/node.ts";

const MiB = 1024 * 1024;
const BLOB = testBytes(48 * MiB, 77);
const SHA = createHash("sha256").update(BLOB).digest("hex");
const STALL_MS = 2_000;
const IDLE_MS = 3_000;
const QUEUE_MS = 20_000;
const PER_IP = 8;
const SEGMENT = testBytes(6 * MiB, 78);

const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

/** One Connect streaming envelope around a JSON message. */
function envelope(message: unknown): Buffer {
  const data = Buffer.from(JSON.stringify(message));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(data.length, 1);
  return Buffer.concat([head, data]);
}

/** A client that never reads: the node's writes to it back up. */
interface Staller {
  kind: string;
  destroy(): void;
}

function stalledRaw(kind: string, from: string, port: number, head: string, body?: Buffer): Staller {
  const s: Socket = connect({ host: "127.0.0.1", port, localAddress: from });
  s.on("error", () => {});
  s.once("connect", () => {
    s.write(head);
    if (body) s.write(body);
    s.pause(); // never read: the kernel buffers fill, then the node's writes stop moving
  });
  return { kind, destroy: () => s.destroy() };
}

function stalledH2(from: string, port: number, path: string): Staller {
  const session: ClientHttp2Session = h2Connect(`http://127.0.0.1:${port}`, { createConnection: () => connect({ host: "127.0.0.1", port, localAddress: from }) });
  session.on("error", () => {});
  const stream = session.request({ ":path": path });
  stream.on("error", () => {});
  stream.pause(); // no WINDOW_UPDATE: the node's stream stalls on flow control
  return { kind: "h2", destroy: () => session.destroy() };
}

/** Client sockets from 127.0.0.2-127.0.0.9 to `port` that are still established (seen by the kernel). */
function stalledEstablished(port: number): number {
  const out = execFileSync("ss", ["-Htn", "state", "established", `( dport = :${port} )`], { encoding: "utf8" });
  return out.split("\n").filter((l) => /\s127\.0\.0\.[2-9]:\d+\s/.test(l)).length;
}

async function metrics(adminUrl: string): Promise<string> {
  return (await fetch(`${adminUrl}/metrics`)).text();
}
const metric = (text: string, name: string) => Number(new RegExp(`^${name.replace(/[{}"=]/g, (c) => `\\${c}`)} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);

/** Reads the blob from 127.0.0.1 like any browser would; resolves with the status, the body's SHA-256 and the time. */
function normalGet(url: string): Promise<{ status: number; sha: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    h1Request(url, { localAddress: "127.0.0.1" }, (res) => {
      const h = createHash("sha256");
      res.on("data", (c: Buffer) => h.update(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, sha: h.digest("hex"), ms: Date.now() - t0 }));
      res.on("error", reject);
    })
      .on("error", reject)
      .end();
  });
}

describe("200 stalled readers from 127.0.0.2-127.0.0.9", () => {
  let n: SpawnedNode;
  let hash = "";
  let segment = "";
  let pid = 0;
  const stallers: Staller[] = [];
  const dataDir = tempDir();
  beforeAll(async () => {
    n = await spawnNode([
      "--data-dir", dataDir,
      "--set", `api.write_stall_timeout=${STALL_MS}ms`,
      "--set", `api.idle_timeout=${IDLE_MS}ms`,
      "--set", `api.max_connections_per_ip=${PER_IP}`,
      "--set", `tuning.queue_timeout=${QUEUE_MS}ms`,
    ]);
    pid = n.child.pid!;
    const token = readFileSync(`${dataDir}/admin.token`, "utf8").trim();
    const up = await fetch(`${n.adminUrl}/blobs`, { method: "PUT", body: new Uint8Array(BLOB), headers: { authorization: `Bearer ${token}` } });
    expect(up.status).toBe(201);
    hash = ((await up.json()) as { hash: string }).hash;
    // A live segment, handed over the way MediaMTX does it: a file in the record directory and a post to the hook.
    const recordDir = join(dataDir, "mediamtx", "segments");
    mkdirSync(recordDir, { recursive: true });
    writeFileSync(join(recordDir, "stall-0001.ts"), SEGMENT);
    const hook = await fetch(`${n.hooksUrl}/hooks/mediamtx/segment`, { method: "POST", body: new URLSearchParams({ path: "live/stall", segment: join(recordDir, "stall-0001.ts"), duration: "2" }) });
    expect(hook.status, await hook.clone().text()).toBe(200);
    segment = `/live/live/stall/${((await hook.json()) as { blake3: string }).blake3}.ts`;
  }, 120_000);
  afterAll(async () => {
    for (const s of stallers) s.destroy();
    if (n && n.child.exitCode === null) {
      const exited = new Promise((r) => n.child.once("exit", r));
      n.child.kill("SIGTERM");
      await exited;
    }
  });

  it("a normal client gets its blob within the queue timeout; fds and memory stay bounded; stalled sockets are closed", async () => {
    const port = Number(new URL(n.url).port);
    // Warm up (one full read), then take the baseline.
    expect((await normalGet(`${n.url}/blobs/${hash}`)).sha).toBe(SHA);
    const fd0 = fds(pid);
    const rss0 = rssMiB(pid);

    for (let i = 0; i < 200; i++) {
      const from = `127.0.0.${2 + (i % 8)}`;
      const kind = i % 4;
      if (kind === 0) stallers.push(stalledRaw("get", from, port, `GET /blobs/${hash} HTTP/1.1\r\nHost: node\r\n\r\n`));
      else if (kind === 3) stallers.push(stalledRaw("live", from, port, `GET ${segment} HTTP/1.1\r\nHost: node\r\n\r\n`));
      else if (kind === 1) {
        const body = envelope({ hash });
        stallers.push(stalledRaw("fetchblob", from, port, `POST /slowdrip.v1.StorageService/FetchBlob HTTP/1.1\r\nHost: node\r\nContent-Type: application/connect+json\r\nContent-Length: ${body.length}\r\n\r\n`, body));
      } else stallers.push(stalledH2(from, port, `/blobs/${hash}`));
    }
    // Every fetch slot is held by a staller and others queue behind them.
    let text = "";
    const deadline = Date.now() + 20_000;
    do {
      await new Promise((r) => setTimeout(r, 100));
      text = await metrics(n.adminUrl);
    } while (!(metric(text, 'slowdrip_store_limit_in_use{limit="fetch"}') === 32 && metric(text, 'slowdrip_store_limit_waiting{limit="fetch"}') > 0) && Date.now() < deadline);
    expect(metric(text, 'slowdrip_store_limit_in_use{limit="fetch"}'), "all 32 fetch slots held by stalled readers").toBe(32);
    const fdPeak = fds(pid);
    const rssPeak = rssMiB(pid);
    // At most PER_IP connections from each of the 8 addresses were let in; the rest were closed at once.
    expect(fdPeak - fd0).toBeLessThanOrEqual(8 * PER_IP + 16);

    const got = await normalGet(`${n.url}/blobs/${hash}`);
    expect(got.status).toBe(200);
    expect(got.sha).toBe(SHA);
    expect(got.ms).toBeLessThan(QUEUE_MS);

    // Every stalled socket gets closed by the node (at once over the per-address cap, else after the stall timeout):
    // none of theirs is still established (the clients never read, so they are shown by the kernel, not by events).
    const until = Date.now() + 40_000;
    let open = stalledEstablished(port);
    while (open > 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 250));
      open = stalledEstablished(port);
    }
    if (open > 0) console.log(execFileSync("ss", ["-tni", `( sport = :${port} or dport = :${port} )`], { encoding: "utf8" }).slice(0, 6000), await metrics(n.adminUrl).then((t) => t.split("\n").filter((l) => /cut|limit_|http_requests/.test(l)).join("\n")));
    expect(open, "stalled client sockets still established").toBe(0);
    text = await metrics(n.adminUrl);
    // Most were refused at once by the per-address cap (a few more got in as earlier ones were cut); the rest stalled.
    const refused = metric(text, 'slowdrip_http_cut_total{listener="public",reason="per-ip-limit"}');
    const stalled = metric(text, 'slowdrip_http_cut_total{listener="public",reason="write-stall"}');
    expect(refused).toBeGreaterThanOrEqual(100);
    expect(stalled).toBeGreaterThanOrEqual(8 * PER_IP - 8);
    expect(refused + stalled).toBeGreaterThanOrEqual(200 - 8);
    expect(metric(text, 'slowdrip_store_limit_in_use{limit="fetch"}')).toBe(0);
    // Bounded by the configuration, not by the number of clients: 32 fetch slots of ~1 MiB buffers, at most
    // 8 x PER_IP / 4 live readers holding a 6 MiB segment each, plus slack.
    expect(Math.max(rssPeak, rssMiB(pid)) - rss0, "memory stays bounded").toBeLessThan(32 + (8 * PER_IP * 6) / 4 + 160);
    // Everything is released: fds back near the baseline, and a fresh read works at once.
    await new Promise((r) => setTimeout(r, 500));
    expect(fds(pid) - fd0).toBeLessThanOrEqual(4);
    expect((await normalGet(`${n.url}/blobs/${hash}`)).sha).toBe(SHA);
    expect((await normalGet(`${n.url}${segment}`)).sha).toBe(createHash("sha256").update(SEGMENT).digest("hex"));
  }, 180_000);
});
