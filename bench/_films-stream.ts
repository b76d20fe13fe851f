// Films bench, streaming part (run from bench/films.ts): real `slowdrip run` processes, a real Nostr relay and a real
// nutshell mint. A 64 MiB film blob through viewer B's GET /api/film/ from one, two and three holders (verified
// ranges in parallel), each round paired with B's own local GET /blobs of the same bytes; and the time to first byte
// of a 1 MiB segment B does not hold: from a free holder (swarm), a holder charging 402 (paid swarm), and the origin.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Relay } from "nostr-tools/relay";
import { signFilm, type Film } from "../src/films/record.ts";
import { KIND_SEEDS } from "../src/nostr/events.ts";
import { createHasher } from "../src/wasm/index.ts";

const root = process.cwd();
const CLI = join(root, "dist/slowdrip.mjs");
const work = mkdtempSync(join(tmpdir(), "slowdrip-bench-films-"));
const blake3 = (b: Uint8Array) => createHasher().update(b).digestHex();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

interface Node {
  name: string;
  dir: string;
  url: string;
  admin: string;
  child: ChildProcess;
}
const nodes: Node[] = [];

function cli(args: string[]): string {
  return execFileSync(process.execPath, [CLI, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

async function start(name: string, env: Record<string, string>): Promise<Node> {
  const dir = join(work, name);
  const child = spawn("nice", ["-n", "5", process.execPath, CLI, "run", "--data-dir", dir], {
    env: { ...process.env, SLOWDRIP_MEDIAMTX_MANAGE: "off", SLOWDRIP_API_LISTEN: "127.0.0.1:0", SLOWDRIP_API_ADMIN_LISTEN: "127.0.0.1:0", SLOWDRIP_API_HOOKS_LISTEN: "127.0.0.1:0", SLOWDRIP_NODE_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const n: Node = { name, dir, url: "", admin: "", child };
  nodes.push(n);
  let out = "";
  const started = await new Promise<{ url: string; admin_url: string }>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${name} did not start`)), 60_000);
    child.stdout!.setEncoding("utf8").on("data", (c: string) => {
      out += c;
      const line = out.split("\n").find((l) => l.includes('"node started"'));
      if (line) {
        clearTimeout(t);
        resolve(JSON.parse(line) as { url: string; admin_url: string });
      }
    });
    child.once("exit", (code) => reject(new Error(`${name} exited with ${code}`)));
  });
  n.url = started.url;
  n.admin = started.admin_url;
  // Only the start line is needed; the rest of the log is dropped.
  child.stdout!.removeAllListeners("data").resume();
  return n;
}

function put(n: Node, file: string): void {
  cli(["blob", "put", file, "--pin", "--tag", "seed", "--data-dir", n.dir, "--url", n.admin]);
}

async function until(what: string, ms: number, f: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await f().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** ms until the whole body arrived (and its hash checked), and until the first body byte. */
async function timed(url: string, hash: string): Promise<{ total: number; ttfb: number; source: string }> {
  const t = performance.now();
  const r = await fetch(url);
  if (r.status !== 200) throw new Error(`${url}: ${r.status} ${await r.text()}`);
  const reader = r.body!.getReader();
  const h = createHasher();
  let ttfb = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!ttfb) ttfb = performance.now() - t;
    h.update(value);
  }
  const total = performance.now() - t;
  if (h.digestHex() !== hash) throw new Error(`${url}: bytes do not match`);
  return { total, ttfb, source: r.headers.get("x-slowdrip-source") ?? "" };
}

/** Distinct endpoints of the seed adverts naming `hash` on the relay. */
async function seedEndpoints(url: string, hash: string): Promise<Set<string>> {
  const r = await Relay.connect(url);
  try {
    const out = new Set<string>();
    await new Promise<void>((resolve) => {
      const sub = r.subscribe([{ kinds: [KIND_SEEDS], "#x": [hash] }], {
        onevent: (e) => {
          const ep = e.tags.find((t) => t[0] === "endpoint")?.[1];
          if (ep) out.add(ep);
        },
        oneose: () => (sub.close(), resolve()),
      });
    });
    return out;
  } finally {
    r.close();
  }
}

/** Removes the viewer's cached copy, so that the next GET /api/film/ fetches it again. */
function evict(n: Node, hash: string): void {
  cli(["blob", "rm", hash, "--force", "--data-dir", n.dir, "--url", n.admin]);
}

/** Runs the streaming rows; returns them (load average is reported by the caller). */
export async function streamRows(rounds: number): Promise<Record<string, Record<string, number | string>>> {
  const relaySh = join(root, "test/peers/relay.sh");
  const mintsSh = join(root, "test/peers/mints.sh");
  const relay = execFileSync("bash", [relaySh, "start", join(work, "relay")], { encoding: "utf8", env: { ...process.env, SLOWDRIP_RELAY_MAX_EVENT_SIZE: "65536" } }).trim();
  const mint = execFileSync("bash", [mintsSh, "start", join(work, "mints"), "1", "0"], { encoding: "utf8" }).trim().split("\n")[0]!;
  try {
    const common = { SLOWDRIP_NOSTR_RELAYS: relay, SLOWDRIP_FILMS_REFRESH: "1s", SLOWDRIP_NOSTR_TIMEOUT: "3s", SLOWDRIP_PAY_TRUSTED_MINTS: mint };
    const files: Record<string, string> = {};
    const blob = (name: string, bytes: Uint8Array) => {
      const f = join(work, name);
      writeFileSync(f, bytes);
      files[name] = blake3(bytes);
      return f;
    };
    const big = blob("big.bin", randomBytes(64 * 1024 * 1024));
    const segSwarm = blob("swarm.ts", randomBytes(1024 * 1024));
    const segPaid = blob("paid.ts", randomBytes(1024 * 1024));
    const segOrigin = blob("origin.ts", randomBytes(1024 * 1024));
    const playlist = blob("media.m3u8", Buffer.from("#EXTM3U\n#EXT-X-ENDLIST\n"));
    const master = blob("master.m3u8", Buffer.from("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nmedia.m3u8\n"));
    // A is the publisher and origin (holding every blob, advertising none); H1..H3 hold the 64 MiB blob, H1 the swarm
    // segment; P charges (402) for the paid segment; B is the viewer.
    const a = await start("a", { ...common, SLOWDRIP_NOSTR_SEED_MAX_HASHES: "0" });
    for (const f of [big, segSwarm, segPaid, segOrigin, playlist, master]) put(a, f);
    const creator = JSON.parse(readFileSync(join(a.dir, "keypair"), "utf8")) as { public: string; secret: string };
    const film: Film = {
      type: "SLOWDRIP_FILM", v: 1, id: randomBytes(16).toString("hex"), title: "Bench", creator: creator.public, duration: 10_000, poster: null, playlist: files["master.m3u8"]!,
      renditions: [{ name: "bench", playlist: files["media.m3u8"]!, bandwidth: 1_000_000, resolution: "640x360", ext: "ts", segments: [big, segSwarm, segPaid, segOrigin].map((f) => ({ blake3: files[f.split("/").at(-1)!]!, size: f === big ? 64 * 1024 * 1024 : 1024 * 1024, duration: 2000 })) }],
      origin: a.url, monetization: null, created: Math.floor(Date.now() / 1000),
    };
    const token = readFileSync(join(a.dir, "admin.token"), "utf8").trim();
    const added = await fetch(`${a.admin}/api/films`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(signFilm(film, Buffer.from(creator.secret, "hex"))) });
    if (added.status !== 200) throw new Error(`film add: ${added.status} ${await added.text()}`);
    const b = await start("b", { ...common, SLOWDRIP_FILMS_TRUSTED_PUBLISHERS: creator.public, SLOWDRIP_NOSTR_SEED_MAX_HASHES: "0", SLOWDRIP_FILMS_FETCH_TIMEOUT: "120s" });
    cli(["wallet", "mint", "2000", "--mint", mint, "--data-dir", b.dir, "--url", b.admin]);
    await until("the film in B's catalog", 30_000, async () => ((await (await fetch(`${b.url}/api/film-catalog`)).json()) as { films: unknown[] }).films.length > 0);
    const h1 = await start("h1", common);
    put(h1, big);
    put(h1, segSwarm);
    const p = await start("p", { ...common, SLOWDRIP_PAY_ENABLED: "true", SLOWDRIP_PAY_PRICING_CONTENT_DOWNLOAD: "5" });
    put(p, segPaid);

    const rows: Record<string, Record<string, number | string>> = {};
    const bigHash = files["big.bin"]!;
    const holders = [h1];
    for (let k = 1; k <= 3; k++) {
      if (k > 1) {
        const h = await start(`h${k}`, common);
        put(h, big);
        holders.push(h);
      }
      // Wait until B's lookup would see k holders (their seed adverts on the relay).
      await until(`${k} holders advertising`, 30_000, async () => (await seedEndpoints(relay, bigHash)).size >= k);
      const film: number[] = [];
      const local: number[] = [];
      for (let r = 0; r < rounds; r++) {
        if (cli(["blob", "ls", "--data-dir", b.dir, "--url", b.admin]).includes(bigHash)) evict(b, bigHash);
        const f = await timed(`${b.url}/api/film/${bigHash}`, bigHash);
        if (f.source !== "peer") throw new Error(`64 MiB from ${k} holders came from ${f.source}`);
        const l = await timed(`${b.url}/blobs/${bigHash}`, bigHash);
        film.push(f.total);
        local.push(l.total);
      }
      const ratio = median(film.map((x, i) => x / local[i]!));
      rows[`64 MiB film blob via B's /api/film/ from ${k} holder${k > 1 ? "s" : ""} (verified 4 MiB ranges, parallel)`] = {
        ms: Math.round(median(film)), "MiB/s": Number((64 / (median(film) / 1000)).toFixed(1)), "x anchor": Number(ratio.toFixed(2)),
      };
      rows[`  anchor: B's local GET /blobs of the same 64 MiB (${k} holder round)`] = { ms: Math.round(median(local)), "MiB/s": Number((64 / (median(local) / 1000)).toFixed(1)) };
    }
    for (const [label, name, want] of [["swarm (free holder)", "swarm.ts", "peer"], ["paid swarm (holder answers 402, B pays)", "paid.ts", "paid"], ["origin (no holder)", "origin.ts", "origin"]] as const) {
      const hash = files[name]!;
      const first: number[] = [];
      const local: number[] = [];
      for (let r = 0; r < rounds; r++) {
        if (cli(["blob", "ls", "--data-dir", b.dir, "--url", b.admin]).includes(hash)) evict(b, hash);
        const f = await timed(`${b.url}/api/film/${hash}.ts`, hash);
        if (f.source !== want) throw new Error(`${label}: came from ${f.source}`);
        const l = await timed(`${b.url}/blobs/${hash}`, hash);
        first.push(f.ttfb);
        local.push(l.ttfb);
      }
      rows[`TTFB of a 1 MiB segment B does not hold: ${label}`] = { ms: Number(median(first).toFixed(1)), "x anchor": Number(median(first.map((x, i) => x / local[i]!)).toFixed(1)) };
      rows[`  anchor: TTFB of B's local GET /blobs of it (${name})`] = { ms: Number(median(local).toFixed(1)) };
    }
    return rows;
  } finally {
    await Promise.all(nodes.map((n) => new Promise((r) => (n.child.exitCode !== null ? r(null) : (n.child.once("exit", r), n.child.kill("SIGTERM"))))));
    for (const [sh, d] of [[relaySh, "relay"], [mintsSh, "mints"]] as const) {
      try {
        execFileSync("bash", [sh, "stop", join(work, d)], { stdio: "ignore" });
      } catch {
        /* already gone */
      }
    }
    rmSync(work, { recursive: true, force: true });
  }
}
