// `slowdrip film add` on publisher node A (real ffmpeg, 20 s test video, 2 renditions) against a real relay: the
// blobs are pinned on A, the film is signed by A's key and published; node B, which trusts A, lists it within one
// refresh and node C, which does not, never does; `film ls`, `film republish` and `film rm` (NIP-09 deletion).
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Relay } from "nostr-tools/relay";
import type { Event } from "nostr-tools/pure";
import type { CatalogSnapshot } from "../../src/films/catalog.ts";
import { verifyFilm, type SignedFilm } from "../../src/films/record.ts";
import { createHasher } from "../../src/wasm/index.ts";
import { runCli, spawnNode, stopNode, tempDir, type SpawnedNode } from "../helpers/node.ts";
import { startRelay, type TestRelay } from "../peers/relay.ts";
import { ensureFfmpeg, runCapture, until, makeTestVideo } from "../media/peers.ts";

let relay: TestRelay;
let ffmpeg = "";
const spawned: SpawnedNode[] = [];
const dirs: string[] = [];
let a: SpawnedNode;
let b: SpawnedNode;
let c: SpawnedNode;
let aDir = "";
let aId = "";
let aNostr = "";
let video = "";
let poster = "";

async function catalog(n: SpawnedNode): Promise<CatalogSnapshot> {
  return (await (await fetch(`${n.url}/api/film-catalog`)).json()) as CatalogSnapshot;
}
async function query(filter: Record<string, unknown>): Promise<Event[]> {
  const r = await Relay.connect(relay.url);
  try {
    return await new Promise<Event[]>((resolve) => {
      const got: Event[] = [];
      const sub = r.subscribe([filter as never], { onevent: (e) => got.push(e), oneose: () => { sub.close(); resolve(got); } });
    });
  } finally {
    r.close();
  }
}
const blake3 = (b: Uint8Array) => createHasher().update(b).digestHex();

beforeAll(async () => {
  ffmpeg = ensureFfmpeg();
  relay = await startRelay();
  const work = tempDir();
  dirs.push(work);
  video = join(work, "in.mp4");
  poster = join(work, "poster.png");
  await makeTestVideo(ffmpeg, video, 20, true);
  const p = await runCapture(ffmpeg, ["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x180", "-frames:v", "1", poster], 60_000);
  expect(p.code, p.stderr).toBe(0);
  aDir = tempDir();
  dirs.push(aDir);
  const env = { SLOWDRIP_NOSTR_RELAYS: relay.url, SLOWDRIP_FILMS_REFRESH: "2s", SLOWDRIP_NOSTR_TIMEOUT: "3s" };
  a = await spawnNode(["--data-dir", aDir], { ...env, SLOWDRIP_FILMS_FFMPEG: ffmpeg });
  spawned.push(a);
  aId = (JSON.parse(readFileSync(join(aDir, "keypair"), "utf8")) as { public: string }).public;
  aNostr = (JSON.parse(readFileSync(join(aDir, "nostr.key"), "utf8")) as { public: string }).public;
  const bDir = tempDir();
  const cDir = tempDir();
  dirs.push(bDir, cDir);
  b = await spawnNode(["--data-dir", bDir], { ...env, SLOWDRIP_FILMS_TRUSTED_PUBLISHERS: aId });
  c = await spawnNode(["--data-dir", cDir], env);
  spawned.push(b, c);
}, 600_000);

