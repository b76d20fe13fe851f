// Conditional GET/HEAD of /blobs over HTTP/1.1 and HTTP/2: If-None-Match (weak comparison, lists, *) answers 304 before Range.
import { connect } from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningNode } from "../../src/node/node.ts";
import { storeOnly } from "../../src/node/components.ts";
import { refHash, testBytes } from "../../src/store/contract.ts";
import { startTestNode } from "../helpers/node.ts";

const data = testBytes(300_000, 5);
const hash = refHash(data);
let node: RunningNode;

beforeAll(async () => {
  node = await startTestNode({}, storeOnly);
  const put = await fetch(`${node.adminUrl}/blobs`, { method: "PUT", headers: { authorization: `Bearer ${node.adminToken}` }, body: Buffer.from(data) });
  expect(put.status).toBe(201);
});
afterAll(() => node?.stop());

const get = async (headers: Record<string, string>, method = "GET") => {
  const r = await fetch(`${node.url}/blobs/${hash}`, { method, headers });
  const body = Buffer.from(await r.arrayBuffer());
  return { status: r.status, etag: r.headers.get("etag"), cache: r.headers.get("cache-control"), length: body.length };
};

describe("If-None-Match on /blobs/<hash>", () => {
  const matching = [`"${hash}"`, `W/"${hash}"`, "*", `"nope", W/"${hash}"`, `W/"a",W/"b",  "${hash}"`];
  const ranges = [undefined, "bytes=0-9", "bytes=-5", `bytes=${data.length}-`];
  for (const inm of matching) {
    for (const range of ranges) {
      for (const method of ["GET", "HEAD"]) {
        it(`${method} If-None-Match: ${inm}${range ? `, Range: ${range}` : ""} -> 304 without a body`, async () => {
          const r = await get({ "if-none-match": inm, ...(range ? { range } : {}) }, method);
          expect(r).toEqual({ status: 304, etag: `"${hash}"`, cache: "public, max-age=31536000, immutable", length: 0 });
        });
      }
    }
  }

  it.each([`"nope"`, `W/"nope"`, hash, `"${hash}" junk`, `w/"${hash}"`])("If-None-Match: %s does not match: the normal answer", async (inm) => {
    expect((await get({ "if-none-match": inm })).status).toBe(200);
    expect((await get({ "if-none-match": inm, range: "bytes=0-9" })).status).toBe(206);
  });

  it("If-Range keeps strong comparison: a weak tag sends the full body", async () => {
    expect(await get({ "if-range": `W/"${hash}"`, range: "bytes=0-9" })).toMatchObject({ status: 200, length: data.length });
    expect(await get({ "if-range": `"${hash}"`, range: "bytes=0-9" })).toMatchObject({ status: 206, length: 10 });
  });

  it("over HTTP/2 as well", async () => {
    const s = connect(node.url);
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const st = s.request({ ":path": `/blobs/${hash}`, "if-none-match": `W/"${hash}"`, range: "bytes=0-99" });
        st.on("response", (h) => resolve(Number(h[":status"])));
        st.on("error", reject);
        st.resume();
        st.end();
      });
      expect(status).toBe(304);
    } finally {
      s.close();
    }
  });
});
