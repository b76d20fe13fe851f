// MediaMTX API client limits: oversized, slow and malformed answers are refused with the endpoint named.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import { MediaApiError, MediaMtxApi } from "./api.ts";

let server: Server;
let base = "";
beforeAll(async () => {
  server = createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    if (u.pathname === "/v3/paths/list") {
      const page = Number(u.searchParams.get("page"));
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ pageCount: 2, itemCount: 3, items: page === 0 ? [{ name: "a", available: true, readers: [{ type: "rtspSession", id: "1" }], inboundBytes: 5 }, { name: "b" }] : [{ name: "c", ready: true }] }));
    } else if (u.pathname === "/v3/rtmpconns/list") {
      res.end(JSON.stringify({ pageCount: 1, items: [{ id: "x", path: "a", state: "publish", inboundBytes: 10 }] }));
    } else if (u.pathname === "/v3/info") {
      res.end("x".repeat(5000));
    } else if (u.pathname === "/v3/srtconns/list") {
      res.write("{");
      // never finishes: the timeout must fire
    } else if (u.pathname === "/v3/webrtcsessions/list") {
      res.end(JSON.stringify({ pageCount: 1, items: "nope" }));
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const a = server.address();
  base = `http://127.0.0.1:${typeof a === "object" && a ? a.port : 0}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe("MediaMtxApi", () => {
  it("reads every page and normalises paths and sessions; a missing endpoint is an empty list", async () => {
    const api = new MediaMtxApi({ baseUrl: base });
    const paths = await api.paths();
    expect(paths.map((p) => [p.name, p.available, p.readers.length, p.inboundBytes])).toEqual([["a", true, 1, 5], ["b", false, 0, 0], ["c", true, 0, 0]]);
    expect(await api.rtmpConns()).toEqual([expect.objectContaining({ protocol: "rtmp", id: "x", path: "a", state: "publish", inboundBytes: 10 })]);
    expect(await api.rtspSessions()).toEqual([]);
  });

  it("refuses oversized, slow, malformed and too-many answers naming the endpoint", async () => {
    const small = new MediaMtxApi({ baseUrl: base, maxResponseBytes: 1024, timeoutMs: 300, maxItems: 2 });
    const cases: [string, () => Promise<unknown>, RegExp][] = [
      ["oversized", () => small.info(), /\/v3\/info: response (of 5000 bytes )?exceeds the 1024 byte limit/],
      ["slow", () => small.srtConns(), /\/v3\/srtconns\/list/],
      ["malformed", () => small.webrtcSessions(), /\/v3\/webrtcsessions\/list: response has no 'items' array/],
      ["too many", () => small.paths(), /\/v3\/paths\/list: more than 2 items/],
    ];
    for (const [name, f, want] of cases) {
      const err = await f().then(() => null, (e: unknown) => e);
      expect(err, name).toBeInstanceOf(MediaApiError);
      expect(String((err as Error).message), name).toMatch(want);
    }
    expect(() => new MediaMtxApi({ baseUrl: "ftp://x" })).toThrow(TypeError);
  });
});
