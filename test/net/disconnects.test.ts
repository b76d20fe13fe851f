// Clients that go away before the answer (a GET or a FetchBlob, then close or reset, on HTTP/1.1 and HTTP/2) are a counted,
// debug-level event: no "unexpected error" in the log, no stack trace, no 500 attempted, and the node keeps serving.
import { readFileSync } from "node:fs";
import { connect as h2Connect } from "node:http2";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testBytes } from "../../src/store/contract.ts";
import { spawnNode, tempDir, type SpawnedNode } from "../helpers/node.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("clients that go away before the headers", () => {
  let n: SpawnedNode;
  let hash = "";
  const dataDir = tempDir();
  beforeAll(async () => {
    n = await spawnNode(["--data-dir", dataDir, "--log-level", "debug"]);
    const token = readFileSync(`${dataDir}/admin.token`, "utf8").trim();
    const up = await fetch(`${n.adminUrl}/blobs`, { method: "PUT", body: new Uint8Array(testBytes(8 << 20, 3)), headers: { authorization: `Bearer ${token}` } });
    hash = ((await up.json()) as { hash: string }).hash;
  });
  afterAll(async () => {
    if (n && n.child.exitCode === null) {
      const exited = new Promise((r) => n.child.once("exit", r));
      n.child.kill("SIGTERM");
      await exited;
    }
  });

  it("300 GETs closed or reset at once are counted at debug level, never logged as errors", async () => {
    const { port } = new URL(n.url);
    const paths = [`/blobs/${hash}`, `/blobs/${"ab".repeat(32)}`, "/readyz", `/live/live/x/${hash}.ts`];
    const jobs: Promise<void>[] = [];
    const fetchBlob = (() => {
      const body = Buffer.from(JSON.stringify({ hash }));
      const head = Buffer.alloc(5);
      head.writeUInt32BE(body.length, 1);
      const env = Buffer.concat([head, body]);
      return `POST /slowdrip.v1.StorageService/FetchBlob HTTP/1.1\r\nHost: node\r\nContent-Type: application/connect+json\r\nContent-Length: ${env.length}\r\n\r\n${env.toString("latin1")}`;
    })();
    for (let i = 0; i < 200; i++) {
      jobs.push(
        new Promise<void>((resolve) => {
          const s = connect({ host: "127.0.0.1", port: Number(port) });
          s.on("error", () => {});
          s.once("close", () => resolve());
          s.once("connect", () => {
            s.write(i % 5 === 4 ? Buffer.from(fetchBlob, "latin1") : `GET ${paths[i % paths.length]} HTTP/1.1\r\nHost: node\r\n\r\n`);
            // Half of them close politely, half reset; some right away, some a moment later.
            const go = () => (i % 2 ? s.resetAndDestroy() : s.destroy());
            if (i % 3 === 0) go();
            else setImmediate(go);
          });
        }),
      );
    }
    const session = h2Connect(n.url);
    session.on("error", () => {});
    for (let i = 0; i < 100; i++) {
      const st = session.request({ ":path": paths[i % paths.length]! });
      st.on("error", () => {});
      if (i % 2) st.close();
      else setImmediate(() => st.close());
    }
    await Promise.all(jobs);
    await sleep(500);
    session.destroy();
    await sleep(1_000);

    const logs = n.logs();
    expect(logs).not.toMatch(/unexpected error/);
    expect(logs).not.toMatch(/"level":(50|60)/); // nothing at error or fatal
    expect(logs).not.toMatch(/"stack"/);
    expect(logs).not.toMatch(/handler for rpc/); // connect-node prints failed response writes unless they read as a hang-up
    // Counted, and logged at debug level only.
    const metrics = await (await fetch(`${n.adminUrl}/metrics`)).text();
    const gone = [...metrics.matchAll(/^slowdrip_http_disconnects_total\{[^}]*\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
    expect(gone).toBeGreaterThan(0);
    expect(logs).toMatch(/"level":20,[^\n]*"msg":"client went away before the answer was complete"/);
    // No 500 was attempted.
    expect(metrics).not.toMatch(/slowdrip_http_requests_total\{[^}]*status="500"\}/);
    // And the node still serves.
    const r = await fetch(`${n.url}/blobs/${hash}`);
    expect(r.status).toBe(200);
    expect((await r.arrayBuffer()).byteLength).toBe(8 << 20);
  });
});
