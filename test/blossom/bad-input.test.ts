// Blossom bad input: every refusal the issue lists gets its 4xx with an X-Reason and stores nothing — authorization
// events (expired, wrong server, wrong x, future-dated, oversized, unsigned, forged, bad base64), X-SHA-256 mismatches,
// bodies over the limits, uploads by pubkeys not allowed, quotas, types — plus HEAD /upload pre-flight answers.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fullNode } from "../../src/node/components.ts";
import type { RunningNode } from "../../src/node/node.ts";
import { startTestNode } from "../helpers/node.ts";
import { authEvent, authHeader, now, nostrUser, sha256Hex, type AuthOptions } from "./helpers.ts";

const KiB = 1024;
const alice = nostrUser();
const carol = nostrUser();
const mallory = nostrUser();
let node: RunningNode;
let server = "";

beforeAll(async () => {
  node = await startTestNode(
    {
      "mediamtx.manage": "off",
      "blossom.allowed_pubkeys": `${alice.pubkey},${carol.pubkey}`,
      "blossom.max_upload_size": "256KiB",
      "blossom.quota_per_pubkey": "600KiB",
      "blossom.allowed_types": "image/*,application/octet-stream,text/plain",
      "api.max_body_size": "512KiB",
    },
    fullNode,
  );
  server = new URL(node.url).hostname;
});

afterAll(async () => {
  await node?.stop();
});

async function usage(): Promise<{ bytes: number; blobs: number }> {
  const text = await (await fetch(`${node.adminUrl}/metrics`)).text();
  const m = (k: string) => Number(new RegExp(`^${k} (\\S+)$`, "m").exec(text)?.[1]);
  return { bytes: m("slowdrip_store_bytes_used"), blobs: m("slowdrip_store_blobs") };
}

