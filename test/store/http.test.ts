// /blobs over HTTP against curl: Range (206/416, multi-range = full body), caching headers, CORS, PUT upload and bad input.
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningNode } from "../../src/node/node.ts";
import { storeOnly } from "../../src/node/components.ts";
import { refHash, testBytes } from "../../src/store/contract.ts";
import { startTestNode, tempDir } from "../helpers/node.ts";

const run = promisify(execFile);
const MiB = 1024 * 1024;
const dir = tempDir("slowdrip-http-");
let node: RunningNode;
let n = 0;

interface CurlResult {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Runs curl and returns the final status, headers (lowercase names) and body. */
async function curl(args: string[]): Promise<CurlResult> {
  const out = join(dir, `body-${n++}`);
  let stdout: string;
  try {
    ({ stdout } = await run("curl", ["-s", "-S", "-D", "-", "-o", out, ...args], { maxBuffer: 1 << 20 }));
  } catch (err) {
    // A node that refuses an upload answers at once and closes; a curl still sending the body then exits 55 (send
    // failure) after it has read the answer, which is what the tests check.
    const e = err as { code?: number; stdout?: string };
    if (e.code !== 55 || !/^HTTP\/[\d.]+ \d{3}/m.test(e.stdout ?? "")) throw err;
    stdout = e.stdout!;
  }
  const blocks = stdout.trim().split(/\r?\n\r?\n/);
  const lines = (blocks.at(-1) ?? "").split(/\r?\n/);
  const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(lines[0] ?? "")?.[1]);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(":");
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = Buffer.alloc(0);
  try {
    body = readFileSync(out);
  } catch {
    // HEAD and empty answers write no file
  }
  return { status, headers, body };
}

const data = testBytes(2 * MiB + 333, 31);
const hash = refHash(data);
const file = join(dir, "blob.bin");
writeFileSync(file, data);
const auth = () => ["-H", `Authorization: Bearer ${node.adminToken}`];

async function usage(): Promise<{ bytes: number; blobs: number }> {
  const text = await (await fetch(`${node.adminUrl}/metrics`)).text();
  const m = (k: string) => Number(new RegExp(`^${k} (\\S+)$`, "m").exec(text)?.[1]);
  return { bytes: m("slowdrip_store_bytes_used"), blobs: m("slowdrip_store_blobs") };
}

beforeAll(async () => {
  node = await startTestNode({ "store.max_storage": "6MiB", "store.cache_max_blob": "64KiB" }, storeOnly);
});
afterAll(() => node?.stop());

