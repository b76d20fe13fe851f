// PutFile written frame by frame against a real Connect server (connect-node over node:http): the messages arrive as
// a stock client's would, and a refusal ends the upload without the rest of the file being sent.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { PutFileResponseSchema, ValidatorService, type PutFileRequest } from "../gen/slowdrip/v1/cluster_pb.ts";
import { putFileFramed } from "./file-upload.ts";

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = undefined;
});

/** A Connect server whose PutFile runs `handle` over the request stream; resolves to its base URL. */
async function serve(handle: (reqs: AsyncIterable<PutFileRequest>, auth: string | null) => Promise<{ hash: string; size: number }>): Promise<string> {
  const routes = (router: ConnectRouter) =>
    router.rpc(ValidatorService.method.putFile, async (reqs, ctx) => {
      const r = await handle(reqs, ctx.requestHeader.get("authorization"));
      return create(PutFileResponseSchema, { hash: r.hash, size: BigInt(r.size), created: true, stripes: 1 });
    });
  server = createServer(connectNodeAdapter({ routes }));
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("putFileFramed", () => {
  it("sends the header, then every piece as a data message, and returns the answer", async () => {
    const seen: { header?: PutFileRequest["header"]; data: number[]; auth: string | null } = { data: [], auth: null };
    const url = await serve(async (reqs, auth) => {
      seen.auth = auth;
      let size = 0;
      for await (const m of reqs) {
        if (m.header) seen.header = m.header;
        if (m.data.byteLength) {
          seen.data.push(m.data.byteLength);
          expect(m.data.every((b) => b === m.data.byteLength % 251)).toBe(true);
          size += m.data.byteLength;
        }
      }
      return { hash: seen.header!.hash, size };
    });
    const sizes = [1, 1 << 20, 70_000, 3];
    const pieces = sizes.map((n) => new Uint8Array(n).fill(n % 251));
    const r = await putFileFramed({ baseUrl: url, headers: { authorization: "Bearer t0ken" }, hash: "ab".repeat(32), size: 1_118_580, name: "f", data: [...pieces, new Uint8Array(0)] });
    expect(r.hash).toBe("ab".repeat(32));
    expect(Number(r.size)).toBe(sizes.reduce((a, b) => a + b, 0));
    expect(seen.header).toMatchObject({ hash: "ab".repeat(32), size: 1_118_580n, name: "f" });
    expect(seen.data).toEqual(sizes);
    expect(seen.auth).toBe("Bearer t0ken");
  });

  it("rejects with the server's error and stops reading the file once the server has answered", async () => {
    const url = await serve(async (reqs) => {
      for await (const m of reqs) if (m.header) break;
      throw new ConnectError("no token", Code.Unauthenticated);
    });
    let sent = 0;
    async function* endless(): AsyncGenerator<Uint8Array> {
      for (;;) {
        sent++;
        yield new Uint8Array(64 * 1024);
        await new Promise((r) => setTimeout(r, 1));
      }
    }
    const err = await putFileFramed({ baseUrl: url, headers: {}, hash: "cd".repeat(32), size: 1 << 40, name: "big", data: endless() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.Unauthenticated);
    expect((err as ConnectError).rawMessage).toBe("no token");
    const after = sent;
    await new Promise((r) => setTimeout(r, 50));
    expect(sent).toBe(after);
  });
});
