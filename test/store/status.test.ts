// `slowdrip status` against a running node: the store component's detail names the current blob count, not the one
// it had at start-up.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storeOnly } from "../../src/node/components.ts";
import type { RunningNode } from "../../src/node/node.ts";
import { testBytes } from "../../src/store/contract.ts";
import { runCli, startTestNode } from "../helpers/node.ts";

let node: RunningNode;
beforeAll(async () => {
  node = await startTestNode({}, storeOnly);
});
afterAll(async () => {
  await node?.stop();
});

describe("slowdrip status", () => {
  it("shows the store's current blob count in its component detail", async () => {
    const before = await runCli(["status", "--url", node.url, "--token", node.adminToken]);
    expect(before.code, before.stderr).toBe(0);
    expect(before.stdout).toMatch(/store: open: 0 blobs, 0 bytes/);
    for (const seed of [1, 2]) {
      const res = await fetch(`${node.adminUrl}/blobs`, { method: "PUT", headers: { authorization: `Bearer ${node.adminToken}` }, body: testBytes(1000, seed) as Uint8Array<ArrayBuffer> });
      expect(res.status).toBe(201);
    }
    const after = await runCli(["status", "--url", node.url, "--token", node.adminToken]);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).toMatch(/storage\s+2\.0 KiB in 2 blobs/);
    expect(after.stdout).toMatch(/store: open: 2 blobs, 2000 bytes/);
    const ready = (await (await fetch(`${node.url}/readyz`)).json()) as { components: { name: string; detail: string }[] };
    expect(ready.components.find((c) => c.name === "store")?.detail).toBe("open: 2 blobs, 2000 bytes");
  });
});
