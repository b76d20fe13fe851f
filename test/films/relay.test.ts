// The single-hop paid relay on real `slowdrip run` processes with a real relay, a real nutshell mint and real ffmpeg:
// publisher A, relay B (films.relay, charging relay-bandwidth), and C, which fetches only through B (films.relay_via,
// films.relay_only: it is given no address of A to use). C streams a film segment through B and pays B; B refuses a
// blob outside the film scope, a request that is itself relayed (HTTP and RPC), and stops at its byte cap.
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Relay } from "nostr-tools/relay";
import { RelayService } from "../../src/gen/slowdrip/v1/relay_pb.ts";
import { verifyFilm, type SignedFilm } from "../../src/films/record.ts";
import { KIND_TOLLGATE, parseTollgate } from "../../src/nostr/events.ts";
import { createHasher } from "../../src/wasm/index.ts";
import { runCli, spawnNode, stopNode, tempDir, type SpawnedNode } from "../helpers/node.ts";
import { freePort } from "../helpers/sea.ts";
import { startMints, stopMints, type TestMint } from "../peers/mints.ts";
import { startRelay, type TestRelay } from "../peers/relay.ts";
import { ensureFfmpeg, until, makeTestVideo } from "../media/peers.ts";

let relay: TestRelay;
let mints: TestMint[] = [];
const spawned: SpawnedNode[] = [];
const dirs: string[] = [];
let a: SpawnedNode;
let b: SpawnedNode;
let c: SpawnedNode;
let bDir = "";
let cDir = "";
let film: SignedFilm;
let cap = 0;

const blake3 = (x: Uint8Array) => createHasher().update(x).digestHex();
const revenue = async (dir: string, n: SpawnedNode) =>
  JSON.parse((await runCli(["wallet", "revenue", "--json", "--data-dir", dir, "--url", n.adminUrl])).stdout) as { services: { service: string; earned: string; spent: string }[] };
const metrics = async (n: SpawnedNode) => (await fetch(`${n.adminUrl}/metrics`)).text();

