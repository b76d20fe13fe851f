// GET /api/film-catalog on real `slowdrip run` processes against a real relay: node B lists the newest version of a
// trusted creator's film and leaves out forged, untrusted and oversized film events; node C, which trusts no one, lists
// nothing; B restarted with the relay down serves its last catalog from the cache at once.
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Relay } from "nostr-tools/relay";
import { generateSecretKey, getPublicKey, type Event } from "nostr-tools/pure";
import { didKey, publicKeyOf, randomSecret } from "../../src/identity/ed25519.ts";
import { hex } from "../../src/identity/hex.ts";
import { identityFromSecret } from "../../src/identity/identity.ts";
import { filmTemplate, signFilm, type Film } from "../../src/films/record.ts";
import type { CatalogSnapshot } from "../../src/films/catalog.ts";
import { signNodeEvent, type Signer } from "../../src/nostr/events.ts";
import { spawnNode, stopNode, tempDir, type SpawnedNode } from "../helpers/node.ts";
import { startRelay, type TestRelay } from "../peers/relay.ts";
import { until } from "../media/peers.ts";

let relay: TestRelay;
const spawned: SpawnedNode[] = [];
const dirs: string[] = [];

const creator = randomSecret();
const creatorKey = hex(publicKeyOf(creator));
const stranger = randomSecret();
// The node that publishes the films (as `slowdrip film add` on node A would).
const nodeA: Signer = (() => {
  const id = identityFromSecret(randomSecret());
  const sk = generateSecretKey();
  return { key: { secretKey: sk, pubkey: getPublicKey(sk) }, nodeId: id.nodeId, nodeSecret: id.secretKey };
})();
const now = () => Math.floor(Date.now() / 1000);
const h = () => randomBytes(32).toString("hex");

function film(title: string, key: Uint8Array, id: string, segments = 3): Film {
  return {
    type: "SLOWDRIP_FILM",
    v: 1,
    id,
    title,
    creator: hex(publicKeyOf(key)),
    duration: segments * 4000,
    poster: h(),
    playlist: h(),
    renditions: [{ name: "360p", playlist: h(), bandwidth: 800_000, resolution: "640x360", ext: "ts", segments: Array.from({ length: segments }, () => ({ blake3: h(), size: 100_000, duration: 4000 })) }],
    origin: "http://127.0.0.1:9",
    monetization: null,
    created: now(),
  };
}

async function publish(events: Event[]): Promise<void> {
  const r = await Relay.connect(relay.url);
  try {
    for (const e of events) await r.publish(e);
  } finally {
    r.close();
  }
}

async function run(dir: string, env: Record<string, string>): Promise<SpawnedNode> {
  const n = await spawnNode(["--data-dir", dir], { SLOWDRIP_FILMS_REFRESH: "1s", SLOWDRIP_NOSTR_TIMEOUT: "2s", SLOWDRIP_NODE_LOG_LEVEL: "debug", ...env });
  spawned.push(n);
  return n;
}

async function catalog(n: SpawnedNode): Promise<CatalogSnapshot> {
  const r = await fetch(`${n.url}/api/film-catalog`);
  expect(r.status).toBe(200);
  return (await r.json()) as CatalogSnapshot;
}

beforeAll(async () => {
  relay = await startRelay();
}, 600_000);
afterAll(async () => {
  await Promise.all(spawned.map(stopNode));
  await relay?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("film catalog", () => {
  const goodId = randomBytes(16).toString("hex");
  let bDir = "";
  let b: SpawnedNode;

  it("lists the newest trusted film on B, leaves out forged, untrusted and oversized events, and nothing on C", async () => {
    const old = signFilm(film("First cut", creator, goodId), creator);
    const latest = signFilm({ ...film("Final cut", creator, goodId), created: now() }, creator);
    const forged = signFilm(film("Forged", creator, randomBytes(16).toString("hex")), creator);
    forged.film = { ...forged.film, title: "Forged (changed after signing)" };
    const untrusted = signFilm(film("Untrusted", stranger, randomBytes(16).toString("hex")), stranger);
    // A valid, trusted film whose event is larger than B's nostr.max_event_size (16 KiB) but within the relay's.
    const big = signFilm(film("Too big", creator, randomBytes(16).toString("hex"), 200), creator);
    await publish([
      signNodeEvent(filmTemplate(old, now() - 10), nodeA),
      signNodeEvent(filmTemplate(latest, now() - 5), nodeA),
      signNodeEvent(filmTemplate(forged, now() - 5), nodeA),
      signNodeEvent(filmTemplate(untrusted, now() - 5), nodeA),
      signNodeEvent(filmTemplate(big, now() - 5), nodeA),
    ]);
    expect(JSON.stringify(signNodeEvent(filmTemplate(big, now()), nodeA)).length).toBeGreaterThan(16 * 1024);

    bDir = tempDir();
    const cDir = tempDir();
    dirs.push(bDir, cDir);
    b = await run(bDir, { SLOWDRIP_NOSTR_RELAYS: relay.url, SLOWDRIP_FILMS_TRUSTED_PUBLISHERS: didKey(publicKeyOf(creator)), SLOWDRIP_NOSTR_MAX_EVENT_SIZE: "16KiB" });
    const c = await run(cDir, { SLOWDRIP_NOSTR_RELAYS: relay.url });
    const got = await until(async () => {
      const s = await catalog(b);
      return s.source === "relays" && s.films.length > 0 ? s : null;
    }, 30_000, `B's catalog ${b.logs().slice(-1500)}`);
    expect(got.films.map((f) => [f.publisher, f.d, f.film.title])).toEqual([[creatorKey, goodId, "Final cut"]]);
    expect(got.films[0]!.event.node).toBe(nodeA.nodeId);
    expect(got.films[0]!.film.renditions[0]!.segments).toHaveLength(3);
    // The forged one is logged as a bad creator signature (the stranger's is not even asked for: B's REQ names only
    // trusted creators in its #c filter).
    await until(() => /"reason":"creator"/.test(b.logs()), 10_000, "B's log of the ignored events");
    const metrics = await (await fetch(`${b.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/slowdrip_films_events_rejected_total\{reason="creator"\} [1-9]/);
    expect(metrics).toMatch(/slowdrip_nostr_events_rejected_total\{reason="size"\} [1-9]/);
    const cs = await until(async () => {
      const s = await catalog(c);
      return s.source === "relays" ? s : null;
    }, 30_000, "C's catalog");
    expect(cs.films).toEqual([]);
  }, 120_000);

  it("B restarted with the relay down serves its last catalog at once", async () => {
    await stopNode(b);
    await relay.stop();
    const again = await run(bDir, { SLOWDRIP_NOSTR_RELAYS: relay.url, SLOWDRIP_FILMS_TRUSTED_PUBLISHERS: didKey(publicKeyOf(creator)) });
    const s = await catalog(again);
    expect(s.source).toBe("cache");
    expect(s.films.map((f) => f.film.title)).toEqual(["Final cut"]);
    // Refreshes while every relay is down keep it.
    await new Promise((r) => setTimeout(r, 2500));
    expect((await catalog(again)).films.map((f) => f.film.title)).toEqual(["Final cut"]);
  }, 60_000);
});
