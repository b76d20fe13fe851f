// GET /api/film/<blake3> on real `slowdrip run` processes with a real relay and real ffmpeg: a node with no holder in
// sight fetches from the film's origin, verified; that node then seeds, and the next node streams from it (Range
// included, ffprobe reads h264 from its playlist URL); with the first two gone, a third holder still serves the film;
// a holder sending corrupted bytes is dropped and counted.
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer } from "node:http";
import { randomSecret } from "../../src/identity/ed25519.ts";
import { identityFromSecret } from "../../src/identity/identity.ts";
import { seedTemplate, signNodeEvent } from "../../src/nostr/events.ts";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { Relay } from "nostr-tools/relay";
import { verifyFilm, type SignedFilm } from "../../src/films/record.ts";
import { createHasher } from "../../src/wasm/index.ts";
import { runCli, spawnNode, stopNode, tempDir, type SpawnedNode } from "../helpers/node.ts";
import { freePort } from "../helpers/sea.ts";
import { startRelay, type TestRelay } from "../peers/relay.ts";
import { ensureFfmpeg, runCapture, until, makeTestVideo } from "../media/peers.ts";

let relay: TestRelay;
let ffmpeg = "";
const spawned: SpawnedNode[] = [];
const dirs: string[] = [];
let a: SpawnedNode;
let aDir = "";
let aId = "";
let aPort = 0;
let film: SignedFilm;

const blake3 = (b: Uint8Array) => createHasher().update(b).digestHex();
const env = () => ({ SLOWDRIP_NODE_LOG_LEVEL: "debug", SLOWDRIP_NOSTR_RELAYS: relay.url, SLOWDRIP_FILMS_REFRESH: "1s", SLOWDRIP_NOSTR_TIMEOUT: "3s", SLOWDRIP_FILMS_FETCH_TIMEOUT: "10s" });

const originEnv = () => ({ ...env(), SLOWDRIP_API_LISTEN: `127.0.0.1:${aPort}`, SLOWDRIP_NODE_PUBLIC_ENDPOINT: `http://127.0.0.1:${aPort}`, SLOWDRIP_NOSTR_SEED_MAX_HASHES: "0" });

async function viewer(): Promise<SpawnedNode> {
  const d = tempDir();
  dirs.push(d);
  const n = await spawnNode(["--data-dir", d], { ...env(), SLOWDRIP_FILMS_TRUSTED_PUBLISHERS: aId });
  spawned.push(n);
  await until(async () => ((await (await fetch(`${n.url}/api/film-catalog`)).json()) as { films: unknown[] }).films.length > 0, 20_000, "the film in the viewer's catalog");
  return n;
}

/** The endpoints of the kind 30081 seed adverts on the relay that name `hash`. */
async function holdersOnRelay(hash: string): Promise<string[]> {
  const r = await Relay.connect(relay.url);
  try {
    return await new Promise<string[]>((resolve) => {
      const out: string[] = [];
      const sub = r.subscribe([{ kinds: [30081], "#x": [hash] }], {
        onevent: (e) => out.push(e.tags.find((t) => t[0] === "endpoint")?.[1] ?? ""),
        oneose: () => {
          sub.close();
          resolve(out);
        },
      });
    });
  } finally {
    r.close();
  }
}

async function get(n: SpawnedNode, path: string, headers: Record<string, string> = {}): Promise<{ status: number; source: string | null; body: Uint8Array; type: string | null }> {
  const r = await fetch(`${n.url}${path}`, { headers });
  return { status: r.status, source: r.headers.get("x-slowdrip-source"), body: new Uint8Array(await r.arrayBuffer()), type: r.headers.get("content-type") };
}

beforeAll(async () => {
  ffmpeg = ensureFfmpeg();
  relay = await startRelay();
  const work = tempDir();
  dirs.push(work);
  const video = join(work, "in.mp4");
  await makeTestVideo(ffmpeg, video, 8, true);
  aDir = tempDir();
  dirs.push(aDir);
  const port = (aPort = await freePort());
  // A is the origin and advertises no seeds, so the first viewer has no holder to ask.
  a = await spawnNode(["--data-dir", aDir], originEnv());
  spawned.push(a);
  aId = (JSON.parse(readFileSync(join(aDir, "keypair"), "utf8")) as { public: string }).public;
  const add = await runCli(["film", "add", video, "--title", "Swarm test", "--data-dir", aDir, "--url", a.adminUrl], { env: { SLOWDRIP_FILMS_FFMPEG: ffmpeg, SLOWDRIP_FILMS_RENDITIONS: "360p:640x360:600", SLOWDRIP_FILMS_SEGMENT_DURATION: "2s" } });
  expect(add.code, add.stderr).toBe(0);
  const ls = await runCli(["film", "ls", "--json", "--data-dir", aDir, "--url", a.adminUrl]);
  film = verifyFilm((JSON.parse(ls.stdout) as SignedFilm[])[0]);
}, 600_000);