describe("PUT /blobs", () => {
  it("uploads with the admin token: 201 with {hash, size}, then 200 when already stored", async () => {
    const r = await curl(["-X", "PUT", "--data-binary", `@${file}`, ...auth(), `${node.adminUrl}/blobs`]);
    expect(r.status).toBe(201);
    expect(JSON.parse(r.body.toString())).toEqual({ hash, size: data.length });
    expect(r.headers.location).toBe(`/blobs/${hash}`);
    const again = await curl(["-X", "PUT", "--data-binary", `@${file}`, "-H", `X-Blake3: ${hash}`, ...auth(), `${node.adminUrl}/blobs`]);
    expect(again.status).toBe(200);
    expect(await usage()).toEqual({ bytes: data.length, blobs: 1 });
  });

  it("streams a chunked body of unknown length", async () => {
    const small = testBytes(300_000, 32);
    const f = join(dir, "small.bin");
    writeFileSync(f, small);
    const r = await curl(["-X", "PUT", "-H", "Transfer-Encoding: chunked", "-T", f, ...auth(), `${node.adminUrl}/blobs`]);
    expect(r.status).toBe(201);
    expect(JSON.parse(r.body.toString())).toEqual({ hash: refHash(small), size: small.length });
    const del = await fetch(`${node.url}/blobs/${refHash(small)}`, { method: "HEAD" });
    expect(del.status).toBe(200);
  });

  it("refuses without or with a wrong token (401)", async () => {
    expect((await curl(["-X", "PUT", "--data-binary", "abc", `${node.adminUrl}/blobs`])).status).toBe(401);
    expect((await curl(["-X", "PUT", "--data-binary", "abc", "-H", "Authorization: Bearer wrong", `${node.adminUrl}/blobs`])).status).toBe(401);
    expect((await curl([`${node.url}/blobs/${refHash(Buffer.from("abc"))}`])).status).toBe(404);
  });

  it("X-Blake3 mismatch answers 409 and stores nothing; a malformed X-Blake3 is 400", async () => {
    const before = await usage();
    const r = await curl(["-X", "PUT", "--data-binary", "hello", "-H", `X-Blake3: ${"0".repeat(64)}`, ...auth(), `${node.adminUrl}/blobs`]);
    expect(r.status).toBe(409);
    expect(JSON.parse(r.body.toString()).error).toMatch(/hash mismatch/);
    expect((await curl([`${node.url}/blobs/${refHash(Buffer.from("hello"))}`])).status).toBe(404);
    expect((await curl(["-X", "PUT", "--data-binary", "hello", "-H", "X-Blake3: nothex", ...auth(), `${node.adminUrl}/blobs`])).status).toBe(400);
    expect(await usage()).toEqual(before);
  });

  it("an upload over max_storage answers 507 and stores nothing", async () => {
    // Pinned, so that GC cannot make room by collecting them (an upload of unknown size would).
    const pin = (h: string, m: "Pin" | "Unpin") =>
      fetch(`${node.adminUrl}/slowdrip.v1.StorageService/${m}`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${node.adminToken}` }, body: JSON.stringify({ hash: h }) });
    const list = (await (await fetch(`${node.adminUrl}/slowdrip.v1.StorageService/List`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${node.adminToken}` }, body: "{}" })).json()) as { blobs: { hash: string; pinned?: boolean }[] };
    const stored = list.blobs.filter((b) => !b.pinned).map((b) => b.hash);
    for (const h of stored) expect((await pin(h, "Pin")).status).toBe(200);
    const before = await usage();
    const big = testBytes(5 * MiB, 33);
    const f = join(dir, "big.bin");
    writeFileSync(f, big);
    expect((await curl(["-X", "PUT", "--data-binary", `@${f}`, ...auth(), `${node.adminUrl}/blobs`])).status).toBe(507);
    expect((await curl(["-X", "PUT", "-H", "Transfer-Encoding: chunked", "-T", f, ...auth(), `${node.adminUrl}/blobs`])).status).toBe(507);
    expect((await curl(["-I", `${node.url}/blobs/${refHash(big)}`])).status).toBe(404);
    expect(await usage()).toEqual(before);
    for (const h of stored) expect((await pin(h, "Unpin")).status).toBe(200);
  });

  it("a client that disconnects midway leaves no partial blob", async () => {
    const before = await usage();
    const body = testBytes(MiB, 34);
    await new Promise<void>((resolve) => {
      const req = request(`${node.adminUrl}/blobs`, { method: "PUT", headers: { authorization: `Bearer ${node.adminToken}`, "content-length": String(body.length) } });
      req.on("error", () => resolve());
      req.write(body.subarray(0, 300_000), () => setTimeout(() => req.destroy(), 100));
    });
    await new Promise((r) => setTimeout(r, 300));
    expect((await curl(["-I", `${node.url}/blobs/${refHash(body)}`])).status).toBe(404);
    expect(await usage()).toEqual(before);
  });
});

