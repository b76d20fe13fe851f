// Lifecycle: SIGTERM during a slow request lets it finish, then the process exits 0 within 10 s; status over the CLI.
import { connect } from "node:net";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { runCli, spawnNode, tempDir } from "../helpers/node.ts";

describe("graceful stop", () => {
  it("answers a request in flight at SIGTERM, refuses new connections, exits 0 within 10 s", async () => {
    const dataDir = tempDir();
    const { child, url, logs } = await spawnNode(["--data-dir", dataDir, "--listen", "127.0.0.1:0"]);
    const { hostname, port } = new URL(url);
    // A slow client: the request body arrives in two parts, with SIGTERM in between.
    const body = "{}";
    const sock = connect({ host: hostname, port: Number(port) });
    await once(sock, "connect");
    let response = "";
    sock.on("data", (d) => (response += d));
    sock.write(
      `POST /slowdrip.v1.NodeService/GetStatus HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body[0]}`,
    );
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 700));
    // New connections are refused while the old request is still open.
    const refused = await fetch(`${url}/healthz`).then(() => false, () => true);
    expect(refused).toBe(true);
    sock.write(body.slice(1));
    const [code] = (await once(child, "exit")) as [number | null];
    const elapsed = Date.now() - t0;
    expect(response).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(response).toMatch(/"nodeId":"[0-9a-f]{64}"/);
    expect(code).toBe(0);
    expect(elapsed).toBeLessThan(10_000);
    expect(logs()).toMatch(/"msg":"node stopped"/);
  });
});

describe("slowdrip status", () => {
  it("prints the status of a running node, human and --json", async () => {
    const dataDir = tempDir();
    const { child, url } = await spawnNode(["--data-dir", dataDir, "--listen", "127.0.0.1:0"]);
    try {
      const human = await runCli(["status", "--url", url]);
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(/^node\s+[0-9a-f]{64}$/m);
      expect(human.stdout).toMatch(/^ready\s+yes$/m);
      expect(human.stdout).toMatch(/ok\s+api: listening/);
      const json = await runCli(["status", "--json", "--url", url]);
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout).ready).toBe(true);
    } finally {
      child.kill("SIGTERM");
      await once(child, "exit");
    }
  });
  it("fails with one line when the node is unreachable", async () => {
    const r = await runCli(["status", "--url", "http://127.0.0.1:1"]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^slowdrip status: cannot reach the node at http:\/\/127\.0\.0\.1:1/);
  });
});