afterAll(async () => {
  await Promise.all(spawned.map(stopNode));
  await relay?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("GET /api/film/", () => {
  let b: SpawnedNode;
  let c: SpawnedNode;

  it("with no holder in sight, B fetches every blob of the film from the origin, verified", async () => {
    b = await viewer();
    const master = await get(b, `/api/film/${film.film.playlist}.m3u8`);
    expect(master.status, b.logs().split("\n").filter((l) => /films|origin|holder|503/.test(l)).slice(-8).join("\n")).toBe(200);
    expect(master.source).toBe("origin");
    expect(master.type).toBe("application/vnd.apple.mpegurl");
    expect(blake3(master.body)).toBe(film.film.playlist);
    const r = film.film.renditions[0]!;
    for (const s of r.segments) {
      const got = await get(b, `/api/film/${s.blake3}.ts`);
      expect(got.status).toBe(200);
      expect(got.source).toBe("origin");
      expect(blake3(got.body)).toBe(s.blake3);
    }
    // Served again from B's own store.
    expect((await get(b, `/api/film/${r.segments[0]!.blake3}`)).source).toBe("local");
    // Blobs no catalog film names are refused, not fetched.
    expect((await get(b, `/api/film/${"ab".repeat(32)}`)).status).toBe(404);
  }, 120_000);

  it("B now seeds: C streams from B (Range included) and ffprobe reads h264 from C's playlist URL", async () => {
    const r = film.film.renditions[0]!;
    // B advertises the blobs it cached on its next refresh: C asks only once the relay holds that advert.
    const seg = r.segments[1]!;
    await until(async () => (await holdersOnRelay(seg.blake3)).includes(b.url), 20_000, "B's seed advert on the relay");
    c = await viewer();
    const ranged = await until(async () => {
      const got = await get(c, `/api/film/${seg.blake3}.ts`, { range: "bytes=100-1099" });
      return got.status === 206 ? got : null;
    }, 20_000, "C to fetch a segment");
    expect(ranged.source).toBe("peer");
    expect(ranged.body.length).toBe(1000);
    const whole = await get(b, `/api/film/${seg.blake3}.ts`);
    expect(Buffer.from(ranged.body).equals(Buffer.from(whole.body.subarray(100, 1100)))).toBe(true);
    const probe = await runCapture(join(ffmpeg, "..", "ffprobe"), ["-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", `${c.url}/api/film/${film.film.playlist}.m3u8`], 60_000);
    expect(probe.code, probe.stderr).toBe(0);
    expect(probe.stdout).toMatch(/h264/);
    // C plays the rest of the film (from B or from the origin, verified either way).
    for (const s of r.segments) expect(blake3((await get(c, `/api/film/${s.blake3}.ts`)).body)).toBe(s.blake3);
  }, 120_000);

  it("with A and B stopped, a new node D streams from C, the one holder left", async () => {
    await Promise.all([stopNode(a), stopNode(b)]);
    const seg = film.film.renditions[0]!.segments.at(-1)!;
    await until(async () => (await holdersOnRelay(seg.blake3)).includes(c.url), 20_000, "C's seed advert on the relay");
    const d = await viewer();
    const got = await until(async () => {
      const x = await get(d, `/api/film/${seg.blake3}.ts`);
      return x.status === 200 ? x : null;
    }, 30_000, "D to fetch a segment");
    expect(got.source).toBe("peer");
    expect(blake3(got.body)).toBe(seg.blake3);
  }, 120_000);

  it("a holder that sends corrupted bytes is dropped and counted; the bytes come from the origin", async () => {
    // A real node never serves bytes that do not match their hash, so this holder is a fake: a loopback server that
    // flips a byte of every blob it serves, with a validly signed and bound seed advert naming it.
    const seg = film.film.renditions[0]!.segments[0]!;
    const good = await (await fetch(`${spawned.find((n) => n.child.exitCode === null && n !== a)!.url}/api/film/${seg.blake3}`)).arrayBuffer();
    const bad = Buffer.from(good);
    bad[bad.length >> 1]! ^= 0xff;
    let served = 0;
    const server = createServer((req, res) => {
      served++;
      res.writeHead(200, { "content-length": String(bad.length), "content-type": "application/octet-stream" });
      res.end(req.method === "HEAD" ? undefined : bad);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const fakeUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const id = identityFromSecret(randomSecret());
      const sk = generateSecretKey();
      const advert = signNodeEvent(seedTemplate(fakeUrl, [seg.blake3], Math.floor(Date.now() / 1000)), { key: { secretKey: sk, pubkey: getPublicKey(sk) }, nodeId: id.nodeId, nodeSecret: id.secretKey });
      const r = await Relay.connect(relay.url);
      await r.publish(advert);
      r.close();
      // Only the fake and stopped nodes hold the blob now; A comes back as the origin (it advertises no seeds).
      await Promise.all(spawned.filter((n) => n !== a).map(stopNode));
      a = await spawnNode(["--data-dir", aDir], originEnv());
      spawned.push(a);
      const e = await viewer();
      const got = await get(e, `/api/film/${seg.blake3}.ts`);
      expect(got.status).toBe(200);
      expect(got.source).toBe("origin");
      expect(blake3(got.body)).toBe(seg.blake3);
      expect(served).toBeGreaterThan(0);
      expect(e.logs()).toMatch(/holder sent bytes that do not match the hash/);
      expect(await (await fetch(`${e.adminUrl}/metrics`)).text()).toMatch(/slowdrip_films_bad_holder_total 1/);
      // Stored verified, it is served from E itself from now on.
      expect((await get(e, `/api/film/${seg.blake3}.ts`)).source).toBe("local");
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  }, 120_000);
});
