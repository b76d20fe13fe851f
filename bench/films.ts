// Films bench (issue 12): the merge of 1000 new film events, verification included (Schnorr signature, binding tag,
// creator signature), and of the same events again (the next refresh), against the anchor of nostr-tools' verifyEvent
// of the same events, in the same run; medians of the rounds. Then the streaming rows (_films-stream.ts): a 64 MiB
// film blob from one, two and three holders against B's local GET, and the TTFB of a segment B does not hold.
// Run: npm run bench -- films   (figures also in bench/results/films.json)
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { generateSecretKey, getPublicKey, verifyEvent } from "nostr-tools/pure";
import { mergeFilms } from "../src/films/catalog.ts";
import { filmTemplate, signFilm, type Film } from "../src/films/record.ts";
import { publicKeyOf, randomSecret } from "../src/identity/ed25519.ts";
import { hex } from "../src/identity/hex.ts";
import { identityFromSecret } from "../src/identity/identity.ts";
import { checkEvent, signNodeEvent, type Signer } from "../src/nostr/events.ts";
import { streamRows } from "./_films-stream.ts";

// bench/run.mjs runs every bench from the repository root.
const root = process.cwd();
const N = 1000;
const ROUNDS = 3;
const h = () => randomBytes(32).toString("hex");
const id = identityFromSecret(randomSecret());
const sk = generateSecretKey();
const signer: Signer = { key: { secretKey: sk, pubkey: getPublicKey(sk) }, nodeId: id.nodeId, nodeSecret: id.secretKey };
const creator = randomSecret();
const creatorKey = hex(publicKeyOf(creator));

// 1000 films of 2 renditions x 5 segments (a 20 s film at 4 s segments), as JSON text the way a relay sends them;
// fresh events (never verified in this process) for every round.
const now = Math.floor(Date.now() / 1000);
function events(): string[] {
  const raw: string[] = [];
  for (let i = 0; i < N; i++) {
    const f: Film = {
      type: "SLOWDRIP_FILM", v: 1, id: randomBytes(16).toString("hex"), title: `Film ${i}`, creator: creatorKey, duration: 20_000, poster: h(), playlist: h(),
      renditions: ["720p", "360p"].map((name) => ({ name, playlist: h(), bandwidth: 1_000_000, resolution: name === "720p" ? "1280x720" : "640x360", ext: "ts", segments: Array.from({ length: 5 }, () => ({ blake3: h(), size: 500_000, duration: 4000 })) })),
      origin: "http://127.0.0.1:8080", monetization: null, created: now,
    };
    raw.push(JSON.stringify(signNodeEvent(filmTemplate(signFilm(f, creator), now - i), signer)));
  }
  return raw;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const anchor: number[] = [];
const cold: number[] = [];
const warm: number[] = [];
const trusted = new Set([creatorKey]);
const mergeAll = (raw: string[]) => {
  const out = mergeFilms(raw.map((s) => checkEvent(JSON.parse(s))), { trusted, maxEntries: N });
  if (out.length !== N) throw new Error(`merged ${out.length} films, expected ${N}`);
};
for (let r = 0; r < ROUNDS; r++) {
  const raw = events();
  // Anchor: nostr-tools' own verifyEvent (Schnorr only, no memo) of the same events, parsed fresh.
  let t = performance.now();
  for (const s of raw) if (!verifyEvent(JSON.parse(s))) throw new Error("bad event");
  anchor.push(performance.now() - t);
  t = performance.now();
  mergeAll(raw);
  cold.push(performance.now() - t);
  // The next refresh of the same events: ids recomputed, signatures remembered.
  t = performance.now();
  mergeAll(raw);
  warm.push(performance.now() - t);
}
const load = loadavg();
const rows: Record<string, Record<string, number | string>> = {
  "catalog merge, 1000 new film events (parse, Schnorr, binding, creator signature, merge)": { ms: Number(median(cold).toFixed(1)), "x anchor": Number((median(cold) / median(anchor)).toFixed(2)) },
  "catalog merge, the same 1000 events again (a refresh: ids checked, signatures remembered)": { ms: Number(median(warm).toFixed(1)), "x anchor": Number((median(warm) / median(anchor)).toFixed(2)) },
  "anchor: nostr-tools verifyEvent (Schnorr) of the same events": { ms: Number(median(anchor).toFixed(1)) },
  load: { "1m": Number(load[0]!.toFixed(2)), "5m": Number(load[1]!.toFixed(2)), rounds: ROUNDS },
};
// The streaming rows (real nodes, relay and mint); --catalog-only leaves them out.
if (!process.argv.includes("--catalog-only")) {
  Object.assign(rows, await streamRows(3));
  const l = loadavg();
  rows["load after the streaming rows"] = { "1m": Number(l[0]!.toFixed(2)), "5m": Number(l[1]!.toFixed(2)), rounds: 3 };
}
for (const [k, v] of Object.entries(rows)) console.log(`${k.padEnd(92)} ${JSON.stringify(v)}`);
mkdirSync(join(root, "bench/results"), { recursive: true });
writeFileSync(join(root, "bench/results/films.json"), `${JSON.stringify(rows, null, 2)}\n`);