describe("GET/HEAD /blobs/<hash>", () => {
  const url = () => `${node.url}/blobs/${hash}`;

  it("serves the whole blob with caching, range and CORS headers", async () => {
    const r = await curl([url()]);
    expect(r.status).toBe(200);
    expect(r.body.equals(Buffer.from(data))).toBe(true);
    expect(r.headers).toMatchObject({
      etag: `"${hash}"`,
      "cache-control": "public, max-age=31536000, immutable",
      "accept-ranges": "bytes",
      "content-length": String(data.length),
      "access-control-allow-origin": "*",
    });
  });

  it("HEAD answers the same headers without a body", async () => {
    const r = await curl(["-I", url()]);
    expect(r.status).toBe(200);
    expect(r.headers["content-length"]).toBe(String(data.length));
    expect(r.headers.etag).toBe(`"${hash}"`);
    const res = await fetch(url(), { method: "HEAD" });
    expect(res.headers.get("content-length")).toBe(String(data.length));
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  const size = data.length;
  const cases: [string, string, number, number][] = [
    ["first byte", "0-0", 0, 0],
    ["a middle range across chunks", "262100-524400", 262100, 524400],
    ["open-ended", `${size - 1000}-`, size - 1000, size - 1],
    ["suffix", "-777", size - 777, size - 1],
    ["end past the size is clamped", `${size - 10}-${size + 5000}`, size - 10, size - 1],
    ["suffix longer than the blob", `-${size + 10}`, 0, size - 1],
  ];
  it.each(cases)("Range %s -> 206", async (_name, spec, start, end) => {
    const r = await curl(["-r", spec, url()]);
    expect(r.status).toBe(206);
    expect(r.headers["content-range"]).toBe(`bytes ${start}-${end}/${size}`);
    expect(r.headers["content-length"]).toBe(String(end - start + 1));
    expect(r.body.equals(Buffer.from(data.subarray(start, end + 1)))).toBe(true);
  });

  it("a range over HTTP/2 (prior knowledge) works the same", async () => {
    const r = await curl(["--http2-prior-knowledge", "-r", "100-199", url()]);
    expect(r.status).toBe(206);
    expect(r.body.equals(Buffer.from(data.subarray(100, 200)))).toBe(true);
  });

  it("a range outside the blob is 416 with Content-Range: bytes */size", async () => {
    for (const spec of [`${size}-`, `${size + 100}-${size + 200}`, "-0"]) {
      const r = await curl(["-r", spec, url()]);
      expect(r.status, spec).toBe(416);
      expect(r.headers["content-range"], spec).toBe(`bytes */${size}`);
    }
  });

  it("a multi-range request gets the full body with 200 (documented choice)", async () => {
    const r = await curl(["-r", "0-9,100-109", url()]);
    expect(r.status).toBe(200);
    expect(r.body.equals(Buffer.from(data))).toBe(true);
  });

  it("If-None-Match with the ETag is 304; an If-Range that does not match sends the full body", async () => {
    expect((await curl(["-H", `If-None-Match: "${hash}"`, url()])).status).toBe(304);
    const r = await curl(["-r", "0-9", "-H", 'If-Range: "other"', url()]);
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(size);
  });

  it("CORS preflight", async () => {
    const r = await curl(["-X", "OPTIONS", "-H", "Origin: https://example.org", "-H", "Access-Control-Request-Headers: range", url()]);
    expect(r.status).toBe(204);
    expect(r.headers["access-control-allow-origin"]).toBe("*");
    expect(r.headers["access-control-allow-headers"]).toMatch(/range/);
    expect(r.headers["access-control-allow-methods"]).toMatch(/GET/);
  });

  it("a malformed hash is 400, an unknown one 404", async () => {
    for (const bad of ["xyz", "AB".repeat(32), "ab".repeat(33), "g".repeat(64), "%20"]) {
      expect((await curl([`${node.url}/blobs/${bad}`])).status, bad).toBe(400);
    }
    const r = await curl([`${node.url}/blobs/${"ef".repeat(32)}`]);
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body.toString()).error).toMatch(/not found/);
  });

  it("small blobs are served from the LRU", async () => {
    const small = testBytes(1000, 35);
    const f = join(dir, "tiny.bin");
    writeFileSync(f, small);
    const h = JSON.parse((await curl(["-X", "PUT", "--data-binary", `@${f}`, ...auth(), `${node.adminUrl}/blobs`])).body.toString()).hash;
    const hits = async () => Number(/^slowdrip_store_cache_hits_total (\d+)$/m.exec(await (await fetch(`${node.adminUrl}/metrics`)).text())?.[1]);
    const before = await hits();
    for (let i = 0; i < 3; i++) expect((await curl([`${node.url}/blobs/${h}`])).body.equals(Buffer.from(small))).toBe(true);
    expect(await hits()).toBe(before + 2);
  });
});

describe("GET /blobs/<hash> and the fetch limit", () => {
  let one: RunningNode;
  afterAll(() => one?.stop());

  it("a client that goes away mid-body frees its fetch slot", async () => {
    one = await startTestNode({ "tuning.fetch_concurrency": "1", "tuning.queue_timeout": "2s" }, storeOnly);
    const put = await curl(["-X", "PUT", "--data-binary", `@${file}`, "-H", `Authorization: Bearer ${one.adminToken}`, `${one.adminUrl}/blobs`]);
    expect(put.status).toBe(201);
    const url = `${one.url}/blobs/${hash}`;
    for (let i = 0; i < 3; i++) {
      // Read a little of the body over a slow reader, then drop the connection.
      await new Promise<void>((resolve, reject) => {
        const req = request(url, (res) => {
          res.once("data", () => {
            req.destroy();
            resolve();
          });
        });
        req.on("error", (e) => ((e as NodeJS.ErrnoException).code === "ECONNRESET" ? resolve() : reject(e)));
        req.end();
      });
    }
    const r = await curl([url]);
    expect(r.status).toBe(200);
    expect(r.body.equals(Buffer.from(data))).toBe(true);
  });
});

