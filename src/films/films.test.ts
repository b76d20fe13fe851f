// Film records and the catalog merge: creator signatures, shape bounds, trust, newest per (creator, d), deletions.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { publicKeyOf, randomSecret } from "../identity/ed25519.ts";
import { hex } from "../identity/hex.ts";
import { identityFromSecret } from "../identity/identity.ts";
import { checkEvent, signNodeEvent, type Signer } from "../nostr/events.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mergeFilms } from "./catalog.ts";
import { FilmLibrary } from "./library.ts";
import { checkFilm, filmTemplate, signFilm, verifyFilm, type Film } from "./record.ts";

const h = () => randomBytes(32).toString("hex");
function signer(): Signer {
  const id = identityFromSecret(randomSecret());
  const sk = generateSecretKey();
  return { key: { secretKey: sk, pubkey: getPublicKey(sk) }, nodeId: id.nodeId, nodeSecret: id.secretKey };
}
function film(key: Uint8Array, id = randomBytes(16).toString("hex"), title = "T"): Film {
  return {
    type: "SLOWDRIP_FILM", v: 1, id, title, creator: hex(publicKeyOf(key)), duration: 8000, poster: null, playlist: h(),
    renditions: [{ name: "720p", playlist: h(), bandwidth: 1, resolution: "1280x720", ext: "ts", segments: [{ blake3: h(), size: 1, duration: 4000 }] }],
    origin: null, monetization: { service: "content-download", sats_per_mib: 1 }, created: 1,
  };
}

describe("film record", () => {
  it("verifies under the creator and not after any change", () => {
    const k = randomSecret();
    const s = signFilm(film(k), k);
    expect(verifyFilm(JSON.parse(JSON.stringify(s))).film.id).toBe(s.film.id);
    expect(() => verifyFilm({ ...s, film: { ...s.film, title: "other" } })).toThrow(/does not verify/);
    expect(() => verifyFilm({ ...s, film: { ...s.film, creator: hex(publicKeyOf(randomSecret())) } })).toThrow(/does not verify/);
  });

  it("refuses bad shapes", () => {
    const f = film(randomSecret());
    expect(() => checkFilm({ ...f, id: "x" })).toThrow(/id/);
    expect(() => checkFilm({ ...f, extra: 1 })).toThrow(/unknown field/);
    expect(() => checkFilm({ ...f, renditions: [] })).toThrow(/renditions/);
    expect(() => checkFilm({ ...f, title: "x".repeat(301) })).toThrow(/title/);
    expect(() => checkFilm({ ...f, renditions: [{ ...f.renditions[0]!, segments: [{ blake3: "zz", size: 1, duration: 1 }] }] })).toThrow(/segment/);
    expect(() => checkFilm({ ...f, origin: "ftp://x" })).toThrow(/origin/);
  });
});

describe("mergeFilms", () => {
  const node = signer();
  const k = randomSecret();
  const other = randomSecret();
  const creator = hex(publicKeyOf(k));
  const ev = (f: Film, at: number, s = node) => checkEvent(signNodeEvent(filmTemplate(signFilm(f, f.creator === creator ? k : other), at), s));

  it("keeps the newest per (creator, d), only trusted creators, newest first", () => {
    const id = randomBytes(16).toString("hex");
    const a = ev(film(k, id, "old"), 100);
    const b = ev(film(k, id, "new"), 200);
    const c = ev(film(k, undefined, "second"), 150);
    const d = ev(film(other, undefined, "untrusted"), 300);
    const rejected: string[] = [];
    const out = mergeFilms([b, a, c, d], { trusted: new Set([creator]), maxEntries: 10, onReject: (r) => rejected.push(r) });
    expect(out.map((x) => x.film.title)).toEqual(["new", "second"]);
    expect(rejected).toEqual(["trust"]);
    expect(mergeFilms([a, b, c], { trusted: new Set([creator]), maxEntries: 1 }).map((x) => x.film.title)).toEqual(["new"]);
  });

  it("applies a deletion by the same Nostr pubkey and ignores one by another", () => {
    const f = film(k);
    const e = ev(f, 100);
    const del = (s: Signer, at: number) => checkEvent(signNodeEvent({ kind: 5, created_at: at, tags: [["a", `30082:${s.key.pubkey}:${f.id}`], ["k", "30082"]], content: "" }, s));
    expect(mergeFilms([e, del(node, 150)], { trusted: new Set([creator]), maxEntries: 10 })).toEqual([]);
    expect(mergeFilms([e, del(signer(), 150)], { trusted: new Set([creator]), maxEntries: 10 })).toHaveLength(1);
    // A newer version published after the deletion is listed again.
    expect(mergeFilms([e, del(node, 150), ev(f, 160)], { trusted: new Set([creator]), maxEntries: 10 })).toHaveLength(1);
  });

  it("refuses a d tag that is not the film id and content that is not a signed film", () => {
    const f = signFilm(film(k), k);
    const t = filmTemplate(f, 100);
    const wrongD = checkEvent(signNodeEvent({ ...t, tags: t.tags.map((x) => (x[0] === "d" ? ["d", "other"] : x)) }, node));
    const junk = checkEvent(signNodeEvent({ ...t, content: "{" }, node));
    const rejected: string[] = [];
    expect(mergeFilms([wrongD, junk], { trusted: new Set([creator]), maxEntries: 10, onReject: (r) => rejected.push(r) })).toEqual([]);
    expect(rejected).toEqual(["film", "film"]);
  });
});

describe("FilmLibrary", () => {
  it("refuses a film that is not signed, names a missing blob, or would exceed the event size; keeps a good one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sd-films-"));
    try {
      const k = randomSecret();
      const published: string[] = [];
      const pub = () => ({ publish: (t: { kind: number }) => (published.push(String(t.kind)), { id: "e".repeat(64), pubkey: "p".repeat(64) }) });
      const all = { has: async () => true };
      const lib = new FilmLibrary(join(dir, "local.json"), 10, 64 * 1024);
      const good = signFilm(film(k), k);
      await expect(lib.add({ ...good, sig: "0".repeat(128) }, all, pub)).rejects.toThrow(/does not verify/);
      await expect(lib.add(good, { has: async (h: string) => h !== good.film.playlist }, pub)).rejects.toThrow(/not stored/);
      const long = film(k);
      long.renditions[0]!.segments = Array.from({ length: 1000 }, () => ({ blake3: h(), size: 1, duration: 4000 }));
      await expect(lib.add(signFilm(long, k), all, pub)).rejects.toThrow(/nostr.max_event_size/);
      expect(published).toEqual([]);
      await lib.add(good, all, pub);
      expect(published).toEqual(["30082"]);
      // The library survives a restart.
      expect(new FilmLibrary(join(dir, "local.json"), 10, 64 * 1024).list().map((x) => x.film.id)).toEqual([good.film.id]);
      lib.remove(good.film.id, pub(), "p".repeat(64));
      expect(published).toEqual(["30082", "5"]);
      expect(() => lib.get(good.film.id)).toThrow(/no film/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