/** PUT /upload of `body` as `user` with an authorization made from `o` (x defaults to the body's SHA-256). */
function upload(body: Uint8Array<ArrayBuffer>, auth: string | undefined, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${node.url}/upload`, {
    method: "PUT",
    body,
    headers: { "content-type": "application/octet-stream", "x-sha-256": sha256Hex(body), ...(auth ? { authorization: auth } : {}), ...headers },
  });
}

const signed = (body: Uint8Array, o: AuthOptions = {}, user = alice) => authHeader(authEvent(user, { x: [sha256Hex(body)], server: [server], ...o }));

/** Expects a refusal with this status and X-Reason code, and that the store holds what it held before. */
async function refused(send: () => Promise<Response>, status: number, reason: string): Promise<void> {
  const before = await usage();
  const res = await send();
  expect(res.status, await res.clone().text()).toBe(status);
  expect(res.headers.get("x-reason") ?? "").toMatch(new RegExp(`^${reason}: .+`));
  expect(res.headers.get("access-control-allow-origin")).toBe("*");
  await res.arrayBuffer();
  expect(await usage()).toEqual(before);
}

describe("Blossom: bad authorization events get 401 with X-Reason and store nothing", () => {
  const body = randomBytes(10 * KiB);

  it("a good event is accepted in both encodings (base64url unpadded, standard base64)", async () => {
    const a = randomBytes(3000);
    const r1 = await upload(a, signed(a));
    expect(r1.status).toBe(201);
    const b = randomBytes(3001);
    const r2 = await upload(b, authHeader(authEvent(alice, { x: [sha256Hex(b)] }), "base64"));
    expect(r2.status).toBe(201);
    expect(((await r2.json()) as { sha256: string }).sha256).toBe(sha256Hex(b));
  });

  it("missing, expired, future-dated, without expiration", async () => {
    await refused(() => upload(body, undefined), 401, "auth-missing");
    await refused(() => upload(body, signed(body, { expiration: now() - 10 })), 401, "auth-expired");
    await refused(() => upload(body, signed(body, { createdAt: now() + 3600, expiration: now() + 7200 })), 401, "auth-future");
    await refused(() => upload(body, signed(body, { expiration: null })), 401, "auth-expiration");
  });

  it("wrong server, wrong x, wrong verb, wrong kind", async () => {
    await refused(() => upload(body, signed(body, { server: ["other.example"] })), 401, "auth-server");
    await refused(() => upload(body, signed(body, { x: [sha256Hex(randomBytes(8))] })), 401, "auth-x");
    await refused(() => upload(body, signed(body, { x: [] })), 401, "auth-x");
    await refused(() => upload(body, signed(body, { t: "delete" })), 401, "auth-verb");
    await refused(() => upload(body, signed(body, { kind: 1 })), 401, "auth-kind");
  });

  it("oversized, unsigned, forged, bad base64, not JSON, wrong scheme", async () => {
    const big = authEvent(alice, { x: [sha256Hex(body)], content: "x".repeat(9000) });
    await refused(() => upload(body, authHeader(big)), 401, "auth-too-large");
    const { sig: _sig, ...unsigned } = authEvent(alice, { x: [sha256Hex(body)] });
    await refused(() => upload(body, authHeader(unsigned)), 401, "auth-unsigned");
    const forged = { ...authEvent(alice, { x: [sha256Hex(body)] }), pubkey: carol.pubkey };
    await refused(() => upload(body, authHeader(forged)), 401, "auth-signature");
    const tampered = authEvent(alice, { x: [sha256Hex(body)] });
    (tampered.tags as string[][]).push(["x", sha256Hex(randomBytes(4))]);
    await refused(() => upload(body, authHeader(tampered)), 401, "auth-signature");
    await refused(() => upload(body, "Nostr ***not-base64***"), 401, "auth-encoding");
    await refused(() => upload(body, `Nostr ${Buffer.from(JSON.stringify(authEvent(alice))).toString("base64url")}A`), 401, "auth-encoding");
    await refused(() => upload(body, `Nostr ${Buffer.from("{not json").toString("base64url")}`), 401, "auth-malformed");
    await refused(() => upload(body, `Bearer ${"a".repeat(40)}`), 401, "auth-scheme");
  });
});

describe("Blossom: upload policy and limits", () => {
  it("an X-SHA-256 that does not match the body gets 409 and stores nothing", async () => {
    const body = randomBytes(20 * KiB);
    const claimed = sha256Hex(randomBytes(20 * KiB));
    await refused(() => upload(body, signed(body, { x: [claimed] }), { "x-sha-256": claimed }), 409, "sha256-mismatch");
    // Without X-SHA-256 the x tags name what the body must be.
    const r = () => fetch(`${node.url}/upload`, { method: "PUT", body, headers: { authorization: signed(body, { x: [claimed] }) } });
    await refused(r, 409, "sha256-mismatch");
    const bad = () => fetch(`${node.url}/upload`, { method: "PUT", body, headers: { authorization: signed(body), "x-sha-256": "zz" } });
    await refused(bad, 400, "bad-sha256");
  });

  it("a body over blossom.max_upload_size gets 413: declared, streamed without a length, or over api.max_body_size", async () => {
    const body = randomBytes(300 * KiB);
    await refused(() => upload(body, signed(body)), 413, "too-large");
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 10; i++) c.enqueue(body.subarray(i * 30 * KiB, (i + 1) * 30 * KiB));
        c.close();
      },
    });
    const chunked = () => fetch(`${node.url}/upload`, { method: "PUT", body: stream, duplex: "half", headers: { authorization: signed(body), "x-sha-256": sha256Hex(body) } } as RequestInit);
    await refused(chunked, 413, "too-large");
    const huge = randomBytes(600 * KiB);
    const res = await upload(huge, signed(huge));
    expect(res.status).toBe(413);
    expect(res.headers.get("x-reason")).toMatch(/api\.max_body_size/);
  });

  it("a pubkey that is not allowed gets 403; a type not allowed 415; a malformed type 400", async () => {
    const body = randomBytes(1000);
    await refused(() => upload(body, signed(body, {}, mallory)), 403, "not-allowed");
    await refused(() => upload(body, signed(body), { "content-type": "video/mp4" }), 415, "type-not-allowed");
    await refused(() => upload(body, signed(body), { "content-type": "not a type" }), 400, "bad-type");
  });

  it("the per-pubkey quota refuses the upload that would pass it (429)", async () => {
    const sizes = [250 * KiB, 250 * KiB];
    for (const n of sizes) {
      const b = randomBytes(n);
      expect((await upload(b, signed(b, {}, carol))).status).toBe(201);
    }
    const over = randomBytes(200 * KiB);
    await refused(() => upload(over, signed(over, {}, carol)), 429, "quota-bytes");
  });
});

describe("Blossom: HEAD /upload (BUD-06)", () => {
  const head = (headers: Record<string, string>) => fetch(`${node.url}/upload`, { method: "HEAD", headers });
  const body = randomBytes(5000);
  const ok = { "x-sha-256": sha256Hex(body), "x-content-length": "5000", "x-content-type": "image/png" };

  it("answers 200 when the upload would be accepted, and names each refusal", async () => {
    expect((await head({ ...ok, authorization: signed(body) })).status).toBe(200);
    await refused(() => head(ok), 401, "auth-missing");
    const { "x-content-length": _l, ...noLength } = ok;
    await refused(() => head({ ...noLength, authorization: signed(body) }), 411, "length-required");
    await refused(() => head({ ...ok, "x-content-length": String(1024 * KiB), authorization: signed(body) }), 413, "too-large");
    await refused(() => head({ ...ok, "x-content-type": "video/mp4", authorization: signed(body) }), 415, "type-not-allowed");
    await refused(() => head({ ...ok, authorization: signed(body, {}, mallory) }), 403, "not-allowed");
    const { "x-sha-256": _s, ...noHash } = ok;
    await refused(() => head({ ...noHash, authorization: signed(body) }), 400, "bad-sha256");
  });
});

describe("Blossom: reads, lists and deletes with bad input", () => {
  it("unknown blobs are 404, bad list queries 400, a delete without ownership 404", async () => {
    const unknown = sha256Hex(randomBytes(16));
    await refused(() => fetch(`${node.url}/${unknown}`), 404, "not-found");
    await refused(() => fetch(`${node.url}/${unknown}.png`, { method: "HEAD" }), 404, "not-found");
    const small = randomBytes(2000);
    expect((await upload(small, signed(small))).status).toBe(201);
    const past = await fetch(`${node.url}/${sha256Hex(small)}.bin`, { headers: { range: "bytes=5000-" } });
    expect(past.status).toBe(416);
    expect(past.headers.get("content-range")).toBe("bytes */2000");
    expect(past.headers.get("x-reason")).toMatch(/^range-not-satisfiable: /);
    await refused(() => fetch(`${node.url}/list/zz`), 400, "bad-pubkey");
    await refused(() => fetch(`${node.url}/list/${alice.pubkey}?limit=0`), 400, "bad-query");
    await refused(() => fetch(`${node.url}/list/${alice.pubkey}?limit=5000`), 400, "bad-query");
    await refused(() => fetch(`${node.url}/list/${alice.pubkey}?cursor=xyz`), 400, "bad-query");
    await refused(() => fetch(`${node.url}/list/${alice.pubkey}?since=-1`), 400, "bad-query");
    const del = (user = alice, o: AuthOptions = {}) => fetch(`${node.url}/${unknown}`, { method: "DELETE", headers: { authorization: authHeader(authEvent(user, { t: "delete", x: [unknown], ...o })) } });
    await refused(() => del(), 404, "not-owner");
    await refused(() => del(alice, { t: "upload" }), 401, "auth-verb");
    await refused(() => del(alice, { x: [sha256Hex(randomBytes(3))] }), 401, "auth-x");
  });

  it("mirroring is off unless blossom.mirror_hosts names hosts", async () => {
    const target = sha256Hex(randomBytes(10));
    const r = () => fetch(`${node.url}/mirror`, {
      method: "PUT",
      body: JSON.stringify({ url: `http://127.0.0.1:9/${target}` }),
      headers: { authorization: authHeader(authEvent(alice, { x: [target] })), "content-type": "application/json" },
    });
    await refused(r, 403, "mirror-off");
  });
});

