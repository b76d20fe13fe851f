// The real node killed with SIGKILL during an HTTP upload: after a restart the partial import is swept, nothing is
// visible or counted, and the same upload then succeeds.
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

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
}

describe("node killed during an upload", () => {
  it("restarts with the partial import swept and the space unchanged", { timeout: 120_000 }, async () => {
    const dir = tempDir("slowdrip-node-crash-");
    const args = ["--data-dir", dir, "--listen", "127.0.0.1:0", "--set", "api.max_body_size=512MiB"];
    const first = await spawnNode(args);
    children.push(first.child);
    const token = readFileSync(join(dir, "admin.token"), "utf8").trim();
    const body = testBytes(64 * MiB, 61);

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
    expect((await fetch(`${second.url}/blobs/${refHash(body)}`, { method: "HEAD" })).status).toBe(404);

    const res = await fetch(`${second.adminUrl}/blobs`, { method: "PUT", headers: { authorization: `Bearer ${token}`, "x-blake3": refHash(body) }, body: body as Uint8Array<ArrayBuffer> });
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ hash: refHash(body), size: body.length });
    expect(await metric(second.adminUrl, "slowdrip_store_bytes_used")).toBe(body.length);
    second.child.kill("SIGTERM");
    await new Promise((r) => second.child.once("exit", r));
    expect(second.child.exitCode).toBe(0);
  });
});
