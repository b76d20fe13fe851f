// Paid swarm streaming on real `slowdrip run` processes with a real relay, a real nutshell mint and real ffmpeg:
// publisher A charges for its blobs (HTTP 402); viewer B streams A's film through GET /api/film/, pays A's 402 from its
// own wallet, and verifies every blob; A's ledger shows the content-download revenue and B's the spend.
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyFilm, type SignedFilm } from "../../src/films/record.ts";
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
let aDir = "";
let bDir = "";
let film: SignedFilm;

const blake3 = (x: Uint8Array) => createHasher().update(x).digestHex();

beforeAll(async () => {
  const ffmpeg = ensureFfmpeg();
  [relay, mints] = await Promise.all([startRelay(), startMints(1)]);
  const mint = mints[0]!.url;
  const work = tempDir();
  dirs.push(work);
  const video = join(work, "in.mp4");
  await makeTestVideo(ffmpeg, video, 6);
  const common = { SLOWDRIP_NOSTR_RELAYS: relay.url, SLOWDRIP_FILMS_REFRESH: "1s", SLOWDRIP_NOSTR_TIMEOUT: "3s", SLOWDRIP_PAY_TRUSTED_MINTS: mint };
  aDir = tempDir();
  bDir = tempDir();
  dirs.push(aDir, bDir);
  const port = await freePort();
  a = await spawnNode(["--data-dir", aDir], { ...common, SLOWDRIP_API_LISTEN: `127.0.0.1:${port}`, SLOWDRIP_NODE_PUBLIC_ENDPOINT: `http://127.0.0.1:${port}`, SLOWDRIP_PAY_ENABLED: "true", SLOWDRIP_PAY_PRICING_CONTENT_DOWNLOAD: "100" });
  spawned.push(a);
  const aId = (JSON.parse(readFileSync(join(aDir, "keypair"), "utf8")) as { public: string }).public;
  const add = await runCli(["film", "add", video, "--title", "Paid", "--data-dir", aDir, "--url", a.adminUrl], { env: { SLOWDRIP_FILMS_FFMPEG: ffmpeg, SLOWDRIP_FILMS_RENDITIONS: "360p:640x360:600", SLOWDRIP_FILMS_SEGMENT_DURATION: "2s" } });
  expect(add.code, add.stderr).toBe(0);
  film = verifyFilm((JSON.parse((await runCli(["film", "ls", "--json", "--data-dir", aDir, "--url", a.adminUrl])).stdout) as SignedFilm[])[0]);
  b = await spawnNode(["--data-dir", bDir], { ...common, SLOWDRIP_FILMS_TRUSTED_PUBLISHERS: aId, SLOWDRIP_FILMS_MAX_PRICE_PER_MIB: "200" });
  spawned.push(b);
  const funded = await runCli(["wallet", "mint", "1000", "--mint", mint, "--data-dir", bDir, "--url", b.adminUrl]);
  expect(funded.code, funded.stderr).toBe(0);
  await until(async () => ((await (await fetch(`${b.url}/api/film-catalog`)).json()) as { films: unknown[] }).films.length > 0, 20_000, "the film in B's catalog");
}, 600_000);

afterAll(async () => {
  await Promise.all(spawned.map(stopNode));
  await Promise.all([relay?.stop(), stopMints(mints)]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("paid film streaming", () => {
  it("B pays A's 402 for every blob it streams, and both ledgers show it", async () => {
    // A's blobs are not free.
    const direct = await fetch(`${a.url}/blobs/${film.film.playlist}`);
    expect(direct.status).toBe(402);
    await direct.body?.cancel();
    const r = film.film.renditions[0]!;
    for (const h of [film.film.playlist, r.playlist, ...r.segments.map((s) => s.blake3)]) {
      const got = await fetch(`${b.url}/api/film/${h}`);
      expect(got.status).toBe(200);
      expect(got.headers.get("x-slowdrip-source")).toBe("paid");
      expect(blake3(new Uint8Array(await got.arrayBuffer()))).toBe(h);
    }
    const aRev = JSON.parse((await runCli(["wallet", "revenue", "--json", "--data-dir", aDir, "--url", a.adminUrl])).stdout) as { services: { service: string; earned: string }[] };
    const earned = Number(aRev.services.find((s) => s.service === "content-download")?.earned ?? 0);
    expect(earned).toBeGreaterThan(0);
    const bRev = JSON.parse((await runCli(["wallet", "revenue", "--json", "--data-dir", bDir, "--url", b.adminUrl])).stdout) as { totalSpent: string };
    expect(Number(bRev.totalSpent)).toBeGreaterThanOrEqual(earned);
    const metrics = await (await fetch(`${b.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/slowdrip_films_blobs_total\{source="paid"\} [1-9]/);
  }, 180_000);
});
