// BUD-04 PUT /mirror on a real `slowdrip run`: a blob from an allowed host (a loopback test server) is fetched, checked
// against its SHA-256 and stored; hosts not in blossom.mirror_hosts are refused without a request to them (also behind
// a redirect); wrong bytes and oversized origins store nothing.
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Actions, createMirrorAuth } from "blossom-client-sdk";
import { spawnNode, tempDir, type SpawnedNode } from "../helpers/node.ts";
import { authEvent, authHeader, nostrUser, sha256Hex, stopNode } from "./helpers.ts";

const user = nostrUser();
const dir = tempDir("slowdrip-blossom-mirror-");
const blob = randomBytes(400_000);
const sha = sha256Hex(blob);
const seen: string[] = [];
let origin: Server;
let port = 0;
let node: SpawnedNode;

beforeAll(async () => {
  origin = createServer((req, res) => {
    seen.push(`${req.headers.host} ${req.url}`);
    const url = req.url ?? "/";
    if (url === `/${sha}.png`) {
      res.writeHead(200, { "content-type": "image/png", "content-length": String(blob.length) });
      res.end(blob);
    } else if (url === `/hop/${sha}`) {
      res.writeHead(302, { location: `http://127.0.0.1:${port}/${sha}.png` });
      res.end();
    } else if (url === `/away/${sha}`) {
      res.writeHead(302, { location: `http://localhost:${port}/${sha}.png` });
      res.end();
    } else if (url === `/wrong/${sha}`) {
      res.writeHead(200, { "content-type": "image/png" });
      res.end(randomBytes(1000));
    } else if (url.startsWith("/big/")) {
      res.writeHead(200, { "content-length": String(2 * 1024 * 1024) });
      res.end(Buffer.alloc(2 * 1024 * 1024));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => origin.listen(0, "127.0.0.1", r));
  port = (origin.address() as AddressInfo).port;
  node = await spawnNode([
    "--data-dir", dir,
    "--set", `blossom.allowed_pubkeys=${user.pubkey}`,
    "--set", `blossom.mirror_hosts=127.0.0.1:${port}`,
    "--set", "blossom.max_upload_size=1MiB",
  ]);
}, 60_000);

afterAll(async () => {
  await stopNode(node);
  origin?.closeAllConnections();
  await new Promise((r) => origin?.close(r));
  rmSync(dir, { recursive: true, force: true });
});

async function blobs(): Promise<number> {
  const text = await (await fetch(`${node.adminUrl}/metrics`)).text();
  return Number(/^slowdrip_store_blobs (\S+)$/m.exec(text)?.[1]);
}

function mirror(url: string, x = sha): Promise<Response> {
  return fetch(`${node.url}/mirror`, {
    method: "PUT",
    body: JSON.stringify({ url }),
    headers: { "content-type": "application/json", authorization: authHeader(authEvent(user, { x: [x] })) },
  });
}

describe("PUT /mirror (BUD-04)", () => {
  it("refuses hosts that are not in blossom.mirror_hosts, without asking them (also behind a redirect)", async () => {
    const before = await blobs();
    for (const url of [`http://localhost:${port}/${sha}.png`, `http://127.0.0.1:${port + 1}/${sha}.png`, `http://[::1]:${port}/${sha}.png`]) {
      const r = await mirror(url);
      expect(r.status).toBe(403);
      expect(r.headers.get("x-reason")).toMatch(/^mirror-host: /);
    }
    expect(seen).toEqual([]);
    const r = await mirror(`http://127.0.0.1:${port}/away/${sha}`);
    expect(r.status).toBe(403);
    expect(r.headers.get("x-reason")).toMatch(/^mirror-host: .*localhost/);
    expect(seen).toEqual([`127.0.0.1:${port} /away/${sha}`]);
    for (const url of ["file:///etc/passwd", `http://user:pw@127.0.0.1:${port}/${sha}.png`]) {
      const bad = await mirror(url);
      expect(bad.status).toBe(400);
      expect(bad.headers.get("x-reason")).toMatch(/^bad-url: /);
    }
    expect(await blobs()).toBe(before);
  });

  it("wrong bytes get 409 and oversized origins 413; nothing is stored", async () => {
    const before = await blobs();
    const wrong = await mirror(`http://127.0.0.1:${port}/wrong/${sha}`);
    expect(wrong.status).toBe(409);
    expect(wrong.headers.get("x-reason")).toMatch(/^sha256-mismatch: /);
    const bigSha = sha256Hex(Buffer.alloc(2 * 1024 * 1024));
    const big = await mirror(`http://127.0.0.1:${port}/big/${bigSha}`, bigSha);
    expect(big.status).toBe(413);
    expect(big.headers.get("x-reason")).toMatch(/^too-large: /);
    const missing = await mirror(`http://127.0.0.1:${port}/nothing/${sha}`);
    expect(missing.status).toBe(502);
    expect(await blobs()).toBe(before);
  });

  it("mirrors from an allowed host with blossom-client-sdk: verified, stored, typed from the origin", async () => {
    const desc = await Actions.mirrorBlob(
      node.url,
      { url: `http://127.0.0.1:${port}/hop/${sha}`, sha256: sha, size: blob.length, type: "image/png", uploaded: 0 },
      { onAuth: (s, hash) => createMirrorAuth(user.signer, hash, { servers: s }) },
    );
    expect(desc).toMatchObject({ sha256: sha, size: blob.length, type: "image/png", url: `${node.url}/${sha}.png` });
    const got = await fetch(`${node.url}/${sha}`);
    expect(got.headers.get("content-type")).toBe("image/png");
    expect(Buffer.from(await got.arrayBuffer()).equals(blob)).toBe(true);
    const list = (await (await fetch(`${node.url}/list/${user.pubkey}`)).json()) as { sha256: string }[];
    expect(list.map((d) => d.sha256)).toEqual([sha]);
  });
});