afterAll(async () => {
  await Promise.all(spawned.map(stopNode));
  await relay?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("slowdrip film add", () => {
  let filmId = "";
  let playlist = "";

  it("cuts 2 renditions into pinned blobs, prints '<film id>  <playlist blake3>' and publishes the film", async () => {
    const r = await runCli(["film", "add", video, "--title", "Test pattern", "--poster", poster, "--data-dir", aDir, "--url", a.adminUrl], { env: { SLOWDRIP_FILMS_FFMPEG: ffmpeg } });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const last = r.stdout.trim().split("\n").pop()!;
    const m = /^([0-9a-f]{32}) {2}([0-9a-f]{64})$/.exec(last);
    expect(m, last).not.toBeNull();
    filmId = m![1]!;
    playlist = m![2]!;
    // The master playlist blob is stored on A under that hash and names two rendition playlists.
    const master = new Uint8Array(await (await fetch(`${a.url}/blobs/${playlist}`)).arrayBuffer());
    expect(blake3(master)).toBe(playlist);
    const text = Buffer.from(master).toString("utf8");
    expect(text.match(/^#EXT-X-STREAM-INF/gm)).toHaveLength(2);
    const ls = await runCli(["film", "ls", "--json", "--data-dir", aDir, "--url", a.adminUrl]);
    expect(ls.code, ls.stderr).toBe(0);
    const films = JSON.parse(ls.stdout) as SignedFilm[];
    expect(films.map((f) => f.film.id)).toEqual([filmId]);
    const s = verifyFilm(films[0]);
    expect(s.film.creator).toBe(aId);
    expect(s.film.title).toBe("Test pattern");
    expect(s.film.renditions.map((x) => [x.name, x.resolution])).toEqual([["720p", "1280x720"], ["360p", "640x360"]]);
    expect(Math.abs(s.film.duration - 20_000)).toBeLessThan(500);
    for (const rend of s.film.renditions) {
      const total = rend.segments.reduce((n, x) => n + x.duration, 0);
      expect(Math.abs(total - 20_000)).toBeLessThan(1000);
      // Each segment is a pinned blob on A with the advertised size and hash.
      const seg = rend.segments[1]!;
      const bytes = new Uint8Array(await (await fetch(`${a.url}/blobs/${seg.blake3}`)).arrayBuffer());
      expect(bytes.length).toBe(seg.size);
      expect(blake3(bytes)).toBe(seg.blake3);
      const media = await (await fetch(`${a.url}/blobs/${rend.playlist}`)).text();
      expect(media).toContain(`${rend.segments[0]!.blake3}.ts`);
    }
    const stat = await runCli(["blob", "stat", s.film.renditions[0]!.segments[0]!.blake3, "--json", "--data-dir", aDir, "--url", a.adminUrl]);
    expect(JSON.parse(stat.stdout)).toMatchObject({ pinned: true });
    expect(s.film.poster).toMatch(/^[0-9a-f]{64}$/);
  }, 300_000);

  it("B, which trusts A, lists the film within one refresh; C, which does not, does not", async () => {
    const got = await until(async () => {
      const s = await catalog(b);
      return s.films.find((f) => f.d === filmId);
    }, 15_000, "the film in B's catalog");
    expect(got.publisher).toBe(aId);
    expect(got.event.node).toBe(aId);
    expect(got.film.playlist).toBe(playlist);
    // A lists its own film too (a node always trusts itself).
    await until(async () => (await catalog(a)).films.some((f) => f.d === filmId), 15_000, "the film in A's catalog");
    const cs = await until(async () => {
      const s = await catalog(c);
      return s.source === "relays" ? s : null;
    }, 15_000, "C's catalog");
    expect(cs.films).toEqual([]);
  }, 60_000);

  it("publishes a seed advert with the film's blobs", async () => {
    const ev = await until(async () => {
      const got = await query({ kinds: [30081], authors: [aNostr], "#d": ["seeds"] });
      return got.find((e) => e.tags.some((t) => t[0] === "x" && t[1] === playlist));
    }, 15_000, "a seed advert naming the playlist");
    const x = ev.tags.filter((t) => t[0] === "x").map((t) => t[1]);
    const film = verifyFilm(JSON.parse((await runCli(["film", "ls", "--json", "--data-dir", aDir, "--url", a.adminUrl])).stdout)[0]).film;
    for (const r of film.renditions) for (const s of r.segments) expect(x).toContain(s.blake3);
  });

  it("republish sends a newer event; rm publishes a NIP-09 deletion and B drops the film", async () => {
    const before = await query({ kinds: [30082], authors: [aNostr], "#d": [filmId] });
    const rp = await runCli(["film", "republish", filmId, "--data-dir", aDir, "--url", a.adminUrl]);
    expect(rp.code, rp.stderr).toBe(0);
    await until(async () => {
      const now = await query({ kinds: [30082], authors: [aNostr], "#d": [filmId] });
      return now.length === 1 && now[0]!.created_at > before[0]!.created_at;
    }, 15_000, "a newer film event");
    const rm = await runCli(["film", "rm", filmId, "--data-dir", aDir, "--url", a.adminUrl]);
    expect(rm.code, rm.stderr).toBe(0);
    const del = await until(async () => (await query({ kinds: [5], authors: [aNostr] }))[0], 15_000, "the deletion event");
    expect(del.tags).toContainEqual(["a", `30082:${aNostr}:${filmId}`]);
    await until(async () => !(await catalog(b)).films.some((f) => f.d === filmId), 15_000, "B to drop the film");
    const ls = await runCli(["film", "ls", "--json", "--data-dir", aDir, "--url", a.adminUrl]);
    expect(JSON.parse(ls.stdout)).toEqual([]);
    const again = await runCli(["film", "rm", filmId, "--data-dir", aDir, "--url", a.adminUrl]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/404/);
  }, 60_000);
});
