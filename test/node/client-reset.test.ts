// A client that resets its connection while pipelined RPC calls await their answers does not bring the node down.
import { connect } from "node:net";
import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll, expect, it } from "vitest";
import { spawnNode, tempDir } from "../helpers/node.ts";
import { serverErrors } from "../fuzz/target.ts";

let node: { child: ChildProcess; url: string; logs: () => string };
beforeAll(async () => {
  node = await spawnNode(["--data-dir", tempDir(), "--listen", "127.0.0.1:0"]);
});
afterAll(() => node?.child.kill("SIGKILL"));

const PIPELINED = [
  `GET /blobs/${"a".repeat(64)} HTTP/1.1\r\nHost: node\r\n\r\nGET /slowdrip.v1.StorageService/Stat HTTP/1.1\r\nHost: node\r\n\r\nHEAD /slowdrip.v1.NodeService/GetStatus HTTP/1.1\r\nHost: node\r\n\r\n`,
  "GET /slowdrip.v1.StorageService/Stat HTTP/1.1\r\nHost: node\r\n\r\nGET /slowdrip.v1.NodeService/GetStatus HTTP/1.1\r\nHost: node\r\n\r\nGET /healthz HTTP/1.1\r\nHost: node\r\n\r\n",
];

it("survives 4,000 connections that pipeline RPC calls and reset before the answers", async () => {
  const { hostname, port } = new URL(node.url);
  for (let round = 0; round < 200 && node.child.exitCode === null; round++) {
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => new Promise<void>((done) => {
        const s = connect(Number(port), hostname, () => {
          s.write(PIPELINED[(round + i) % PIPELINED.length]!);
          // Cut at different points of the answers: right away, or a few ms in; half of them with a TCP reset.
          setTimeout(() => (i % 2 ? s.resetAndDestroy() : s.destroy()), (round * 7 + i) % 4);
        });
        s.on("error", () => {});
        s.on("close", () => done());
      })),
    );
  }
  expect(node.child.exitCode, node.logs().split("\n").slice(-20).join("\n")).toBeNull();
  expect((await fetch(`${node.url}/healthz`)).status).toBe(200);
  expect(serverErrors(node.logs())).toEqual([]);
});
