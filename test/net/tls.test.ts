// TLS on the public and admin listeners (certificates made at test time): buf curl and curl over HTTPS with HTTP/2
// and HTTP/1.1 picked by ALPN; client commands over https with --ca, SLOWDRIP_CA and a --fingerprint pin; a wrong pin
// sends not a byte (no token) to the server; half a certificate pair is refused naming both keys.
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer as createTlsServer } from "node:tls";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testBytes, refHash } from "../../src/store/contract.ts";
import { makeCert, type TestCert } from "../helpers/certs.ts";
import { ROOT, runCli, spawnNode, tempDir, type SpawnedNode } from "../helpers/node.ts";

const run = promisify(execFile);
const BUF = join(ROOT, "node_modules/.bin/buf");

describe("HTTPS listeners", () => {
  const dir = tempDir("slowdrip-tls-");
  const dataDir = join(dir, "data");
  let pub: TestCert;
  let adm: TestCert;
  let n: SpawnedNode;
  let token = "";
  let nodeId = "";
  beforeAll(async () => {
    pub = makeCert(dir, "public");
    adm = makeCert(dir, "admin");
    n = await spawnNode(["--data-dir", dataDir], {
      SLOWDRIP_API_TLS_CERT: pub.cert,
      SLOWDRIP_API_TLS_KEY: pub.key,
      SLOWDRIP_API_ADMIN_TLS_CERT: adm.cert,
      SLOWDRIP_API_ADMIN_TLS_KEY: adm.key,
    });
    token = readFileSync(join(dataDir, "admin.token"), "utf8").trim();
  });
  afterAll(async () => {
    if (n && n.child.exitCode === null) {
      const exited = new Promise((r) => n.child.once("exit", r));
      n.child.kill("SIGTERM");
      await exited;
    }
  });

  it("the node announces https URLs for the public and admin listeners; the hooks stay cleartext on loopback", () => {
    expect(n.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(n.adminUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(n.hooksUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it("buf curl over TLS: Connect and gRPC (HTTP/2 by ALPN) on the public listener, a control call on the admin one", async () => {
    const id = await run(BUF, ["curl", "--cacert", pub.cert, "--schema", "proto", "--data", "{}", `${n.url}/slowdrip.v1.NodeService/GetIdentity`], { cwd: ROOT });
    nodeId = JSON.parse(id.stdout).nodeId;
    expect(nodeId).toMatch(/^[0-9a-f]{64}$/);
    const grpc = await run(BUF, ["curl", "--cacert", pub.cert, "--protocol", "grpc", "--schema", "proto", "--data", "{}", `${n.url}/slowdrip.v1.NodeService/GetStatus`], { cwd: ROOT });
    expect(JSON.parse(grpc.stdout).nodeId).toBe(nodeId);
    const bal = await run(BUF, ["curl", "--cacert", adm.cert, "--schema", "proto", "-H", `Authorization: Bearer ${token}`, "--data", "{}", `${n.adminUrl}/slowdrip.v1.WalletService/Balance`], { cwd: ROOT });
    expect(JSON.parse(bal.stdout)).toBeTypeOf("object");
    // The public certificate does not vouch for the admin listener.
    const wrong = await run(BUF, ["curl", "--cacert", pub.cert, "--schema", "proto", "--data", "{}", `${n.adminUrl}/slowdrip.v1.NodeService/GetIdentity`], { cwd: ROOT }).catch((e: { stderr: string }) => e);
    expect((wrong as { stderr: string }).stderr).toMatch(/certificate/i);
  });

  it("curl gets HTTP/2 or HTTP/1.1 as it asks (ALPN); cleartext on the TLS port gets no HTTP answer", async () => {
    for (const [flag, version] of [["--http2", "2"], ["--http1.1", "1.1"]] as const) {
      const r = await run("curl", ["-s", "-S", "--cacert", pub.cert, flag, "-o", "/dev/null", "-w", "%{http_code} %{http_version}", `${n.url}/healthz`]);
      expect(r.stdout).toBe(`200 ${version}`);
    }
    const plain = await run("curl", ["-s", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", n.url.replace("https:", "http:") + "/healthz"]).catch((e: { stdout: string }) => e);
    expect((plain as { stdout: string }).stdout).toBe("000");
  });

  it("`slowdrip status` over https: --ca works, a missing trust is a clear error, a --fingerprint pin works", async () => {
    const ok = await runCli(["status", "--json", "--url", n.adminUrl, "--ca", adm.cert, "--data-dir", dataDir]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).nodeId).toBe(nodeId);
    const untrusted = await runCli(["status", "--url", n.adminUrl, "--data-dir", dataDir]);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/cannot reach the node at https:.*certificate.*--ca FILE or --fingerprint SHA256/);
    const pinned = await runCli(["status", "--json", "--url", n.adminUrl, "--fingerprint", adm.fingerprint, "--data-dir", dataDir]);
    expect(pinned.code, pinned.stderr).toBe(0);
    const lower = await runCli(["status", "--url", n.adminUrl, "--data-dir", dataDir], { env: { SLOWDRIP_FINGERPRINT: adm.fingerprint.replace(/:/g, "").toLowerCase() } });
    expect(lower.code, lower.stderr).toBe(0);
    const wrongPin = await runCli(["status", "--url", n.adminUrl, "--fingerprint", pub.fingerprint, "--data-dir", dataDir]);
    expect(wrongPin.code).toBe(1);
    expect(wrongPin.stderr).toMatch(/fingerprint/);
    const bad = await runCli(["status", "--url", n.adminUrl, "--fingerprint", "12:34", "--data-dir", dataDir]);
    expect(bad.code).toBe(2);
  });

  it("`slowdrip blob put/get` find the https admin listener from the config alone (api.admin_tls_cert) and SLOWDRIP_CA", async () => {
    const file = join(dir, "over-tls.bin");
    const data = testBytes(300_000, 9);
    writeFileSync(file, data);
    const admin = new URL(n.adminUrl);
    const env = { SLOWDRIP_URL: "", SLOWDRIP_TOKEN: "", SLOWDRIP_API_ADMIN_LISTEN: admin.host, SLOWDRIP_API_ADMIN_TLS_CERT: adm.cert, SLOWDRIP_CA: adm.cert };
    const put = await runCli(["blob", "put", file, "--data-dir", dataDir], { env });
    expect(put.code, put.stderr).toBe(0);
    expect(put.stdout).toBe(`${refHash(data)}  ${file}\n`);
    const get = await runCli(["blob", "get", refHash(data), "-o", join(dir, "back.bin"), "--data-dir", dataDir], { env });
    expect(get.code, get.stderr).toBe(0);
    expect(readFileSync(join(dir, "back.bin")).equals(Buffer.from(data))).toBe(true);
  });

  it("`slowdrip stream verify` reads an https origin with --ca", async () => {
    const recordDir = join(dataDir, "mediamtx", "segments");
    mkdirSync(recordDir, { recursive: true });
    for (let i = 1; i <= 2; i++) {
      const seg = join(recordDir, `tls-000${i}.ts`);
      writeFileSync(seg, testBytes(50_000, 20 + i));
      const hook = await fetch(`${n.hooksUrl}/hooks/mediamtx/segment`, { method: "POST", body: new URLSearchParams({ path: "live/tls", segment: seg, duration: "2" }) });
      expect(hook.status, await hook.text()).toBe(200);
    }
    const v = await runCli(["stream", "verify", `${n.url}/live/live/tls/`, "--creator", nodeId, "--ca", pub.cert]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/^ok: stream 'live\/tls'.* 2 segments hashed/);
    const untrusted = await runCli(["stream", "verify", `${n.url}/live/live/tls/`, "--creator", nodeId]);
    expect(untrusted.code).toBe(1);
  });
});

describe("a wrong pin", () => {
  it("sends nothing, not even the token, to a server whose certificate does not match", async () => {
    const dir = tempDir("slowdrip-pin-");
    const cert = makeCert(dir, "impostor");
    const genuine = makeCert(dir, "genuine");
    let received = "";
    let connections = 0;
    const server = createTlsServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key), ALPNProtocols: ["http/1.1"] }, (s) => {
      s.on("data", (d: Buffer) => {
        received += d.toString("latin1");
        s.destroy();
      });
      s.on("error", () => {});
    });
    server.on("connection", () => connections++);
    server.on("tlsClientError", () => {});
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const { port } = server.address() as { port: number };
      const status = (pin: string) => runCli(["status", "--url", `https://127.0.0.1:${port}`, "--fingerprint", pin, "--token", "s3cret-admin-token", "--data-dir", dir]);
      const r = await status(genuine.fingerprint);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/fingerprint/);
      expect(connections).toBeGreaterThan(0);
      expect(received).toBe("");
      // The control: with the server's own fingerprint the request (and the token) does arrive.
      await status(cert.fingerprint);
      expect(received).toMatch(/authorization: Bearer s3cret-admin-token/i);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe("TLS config", () => {
  it("half a certificate pair is refused at start, naming both keys", async () => {
    const dir = tempDir();
    const c = makeCert(dir, "half");
    const r = await runCli(["run", "--data-dir", join(dir, "data")], { env: { SLOWDRIP_API_TLS_CERT: c.cert, SLOWDRIP_MEDIAMTX_MANAGE: "off", SLOWDRIP_API_LISTEN: "127.0.0.1:0", SLOWDRIP_API_ADMIN_LISTEN: "127.0.0.1:0", SLOWDRIP_API_HOOKS_LISTEN: "127.0.0.1:0" } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/api\.tls_cert and api\.tls_key go together/);
    const mismatched = await runCli(["run", "--data-dir", join(dir, "data")], {
      env: { SLOWDRIP_API_ADMIN_TLS_CERT: c.cert, SLOWDRIP_API_ADMIN_TLS_KEY: makeCert(dir, "other").key, SLOWDRIP_MEDIAMTX_MANAGE: "off", SLOWDRIP_API_LISTEN: "127.0.0.1:0", SLOWDRIP_API_ADMIN_LISTEN: "127.0.0.1:0", SLOWDRIP_API_HOOKS_LISTEN: "127.0.0.1:0" },
    });
    expect(mismatched.code).not.toBe(0);
    expect(mismatched.stderr).toMatch(/api\.admin_tls_cert \/ api\.admin_tls_key: not a usable PEM certificate and key/);
  });
});
