// The split listeners: the public listener serves only what the node sells (control RPCs, /metrics, PUT /blobs and
// the hooks are refused there, naming where they live), the admin listener serves everything behind the token, the
// hooks listener only MediaMTX's hooks and JWKS; and from another network namespace the admin surface is unreachable
// while public reads work.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.ts";
import { fullNode } from "../../src/node/components.ts";
import type { RunningNode } from "../../src/node/node.ts";
import { createNetNs, type NetNs } from "../helpers/netns.ts";
import { runCli, spawnNode, startTestNode, tempDir, type SpawnedNode } from "../helpers/node.ts";

/** A Connect unary call with a JSON body; the HTTP status and the JSON answer. */
async function rpc(base: string, method: string, body: unknown = {}, token?: string): Promise<{ status: number; json: { code?: string; message?: string } & Record<string, unknown> }> {
  const r = await fetch(`${base}/slowdrip.v1.${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: r.status, json: (await r.json()) as { code?: string; message?: string } };
}

/** One Connect streaming envelope (flags 0) around a JSON message. */
function envelope(message: unknown): Uint8Array<ArrayBuffer> {
  const data = Buffer.from(JSON.stringify(message));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(data.length, 1);
  return new Uint8Array(Buffer.concat([head, data]));
}

async function put(base: string, token: string, data: string): Promise<string> {
  const r = await fetch(`${base}/blobs`, { method: "PUT", body: data, headers: { authorization: `Bearer ${token}` } });
  expect(r.status).toBe(201);
  return ((await r.json()) as { hash: string }).hash;
}

/** Control calls of every service (they need the admin token on the admin listener). */
const CONTROL = ["WalletService/Balance", "WalletService/ListMints", "PaymentService/Ledger", "StorageService/Delete", "StorageService/Pin", "StreamService/ListSessions"];

describe("in one process: what each listener serves", () => {
  let node: RunningNode;
  let hash = "";
  beforeAll(async () => {
    node = await startTestNode({ "mediamtx.manage": "off" }, fullNode);
    hash = await put(node.adminUrl, node.adminToken, "sold on the public listener\n");
  });
  afterAll(() => node?.stop());

  it("the three URLs are distinct loopback listeners", () => {
    const ports = [node.url, node.adminUrl, node.hooksUrl].map((u) => new URL(u).port);
    expect(new Set(ports).size).toBe(3);
    for (const u of [node.url, node.adminUrl, node.hooksUrl]) expect(new URL(u).hostname).toBe("127.0.0.1");
  });

  it("public: blob reads, FetchBlob, identity, pricing, health, readiness and JWKS work", async () => {
    const blob = await fetch(`${node.url}/blobs/${hash}`);
    expect(blob.status).toBe(200);
    expect(await blob.text()).toBe("sold on the public listener\n");
    expect((await rpc(node.url, "NodeService/GetIdentity")).json.nodeId).toBe(node.identity.nodeId);
    expect((await rpc(node.url, "NodeService/GetStatus")).status).toBe(200); // api.public_status defaults to true
    expect((await rpc(node.url, "PaymentService/GetPricing")).status).toBe(200);
    expect((await rpc(node.url, "StreamService/ListPaths")).status).toBe(200);
    const fetchBlob = await fetch(`${node.url}/slowdrip.v1.StorageService/FetchBlob`, {
      method: "POST",
      headers: { "content-type": "application/connect+json" },
      body: envelope({ hash }),
    });
    expect(fetchBlob.status).toBe(200);
    expect(Buffer.from(await fetchBlob.arrayBuffer()).toString()).toContain(Buffer.from("sold on the public listener\n").toString("base64"));
    for (const p of ["/healthz", "/readyz", "/.well-known/jwks.json"]) expect((await fetch(`${node.url}${p}`)).status, p).toBe(200);
  });

  it.each(CONTROL)("public: control call %s is permission_denied naming the admin listener, even with the admin token", async (m) => {
    for (const token of [undefined, node.adminToken]) {
      const r = await rpc(node.url, m, m.startsWith("StorageService") ? { hash } : {}, token);
      expect(r.status).toBe(403);
      expect(r.json.code).toBe("permission_denied");
      expect(r.json.message).toMatch(/admin listener \(api\.admin_listen\)/);
    }
  });

  it("public: the Store upload stream is refused too and stores nothing", async () => {
    const r = await fetch(`${node.url}/slowdrip.v1.StorageService/Store`, {
      method: "POST",
      headers: { "content-type": "application/connect+json", authorization: `Bearer ${node.adminToken}` },
      body: envelope({ data: Buffer.from("not stored").toString("base64") }),
    });
    expect(r.status).toBe(200); // streaming calls carry the error in the end-of-stream message
    expect(await r.text()).toMatch(/permission_denied.*api\.admin_listen/);
  });

  it("public: List and Stat are admin-only while store.public_list is false", async () => {
    for (const [m, body] of [["StorageService/List", {}], ["StorageService/Stat", { hash }]] as const) {
      const r = await rpc(node.url, m, body, node.adminToken);
      expect(r.json.code, m).toBe("permission_denied");
      expect(r.json.message).toMatch(/store\.public_list/);
      expect((await rpc(node.adminUrl, m, body)).json.code, `${m} without the token on the admin listener`).toBe("unauthenticated");
      expect((await rpc(node.adminUrl, m, body, node.adminToken)).status, `${m} with the token`).toBe(200);
    }
  });

  it("public: /metrics, PUT /blobs and the hooks are refused, naming where they are served", async () => {
    const metrics = await fetch(`${node.url}/metrics`);
    expect(metrics.status).toBe(403);
    expect(await metrics.text()).toMatch(/admin listener \(api\.admin_listen\)/);
    const up = await fetch(`${node.url}/blobs`, { method: "PUT", body: "not stored", headers: { authorization: `Bearer ${node.adminToken}` } });
    expect(up.status).toBe(403);
    expect(await up.text()).toMatch(/api\.admin_listen/);
    const hook = await fetch(`${node.url}/hooks/mediamtx/auth`, { method: "POST", body: "{}" });
    expect(hook.status).toBe(403);
    expect(await hook.text()).toMatch(/hooks listener \(api\.hooks_listen\)/);
    expect((await rpc(node.adminUrl, "StorageService/Stat", { hash: "ab".repeat(32) }, node.adminToken)).json.code).toBe("not_found");
  });

  it("public pages carry no wallet balance: /readyz and GetStatus name no balance, /metrics (which has it) is admin-only", async () => {
    const adminMetrics = await (await fetch(`${node.adminUrl}/metrics`)).text();
    expect(adminMetrics).toMatch(/^# TYPE slowdrip_wallet_balance_sats gauge$/m);
    const pages = [await (await fetch(`${node.url}/readyz`)).text(), JSON.stringify((await rpc(node.url, "NodeService/GetStatus")).json), await (await fetch(`${node.url}/metrics`)).text()];
    for (const p of pages) expect(p).not.toMatch(/balance/i);
  });

  it("admin: control calls need the token and work with it; /metrics and PUT /blobs are served", async () => {
    for (const m of ["WalletService/Balance", "StreamService/ListSessions"]) {
      expect((await rpc(node.adminUrl, m)).json.code, m).toBe("unauthenticated");
      expect((await rpc(node.adminUrl, m, {}, node.adminToken)).status, m).toBe(200);
    }
    expect((await fetch(`${node.adminUrl}/metrics`)).status).toBe(200);
    expect((await fetch(`${node.adminUrl}/blobs`, { method: "PUT", body: "x" })).status).toBe(401);
    expect((await fetch(`${node.adminUrl}/blobs/${hash}`)).status).toBe(200);
  });

  it("hooks: only the hooks and JWKS; no RPC, no blobs, no metrics", async () => {
    const hook = await fetch(`${node.hooksUrl}/hooks/mediamtx/auth`, { method: "POST", body: "not json" });
    expect(hook.status).toBe(400); // reached the hook, which refused the malformed body
    expect((await fetch(`${node.hooksUrl}/.well-known/jwks.json`)).status).toBe(200);
    for (const p of ["/metrics", `/blobs/${hash}`, "/healthz"]) expect((await fetch(`${node.hooksUrl}${p}`)).status, p).toBe(404);
    expect((await rpc(node.hooksUrl, "NodeService/GetIdentity").catch(() => ({ status: 404 }))).status).toBe(404);
  });
});

describe("store.public_list: true", () => {
  let node: RunningNode;
  afterAll(() => node?.stop());
  it("opens List and Stat on the public listener without the token", async () => {
    node = await startTestNode({ "mediamtx.manage": "off", "store.public_list": "true" }, fullNode);
    const hash = await put(node.adminUrl, node.adminToken, "listed\n");
    const list = await rpc(node.url, "StorageService/List");
    expect(list.status).toBe(200);
    expect((list.json.blobs as { hash: string }[]).map((b) => b.hash)).toEqual([hash]);
    expect((await rpc(node.url, "StorageService/Stat", { hash })).status).toBe(200);
    expect((await rpc(node.url, "StorageService/Delete", { hash }, node.adminToken)).json.code).toBe("permission_denied");
  });
});

describe("config", () => {
  it.each(["0.0.0.0:8082", "10.0.0.1:8082", "[::]:8082", "example.org:8082"])("api.hooks_listen refuses the non-loopback %s, naming the field", (v) => {
    expect(() => loadConfig({ flags: { "api.hooks_listen": v } })).toThrow(/api\.hooks_listen.*loopback/);
  });
  it.each(["127.0.0.1:0", "127.0.0.2:8082", "[::1]:8082", "localhost:8082"])("api.hooks_listen accepts %s", (v) => {
    expect(loadConfig({ flags: { "api.hooks_listen": v } }).config["api.hooks_listen"]).toBe(v);
  });
  it("two listeners on the same fixed address are refused before binding", async () => {
    const r = await runCli(["run", "--data-dir", tempDir(), "--listen", "127.0.0.1:18555", "--admin-listen", "127.0.0.1:18555"], { env: { SLOWDRIP_MEDIAMTX_MANAGE: "off" } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/api\.listen and api\.admin_listen are the same address/);
  });
});

describe("client commands default to the admin listener", () => {
  let node: RunningNode;
  afterAll(() => node?.stop());
  it("`slowdrip status` with only the config (api.admin_listen, data dir) reaches a node whose GetStatus is admin-only", async () => {
    node = await startTestNode({ "api.public_status": "false" });
    const admin = new URL(node.adminUrl);
    const env = { SLOWDRIP_URL: "", SLOWDRIP_TOKEN: "", SLOWDRIP_API_ADMIN_LISTEN: `${admin.hostname}:${admin.port}`, SLOWDRIP_API_LISTEN: new URL(node.url).host };
    const r = await runCli(["status", "--json", "--data-dir", node.dataDir], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).nodeId).toBe(node.identity.nodeId);
    // Pointed at the public listener, the same command is refused there.
    const pub = await runCli(["status", "--data-dir", node.dataDir, "--url", node.url], { env });
    expect(pub.code).not.toBe(0);
    expect(pub.stderr).toMatch(/PermissionDenied.*api\.admin_listen/);
  });
});

describe("from another network namespace (a real slowdrip run, public listener on a veth address)", () => {
  let ns: NetNs;
  let n: SpawnedNode;
  let token = "";
  let hash = "";
  const dataDir = tempDir();
  beforeAll(async () => {
    ns = createNetNs();
    n = await spawnNode(["--data-dir", dataDir, "--listen", `${ns.hostAddr}:0`]);
    token = (await import("node:fs")).readFileSync(`${dataDir}/admin.token`, "utf8").trim();
    hash = await put(n.adminUrl, token, "read from the network\n");
  });
  afterAll(async () => {
    if (n && n.child.exitCode === null) {
      const exited = new Promise((r) => n.child.once("exit", r));
      n.child.kill("SIGTERM");
      await exited;
    }
    ns?.remove();
  });
  const curl = (args: string[]) => ns.run("curl", ["-s", "-S", "--max-time", "20", "-w", "\n%{http_code}", ...args]);
  const status = (out: string) => Number(out.slice(out.lastIndexOf("\n") + 1));

  it("the node bound its public listener to the veth address, the admin listener to loopback", () => {
    expect(new URL(n.url).hostname).toBe(ns.hostAddr);
    expect(new URL(n.adminUrl).hostname).toBe("127.0.0.1");
  });
  it("public reads work from the namespace", async () => {
    const blob = await curl([`${n.url}/blobs/${hash}`]);
    expect(blob.code, blob.stderr).toBe(0);
    expect(blob.stdout).toBe("read from the network\n\n200");
    expect(status((await curl([`${n.url}/healthz`])).stdout)).toBe(200);
    const id = await curl(["-H", "content-type: application/json", "-d", "{}", `${n.url}/slowdrip.v1.NodeService/GetIdentity`]);
    expect(id.stdout).toContain(`"nodeId":"`);
  });
  it("the admin surface is refused: control RPCs with the token, /metrics, PUT /blobs, the hooks", async () => {
    const wallet = await curl(["-H", "content-type: application/json", "-H", `authorization: Bearer ${token}`, "-d", "{}", `${n.url}/slowdrip.v1.WalletService/Balance`]);
    expect(status(wallet.stdout)).toBe(403);
    expect(wallet.stdout).toMatch(/permission_denied/);
    const metrics = await curl([`${n.url}/metrics`]);
    expect(status(metrics.stdout)).toBe(403);
    expect(metrics.stdout).not.toMatch(/slowdrip_/);
    expect(status((await curl(["-X", "PUT", "-H", `authorization: Bearer ${token}`, "--data-binary", "evil", `${n.url}/blobs`])).stdout)).toBe(403);
    expect(status((await curl(["-X", "POST", "-d", "{}", `${n.url}/hooks/mediamtx/segment`])).stdout)).toBe(403);
  });
  it("client commands never send the admin token in cleartext to a non-loopback address", async () => {
    // The public listener's address is not loopback: the token (readable from the data dir) stays home.
    const r = await runCli(["status", "--json", "--url", n.url, "--data-dir", dataDir]);
    expect(r.code, r.stderr).toBe(0); // GetStatus is public
    expect(r.stderr).toMatch(/not sending the admin token in cleartext to 10\.213\./);
    const w = await runCli(["wallet", "balance", "--url", n.url, "--token", token]);
    expect(w.stderr).toMatch(/not sending the admin token in cleartext/);
    expect(w.code).not.toBe(0);
  });
  it("the admin and hooks listeners cannot even be connected to from the namespace", async () => {
    for (const u of [n.adminUrl, n.hooksUrl]) {
      const port = new URL(u).port;
      for (const host of [ns.hostAddr, "127.0.0.1"]) {
        const r = await curl([`http://${host}:${port}/healthz`]);
        expect(r.code, `${host}:${port}`).toBe(7); // curl: failed to connect
      }
    }
  });
});