beforeAll(async () => {
  const ffmpeg = ensureFfmpeg();
  [relay, mints] = await Promise.all([startRelay(), startMints(1)]);
  const mint = mints[0]!.url;
  const work = tempDir();
  dirs.push(work);
  const video = join(work, "in.mp4");
  await makeTestVideo(ffmpeg, video, 6);
  const common = { SLOWDRIP_NOSTR_RELAYS: relay.url, SLOWDRIP_FILMS_REFRESH: "1s", SLOWDRIP_NOSTR_TIMEOUT: "3s", SLOWDRIP_PAY_TRUSTED_MINTS: mint };
  const aDir = tempDir();
  bDir = tempDir();
  cDir = tempDir();
  dirs.push(aDir, bDir, cDir);
  const aPort = await freePort();
  // A serves its film free and advertises no seeds: B fetches from A as the film's origin.
  a = await spawnNode(["--data-dir", aDir], { ...common, SLOWDRIP_API_LISTEN: `127.0.0.1:${aPort}`, SLOWDRIP_NODE_PUBLIC_ENDPOINT: `http://127.0.0.1:${aPort}`, SLOWDRIP_NOSTR_SEED_MAX_HASHES: "0" });
  spawned.push(a);
  const aId = (JSON.parse(readFileSync(join(aDir, "keypair"), "utf8")) as { public: string }).public;
  const add = await runCli(["film", "add", video, "--title", "Relayed", "--data-dir", aDir, "--url", a.adminUrl], { env: { SLOWDRIP_FILMS_FFMPEG: ffmpeg, SLOWDRIP_FILMS_RENDITIONS: "360p:640x360:600", SLOWDRIP_FILMS_SEGMENT_DURATION: "2s" } });
  expect(add.code, add.stderr).toBe(0);
  film = verifyFilm((JSON.parse((await runCli(["film", "ls", "--json", "--data-dir", aDir, "--url", a.adminUrl])).stdout) as SignedFilm[])[0]);
  const segs = film.film.renditions[0]!.segments;
  expect(segs.length).toBeGreaterThanOrEqual(3);
  // B's byte cap per peer covers the first two segments and not the third.
  cap = Math.max(65536, segs[0]!.size + segs[1]!.size);
  expect(segs[0]!.size + segs[1]!.size + segs[2]!.size).toBeGreaterThan(cap);
  const bPort = await freePort();
  b = await spawnNode(["--data-dir", bDir], {
    ...common,
    SLOWDRIP_API_LISTEN: `127.0.0.1:${bPort}`,
    SLOWDRIP_NODE_PUBLIC_ENDPOINT: `http://127.0.0.1:${bPort}`,
    SLOWDRIP_FILMS_TRUSTED_PUBLISHERS: aId,
    SLOWDRIP_NOSTR_SEED_MAX_HASHES: "0",
    SLOWDRIP_PAY_ENABLED: "true",
    SLOWDRIP_PAY_PRICING_CONTENT_DOWNLOAD: "100",
    SLOWDRIP_PAY_PRICING_RELAY_BANDWIDTH: "50",
    SLOWDRIP_FILMS_RELAY: "true",
    SLOWDRIP_FILMS_RELAY_PEER_BYTES: String(cap),
  });
  spawned.push(b);
  c = await spawnNode(["--data-dir", cDir], { ...common, SLOWDRIP_FILMS_TRUSTED_PUBLISHERS: aId, SLOWDRIP_FILMS_RELAY_VIA: b.url, SLOWDRIP_FILMS_RELAY_ONLY: "true", SLOWDRIP_FILMS_MAX_PRICE_PER_MIB: "200" });
  spawned.push(c);
  const funded = await runCli(["wallet", "mint", "1000", "--mint", mint, "--data-dir", cDir, "--url", c.adminUrl]);
  expect(funded.code, funded.stderr).toBe(0);
  for (const n of [b, c]) await until(async () => ((await (await fetch(`${n.url}/api/film-catalog`)).json()) as { films: unknown[] }).films.length > 0, 30_000, "the film in the catalog");
}, 600_000);

