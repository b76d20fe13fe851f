// readCapped against real loopback HTTP answers (node:http): whole bodies, declared and undeclared oversize, chunked.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import { readCapped } from "./capped.ts";

let server: Server;
let base = "";

beforeAll(async () => {
  server = createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    const n = Number(u.searchParams.get("n") ?? 0);
    const body = Buffer.alloc(n, 7);
    if (u.pathname === "/declared") {
      res.writeHead(200, { "content-length": String(n) }).end(body);
      return;
    }
    // Chunked: no length up front, the body in 1000-byte writes.
    res.writeHead(200);
    for (let i = 0; i < n; i += 1000) res.write(body.subarray(i, i + 1000));
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(() => new Promise((r) => server.close(r)));

describe("readCapped", () => {
  const cases: [string, string, number, number, number | null][] = [
    ["declared, under the cap", "/declared", 4000, 5000, 4000],
    ["declared, exactly the cap", "/declared", 5000, 5000, 5000],
    ["declared, over the cap", "/declared", 5001, 5000, null],
    ["chunked, under the cap", "/chunked", 4500, 5000, 4500],
    ["chunked, over the cap", "/chunked", 9000, 5000, null],
    ["empty", "/declared", 0, 10, 0],
  ];
  for (const [name, path, n, max, want] of cases) {
    it(name, async () => {
      let chunks = 0;
      const got = await readCapped(await fetch(`${base}${path}?n=${n}`), max, () => chunks++);
      if (want === null) expect(got, name).toBeNull();
      else {
        expect(got?.length, name).toBe(want);
        expect(got!.every((b) => b === 7), name).toBe(true);
        if (want > 0) expect(chunks, name).toBeGreaterThan(0);
      }
    });
  }

  it("refuses a cap that is not a byte count", async () => {
    const res = await fetch(`${base}/declared?n=1`);
    await expect(readCapped(res, -1)).rejects.toThrow(RangeError);
    await res.body?.cancel();
  });
});
