// Large film blobs in verified ranges on real `slowdrip run` processes with a real relay and real ffmpeg: two holders
// seed a film; a viewer whose films.range_size is smaller than a segment fetches it as Bao slices from both holders in
// parallel, verified against the hash; a holder whose slice does not verify is dropped, counted, and its range comes
// from another holder.
import { readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { Relay } from "nostr-tools/relay";
import { verifyFilm, type SignedFilm } from "../../src/films/record.ts";
import { randomSecret } from "../../src/identity/ed25519.ts";
import { identityFromSecret } from "../../src/identity/identity.ts";
import { KIND_SEEDS, seedTemplate, signNodeEvent } from "../../src/nostr/events.ts";
import { createHasher } from "../../src/wasm/index.ts";
import { runCli, spawnNode, stopNode, tempDir, type SpawnedNode } from "../helpers/node.ts";
import { freePort } from "../helpers/sea.ts";
import { startRelay, type TestRelay } from "../peers/relay.ts";
import { ensureFfmpeg, until, makeTestVideo } from "../media/peers.ts";

let relay: TestRelay;
const spawned: SpawnedNode[] = [];
const dirs: string[] = [];
let aId = "";
let film: SignedFilm;
let b: SpawnedNode;
let c: SpawnedNode;

const blake3 = (x: Uint8Array) => createHasher().update(x).digestHex();
const env = () => ({ SLOWDRIP_NOSTR_RELAYS: relay.url, SLOWDRIP_FILMS_REFRESH: "1s", SLOWDRIP_NOSTR_TIMEOUT: "3s", SLOWDRIP_FILMS_FETCH_TIMEOUT: "20s" });

async function viewer(extra: Record<string, string> = {}): Promise<SpawnedNode> {
  const d = tempDir();
  dirs.push(d);
  const n = await spawnNode(["--data-dir", d], { ...env(), SLOWDRIP_FILMS_TRUSTED_PUBLISHERS: aId, ...extra });
  spawned.push(n);
  await until(async () => ((await (await fetch(`${n.url}/api/film-catalog`)).json()) as { films: unknown[] }).films.length > 0, 30_000, "the film in the viewer's catalog");
  return n;
}

/** Distinct endpoints of the seed adverts naming `hash` on the relay. */
async function seedEndpoints(hash: string): Promise<Set<string>> {
  const r = await Relay.connect(relay.url);
  try {
    const out = new Set<string>();
    await new Promise<void>((resolve) => {
      const sub = r.subscribe([{ kinds: [KIND_SEEDS], "#x": [hash] }], {
        onevent: (e) => {
          const ep = e.tags.find((t) => t[0] === "endpoint")?.[1];
          if (ep) out.add(ep);
        },
        oneose: () => {
          sub.close();
          resolve();
        },
      });
    });
    return out;
  } finally {
    r.close();
  }
}

const metric = async (n: SpawnedNode, re: RegExp) => Number(re.exec(await (await fetch(`${n.adminUrl}/metrics`)).text())?.[1] ?? 0);

/** 206 answers of GET /blobs/<hash> the node has given. */
async function blob206(n: SpawnedNode): Promise<number> {
  const text = await (await fetch(`${n.adminUrl}/metrics`)).text();
  let sum = 0;
  for (const l of text.split("\n")) if (l.startsWith("slowdrip_http_requests_total{") && l.includes('route="/blobs/:hash"') && l.includes('status="206"')) sum += Number(l.split(" ").at(-1));
  return sum;
}

beforeAll(async () => {
  const ffmpeg = ensureFfmpeg();
  relay = await startRelay();
  const work = tempDir();
  dirs.push(work);
  const video = join(work, "in.mp4");
  await makeTestVideo(ffmpeg, video, 4);
  const aDir = tempDir();
  dirs.push(aDir);
  const port = await freePort();
  // A is the origin and advertises no seeds: the holders are B and C.
  const a = await spawnNode(["--data-dir", aDir], { ...env(), SLOWDRIP_API_LISTEN: `127.0.0.1:${port}`, SLOWDRIP_NODE_PUBLIC_ENDPOINT: `http://127.0.0.1:${port}`, SLOWDRIP_NOSTR_SEED_MAX_HASHES: "0" });
  spawned.push(a);
  aId = (JSON.parse(readFileSync(join(aDir, "keypair"), "utf8")) as { public: string }).public;
  // A high bitrate, so that a segment spans several 64 KiB ranges.
  const add = await runCli(["film", "add", video, "--title", "Ranges", "--data-dir", aDir, "--url", a.adminUrl], { env: { SLOWDRIP_FILMS_FFMPEG: ffmpeg, SLOWDRIP_FILMS_RENDITIONS: "360p:640x360:2000", SLOWDRIP_FILMS_SEGMENT_DURATION: "2s" } });
  expect(add.code, add.stderr).toBe(0);
  film = verifyFilm((JSON.parse((await runCli(["film", "ls", "--json", "--data-dir", aDir, "--url", a.adminUrl])).stdout) as SignedFilm[])[0]);
  [b, c] = [await viewer(), await viewer()];
  for (const n of [b, c]) for (const s of film.film.renditions[0]!.segments) expect((await fetch(`${n.url}/api/film/${s.blake3}.ts`)).status).toBe(200);
}, 600_000);

afterAll(async () => {
  await Promise.all(spawned.map(stopNode));
  await relay?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("film blobs in verified ranges", () => {
  it("a holder answers a Range with x-bao: slice by the range's Bao slice", async () => {
    const seg = film.film.renditions[0]!.segments[0]!;
    const r = await fetch(`${b.url}/blobs/${seg.blake3}`, { headers: { range: "bytes=1024-5119", "x-bao": "slice" } });
    expect(r.status).toBe(206);
    expect(r.headers.get("content-type")).toBe("application/x-bao-slice");
    expect(r.headers.get("content-range")).toBe(`bytes 1024-5119/${seg.size}`);
    const slice = new Uint8Array(await r.arrayBuffer());
    expect(slice.length).toBeGreaterThan(4096);
    const { baoVerifySlice } = await import("../../src/wasm/index.ts");
    const whole = new Uint8Array(await (await fetch(`${b.url}/blobs/${seg.blake3}`)).arrayBuffer());
    expect(Buffer.from(baoVerifySlice(Buffer.from(seg.blake3, "hex"), slice, 1024, 4096)).equals(Buffer.from(whole.subarray(1024, 5120)))).toBe(true);
  }, 60_000);

  it("D fetches a large segment in ranges from both holders in parallel; a holder with bad slices is dropped and counted", async () => {
    const seg = [...film.film.renditions[0]!.segments].sort((x, y) => y.size - x.size)[0]!;
    const ranges = Math.ceil(seg.size / 65536);
    expect(ranges).toBeGreaterThanOrEqual(3);
    // A real node never sends a slice that does not verify, so this holder is a fake (for a fault no real node
    // produces): it forwards each request to B and flips the last byte of the slice it got back.
    const server = createServer((req, res) => {
      void (async () => {
        const up = await fetch(`${b.url}${req.url}`, { headers: { range: String(req.headers.range ?? ""), "x-bao": String(req.headers["x-bao"] ?? "") } });
        const body = Buffer.from(await up.arrayBuffer());
        if (body.length) body[body.length - 1]! ^= 0xff;
        const h: Record<string, string> = {};
        up.headers.forEach((v, k) => {
          if (!["content-length", "transfer-encoding", "connection", "keep-alive"].includes(k)) h[k] = v;
        });
        res.writeHead(up.status, { ...h, "content-length": String(body.length) });
        res.end(body);
      })().catch(() => res.destroy());
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const fakeUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const id = identityFromSecret(randomSecret());
      const sk = generateSecretKey();
      const r = await Relay.connect(relay.url);
      await r.publish(signNodeEvent(seedTemplate(fakeUrl, [seg.blake3], Math.floor(Date.now() / 1000)), { key: { secretKey: sk, pubkey: getPublicKey(sk) }, nodeId: id.nodeId, nodeSecret: id.secretKey }));
      r.close();
      await until(async () => ((await seedEndpoints(seg.blake3)).size >= 3 ? true : null), 30_000, "B, C and the fake advertising the segment");
      const before = { b: await blob206(b), c: await blob206(c) };
      const d = await viewer({ SLOWDRIP_FILMS_RANGE_SIZE: "64KiB", SLOWDRIP_FILMS_RANGE_PARALLEL: "3" });
      const got = await fetch(`${d.url}/api/film/${seg.blake3}.ts`);
      expect(got.status, d.logs().split("\n").filter((l) => /films/.test(l)).slice(-10).join("\n")).toBe(200);
      expect(got.headers.get("x-slowdrip-source")).toBe("peer");
      expect(blake3(new Uint8Array(await got.arrayBuffer()))).toBe(seg.blake3);
      // Every range came verified from a holder; both real holders served some.
      expect(await metric(d, /slowdrip_films_ranges_total\{source="peer"\} (\d+)/)).toBe(ranges);
      expect(await blob206(b)).toBeGreaterThan(before.b);
      expect(await blob206(c)).toBeGreaterThan(before.c);
      // The fake was asked for a range first (range i asks holder i mod 3 first) and dropped.
      expect(d.logs()).toMatch(/holder sent a range that does not verify against the hash/);
      expect(await metric(d, /slowdrip_films_bad_holder_total (\d+)/)).toBe(1);
      expect((await fetch(`${d.url}/api/film/${seg.blake3}.ts`)).headers.get("x-slowdrip-source")).toBe("local");
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  }, 180_000);
});