describe("Blossom: random hostile requests", () => {
  it("300 random requests to the Blossom routes: never a 5xx, never stored", async () => {
    const before = await usage();
    let seed = 0x5eed;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)]!;
    const junk = () => Buffer.from(Array.from({ length: rnd(300) }, () => rnd(256))).toString(pick(["base64", "base64url", "latin1", "hex"] as const)).replace(/[\r\n\0]/g, "");
    const body = randomBytes(4000);
    const good = signed(body);
    const paths = ["/upload", "/mirror", `/list/${alice.pubkey}`, `/list/${junk().slice(0, 80)}`, `/${sha256Hex(body)}`, `/${sha256Hex(body)}.png`, `/${sha256Hex(randomBytes(3))}`];
    for (let i = 0; i < 300; i++) {
      const auth = pick([`Nostr ${junk()}`, good.slice(0, rnd(good.length)), `${good}${junk().slice(0, 5)}`, `Nostr ${Buffer.from(JSON.stringify({ kind: 24242, tags: [[junk()]], sig: junk() })).toString("base64url")}`, ""]);
      const headers: Record<string, string> = {};
      try {
        if (auth) headers.authorization = auth;
        if (rnd(2)) headers["x-sha-256"] = pick([sha256Hex(body), junk().slice(0, 70)]);
        if (rnd(3) === 0) headers["x-content-length"] = pick(["-1", "1e9", String(rnd(1 << 30)), junk().slice(0, 10)]);
        if (rnd(3) === 0) headers["content-type"] = junk().slice(0, 40) || "x";
        new Headers(headers);
      } catch {
        continue; // not sendable as HTTP headers
      }
      const method = pick(["PUT", "HEAD", "GET", "DELETE", "OPTIONS"]);
      const payload = method === "PUT" ? (rnd(2) ? body : Buffer.from(`{"url":"${junk().slice(0, 50)}"}`)) : undefined;
      const r = await fetch(`${node.url}${pick(paths)}${rnd(4) === 0 ? `?limit=${junk().slice(0, 8)}&cursor=${junk().slice(0, 70)}` : ""}`, { method, headers, ...(payload ? { body: payload } : {}) }).catch((e: unknown) => e);
      if (r instanceof Response) {
        expect(r.status, `${method} ${r.url} ${JSON.stringify(headers).slice(0, 200)}`).toBeLessThan(500);
        await r.arrayBuffer();
      }
    }
    expect(await usage()).toEqual(before);
  });
});