afterAll(async () => {
  await Promise.all(spawned.map(stopNode));
  await Promise.all([relay?.stop(), stopMints(mints)]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("single-hop paid relay", () => {
  it("B advertises its relay in its kind 10021 event", async () => {
    const r = await Relay.connect(relay.url);
    try {
      const ev = await until(async () => {
        const got: { kind: number; tags: string[][] }[] = [];
        await new Promise<void>((resolve) => {
          const sub = r.subscribe([{ kinds: [KIND_TOLLGATE] }], { onevent: (e) => void got.push(e), oneose: () => (sub.close(), resolve()) });
        });
        return got.find((e) => e.tags.some((t) => t[0] === "relay")) ?? null;
      }, 20_000, "B's 10021 event");
      expect(parseTollgate(ev).relay).toEqual({ endpoint: `${b.url}/relay`, price: 50, unit: "sat" });
    } finally {
      r.close();
    }
  }, 60_000);

  it("C, fetching only through relay B, streams a film segment verified and pays B relay-bandwidth", async () => {
    const seg = film.film.renditions[0]!.segments[0]!;
    const got = await fetch(`${c.url}/api/film/${seg.blake3}.ts`);
    expect(got.status, c.logs().split("\n").filter((l) => /films|relay|fetchPaid/.test(l)).slice(-8).join("\n")).toBe(200);
    expect(got.headers.get("x-slowdrip-source")).toBe("relay");
    expect(blake3(new Uint8Array(await got.arrayBuffer()))).toBe(seg.blake3);
    const bRev = await revenue(bDir, b);
    const relayEarned = Number(bRev.services.find((s) => s.service === "relay-bandwidth")?.earned ?? 0);
    expect(relayEarned).toBeGreaterThan(0);
    // Kept apart from content-download: B sold no content-download.
    expect(Number(bRev.services.find((s) => s.service === "content-download")?.earned ?? 0)).toBe(0);
    const cRev = await revenue(cDir, c);
    expect(Number(cRev.services.find((s) => s.service === "relay-bandwidth")?.spent ?? 0)).toBeGreaterThanOrEqual(relayEarned);
    const m = await metrics(b);
    expect(m).toMatch(new RegExp(`slowdrip_films_relay_bytes_total ${seg.size}\\b`));
    expect(m).toMatch(/slowdrip_pay_earned_sats_total\{service="relay-bandwidth"/);
    expect(await metrics(c)).toMatch(/slowdrip_films_blobs_total\{source="relay"\} 1/);
  }, 120_000);

  it("B refuses a blob outside the film scope, private ones included", async () => {
    const token = readFileSync(join(bDir, "admin.token"), "utf8").trim();
    const put = await fetch(`${b.adminUrl}/blobs`, { method: "PUT", body: "a private blob on B", headers: { authorization: `Bearer ${token}` } });
    expect(put.status).toBe(201);
    const { hash } = (await put.json()) as { hash: string };
    for (const h of [hash, "ab".repeat(32)]) {
      const r = await fetch(`${b.url}/relay/${h}`);
      expect(r.status).toBe(403);
      expect(r.headers.get("x-reason")).toBe("relay-scope");
      await r.body?.cancel();
    }
  }, 60_000);

  it("B refuses a request that is itself relayed, over HTTP and RPC", async () => {
    const seg = film.film.renditions[0]!.segments[0]!;
    const r = await fetch(`${b.url}/relay/${seg.blake3}`, { headers: { "x-slowdrip-relayed": "1" } });
    expect(r.status).toBe(403);
    expect(r.headers.get("x-reason")).toBe("relay-loop");
    await r.body?.cancel();
    const client = createClient(RelayService, createConnectTransport({ baseUrl: b.url, httpVersion: "1.1" }));
    const read = async (headers: Record<string, string>) => {
      for await (const _ of client.fetch({ hash: seg.blake3 }, { headers })) void _;
    };
    const loop = await read({ "x-slowdrip-relayed": "1" }).catch((e: unknown) => e);
    expect(ConnectError.from(loop).code).toBe(Code.FailedPrecondition);
    // Not relayed, the RPC is metered like GET /relay/: unpaid, it asks for payment.
    const unpaid = await read({}).catch((e: unknown) => e);
    expect(ConnectError.from(unpaid).code).toBe(Code.ResourceExhausted);
    expect(await metrics(b)).toMatch(/slowdrip_films_relay_refused_total\{reason="loop"\} 2/);
  }, 60_000);

  it("B stops at its byte cap per peer", async () => {
    const segs = film.film.renditions[0]!.segments;
    const second = await fetch(`${c.url}/api/film/${segs[1]!.blake3}.ts`);
    expect(second.status).toBe(200);
    expect(blake3(new Uint8Array(await second.arrayBuffer()))).toBe(segs[1]!.blake3);
    // C's next segment would take B over films.relay_peer_bytes: B refuses, and C has no other way to the film.
    const third = await fetch(`${c.url}/api/film/${segs[2]!.blake3}.ts`);
    expect(third.status).toBe(503);
    await third.body?.cancel();
    expect(c.logs()).toMatch(/the relay did not deliver the blob/);
    const direct = await fetch(`${b.url}/relay/${segs[0]!.blake3}`);
    expect(direct.status).toBe(429);
    expect(direct.headers.get("x-reason")).toBe("relay-cap");
    await direct.body?.cancel();
    const m = await metrics(b);
    expect(m).toMatch(new RegExp(`slowdrip_films_relay_bytes_total ${segs[0]!.size + segs[1]!.size}\\b`));
    expect(m).toMatch(/slowdrip_films_relay_refused_total\{reason="cap"\} [1-9]/);
  }, 120_000);
});
