// The real node killed with SIGKILL during an HTTP upload: after a restart the partial import is swept, nothing is
// visible or counted, and the same upload then succeeds.
//
// Every request here opens its own connection. Under a heavy load (load average 12-16 on 2 cores) a reused keep-alive
// connection could be closed by the node's idle timeout (5 s) just as the next request went out on it: the test used to
// hash the 64 MiB body in JavaScript between its HEAD and its PUT, which took about that long, and the PUT then failed
// with "fetch failed ... write EPIPE" (or "other side closed") without any answer from the node. The hash is now
// computed once up front, and a refused upload reports the status the node gave.
import { request } from "node:http";
import { afterAll, describe, expect, it } from "vitest";
import type { ChildProcess } from "node:child_process";
import { refHash, testBytes } from "../../src/store/contract.ts";
import { spawnNode, tempDir } from "../helpers/node.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const MiB = 1024 * 1024;
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

/**
 * PUTs `body` and reports what the node answered, even when it answered before taking the whole body (the write then
 * fails with EPIPE or ECONNRESET, which fetch reports only as "fetch failed").
 */
function put(url: string, headers: Record<string, string>, body: Uint8Array): Promise<{ status: number; body: string; writeError?: string }> {
  return new Promise((resolve, reject) => {
    let writeError: string | undefined;
    const req = request(url, { method: "PUT", headers: { ...headers, "content-length": String(body.length) }, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text, ...(writeError ? { writeError } : {}) }));
      res.on("error", reject);
    });
    req.on("error", (e) => {
      writeError = e.message;
      // An answer may still arrive (an early refusal); give it a moment before calling this a failure.
      setTimeout(() => reject(new Error(`PUT failed before any answer: ${e.message}`)), 2000).unref();
    });
    req.end(body);
  });
}

/** A GET or HEAD on a fresh connection. */
function get(url: string, method: "GET" | "HEAD" = "GET"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

async function metric(url: string, name: string): Promise<number> {
  const { body } = await get(`${url}/metrics`);
  return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(body)?.[1]);
}

describe("node killed during an upload", () => {
  it("restarts with the partial import swept and the space unchanged", { timeout: 120_000 }, async () => {
    const dir = tempDir("slowdrip-node-crash-");
    const args = ["--data-dir", dir, "--listen", "127.0.0.1:0", "--set", "api.max_body_size=512MiB"];
    const first = await spawnNode(args);
    children.push(first.child);
    const token = readFileSync(join(dir, "admin.token"), "utf8").trim();
    const body = testBytes(64 * MiB, 61);
    const hash = refHash(body);

    // Send part of a declared 64 MiB body, then kill the node mid-import.
    await new Promise<void>((resolve) => {
      const req = request(`${first.adminUrl}/blobs`, { method: "PUT", headers: { authorization: `Bearer ${token}`, "content-length": String(body.length) } });
      req.on("error", () => resolve());
      let at = 0;
      const pump = () => {
        while (at < 40 * MiB) {
          const piece = body.subarray(at, at + MiB);
          at += piece.length;
          if (!req.write(piece)) return void req.once("drain", pump);
        }
        // 40 MiB sent: give the node a moment to write chunks, then kill it.
        setTimeout(() => first.child.kill("SIGKILL"), 300);
      };
      pump();
    });
    await new Promise((r) => (first.child.exitCode !== null || first.child.signalCode !== null ? r(undefined) : first.child.once("exit", r)));
    expect(first.child.signalCode).toBe("SIGKILL");

    const second = await spawnNode(args);
    children.push(second.child);
    expect(second.logs()).toMatch(/removed unfinished imports left by an earlier crash/);
    expect(await metric(second.adminUrl, "slowdrip_store_bytes_used")).toBe(0);
    expect(await metric(second.adminUrl, "slowdrip_store_blobs")).toBe(0);
    expect((await get(`${second.url}/blobs/${hash}`, "HEAD")).status).toBe(404);

    const res = await put(`${second.adminUrl}/blobs`, { authorization: `Bearer ${token}`, "x-blake3": hash }, body);
    expect(res, `the node answered ${res.status} ${res.body}${res.writeError ? ` (before the body was sent: ${res.writeError})` : ""}`).toMatchObject({ status: 201 });
    expect(JSON.parse(res.body)).toEqual({ hash, size: body.length });
    expect(await metric(second.adminUrl, "slowdrip_store_bytes_used")).toBe(body.length);
    second.child.kill("SIGTERM");
    await new Promise((r) => second.child.once("exit", r));
    expect(second.child.exitCode).toBe(0);
  });
});
