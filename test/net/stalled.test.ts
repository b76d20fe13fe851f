// Stalled readers against a real `slowdrip run` on the default timeouts: 200 clients from 127.0.0.2-127.0.0.9 open
// reads (GET /blobs over HTTP/1.1 and HTTP/2, FetchBlob over Connect, a /live segment) and never read. The per-address
// cap refuses some at once; the others hold no fetch slot while they stall (a response waiting on its client gives its
// slot back), so a normal client from 127.0.0.1 gets its blob at once; the write-stall timeout then closes them, and
// the node's fds and memory stay bounded by the configuration.
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
// The defaults: api.write_stall_timeout 30s, tuning.queue_timeout 10s, tuning.fetch_concurrency 32.
const STALL_MS = 30_000;
const QUEUE_MS = 10_000;
const PER_IP = 20;
// Not the default (60s): an HTTP/2 session whose stalled stream was cut is closed once idle, and the test waits for it.
const IDLE_MS = 10_000;
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

/** Blob bytes the node has read out of the store for answers (all routes). */
const bytesRead = (text: string) => metric(text, "slowdrip_store_bytes_read_total");

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
      "--set", `api.max_connections_per_ip=${PER_IP}`,
      "--set", `api.idle_timeout=${IDLE_MS}ms`,
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
    const read0 = bytesRead(await metrics(n.adminUrl));
    // What the admitted blob readers (3 in 4 of them) read at least before backing up: one 256 KiB chunk each.
    const started = ((8 * PER_IP * 3) / 4) * 256 * 1024;

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
    // Every admitted staller's response has started and backed up; none holds a fetch slot or waits for one.
    let text = "";
    const deadline = Date.now() + 20_000;
    do {
      await new Promise((r) => setTimeout(r, 250));
      text = await metrics(n.adminUrl);
    } while (!(stalledEstablished(port) === 8 * PER_IP && metric(text, 'slowdrip_store_limit_in_use{limit="fetch"}') === 0 && bytesRead(text) - read0 >= started) && Date.now() < deadline);
    expect(stalledEstablished(port), "admitted stalled connections").toBe(8 * PER_IP);
    expect(bytesRead(text) - read0, "bytes read for the stalled readers' answers").toBeGreaterThanOrEqual(started);
    expect(metric(text, 'slowdrip_store_limit_in_use{limit="fetch"}'), "fetch slots held while readers stall").toBe(0);
    expect(metric(text, 'slowdrip_store_limit_waiting{limit="fetch"}')).toBe(0);
    const fdPeak = fds(pid);
    const rssPeak = rssMiB(pid);
    // At most PER_IP connections from each of the 8 addresses were let in; the rest were closed at once.
    expect(fdPeak - fd0).toBeLessThanOrEqual(8 * PER_IP + 16);

    const got = await normalGet(`${n.url}/blobs/${hash}`);
    expect(got.status).toBe(200);
    expect(got.sha).toBe(SHA);
    expect(got.ms).toBeLessThan(QUEUE_MS);
    expect(got.ms, "no wait for a fetch slot behind stalled readers").toBeLessThan(STALL_MS / 3);

    // Every stalled socket gets closed by the node (at once over the per-address cap, else after the stall timeout):
    // none of theirs is still established (the clients never read, so they are shown by the kernel, not by events).
    const until = Date.now() + STALL_MS + IDLE_MS + 30_000;
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
    expect(refused).toBeGreaterThanOrEqual(200 - 8 * PER_IP);
    expect(stalled).toBeGreaterThanOrEqual(8 * PER_IP - 8);
    expect(refused + stalled).toBeGreaterThanOrEqual(200 - 8);
    expect(metric(text, 'slowdrip_store_limit_in_use{limit="fetch"}')).toBe(0);
    // Bounded by the configuration, not by the number of clients: each admitted blob reader buffers at most ~1 MiB
    // (its write buffers) and each live reader one 6 MiB segment, plus slack.
    expect(Math.max(rssPeak, rssMiB(pid)) - rss0, "memory stays bounded").toBeLessThan((8 * PER_IP * 3) / 4 + (8 * PER_IP * 6) / 4 + 160);
    // Everything is released: fds back near the baseline, and a fresh read works at once.
    await new Promise((r) => setTimeout(r, 500));
    expect(fds(pid) - fd0).toBeLessThanOrEqual(4);
    expect((await normalGet(`${n.url}/blobs/${hash}`)).sha).toBe(SHA);
    expect((await normalGet(`${n.url}${segment}`)).sha).toBe(createHash("sha256").update(SEGMENT).digest("hex"));
  }, 240_000);
});
