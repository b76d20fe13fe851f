// HTTP kernels shared by `slowdrip bench` and bench/: a blob upload to the admin listener, and GET of a stored blob
// over loopback from a store-only node started in a given data dir.
import { Agent, get, request } from "node:http";
import { loadConfig } from "../config/load.ts";
import { createLogger } from "../node/logger.ts";
import { startNode } from "../node/node.ts";
import { storeOnly } from "../node/components.ts";
import { batchMBps, median, randomBytes } from "./kernels.ts";

/** Uploads `payload` to a node's admin listener (PUT /blobs with the admin token); resolves to its BLAKE3. */
export function putBlob(adminUrl: string, adminToken: string, payload: Uint8Array): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${adminUrl}/blobs`, { method: "PUT", headers: { authorization: `Bearer ${adminToken}`, "content-length": String(payload.byteLength) } }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => (res.statusCode === 201 ? resolve(JSON.parse(body).hash) : reject(new Error(`upload: ${res.statusCode} ${body}`))));
    });
    req.on("error", reject);
    req.end(payload);
  });
}

/** GETs `url` with a keep-alive agent and discards the body; resolves to the body's length. */
export function httpGetLength(url: string, agent: Agent, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, { agent, headers }, (res) => {
      let n = 0;
      res.on("data", (d: Buffer) => (n += d.length));
      res.on("end", () => (res.statusCode === 200 || res.statusCode === 206 ? resolve(n) : reject(new Error(`GET ${url}: ${res.statusCode}`))));
      res.on("error", reject);
    }).on("error", reject);
  });
}

/**
 * Starts a store-only node with its data in `dataDir` on loopback, stores a random blob of `size` bytes and GETs it
 * (verified store reads, keep-alive) for `rounds` batches of at least `ms`; the median MB/s. The node is stopped.
 */
export async function httpGetMBps(dataDir: string, size: number, ms: number, rounds = 3): Promise<number> {
  const { config } = loadConfig({
    flags: {
      "api.listen": "127.0.0.1:0", "api.admin_listen": "127.0.0.1:0", "api.hooks_listen": "127.0.0.1:0",
      "node.data_dir": dataDir, "node.log_level": "silent", "api.max_body_size": String(Math.max(size, 1 << 20)),
    },
  });
  const node = await startNode(config, createLogger("silent"), storeOnly);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const hash = await putBlob(node.adminUrl, node.adminToken, randomBytes(size));
    const url = `${node.url}/blobs/${hash}`;
    const r: number[] = [];
    for (let i = 0; i < rounds; i++) {
      r.push(await batchMBps(async () => {
        const n = await httpGetLength(url, agent);
        if (n !== size) throw new Error(`GET returned ${n} of ${size} bytes`);
      }, size, ms));
    }
    return median(r);
  } finally {
    agent.destroy();
    await node.stop();
  }
}
