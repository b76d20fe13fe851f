// A real `slowdrip run` with a real relay, real mints and MediaMTX: its kind 10021 advert has TollGate's tag shape and
// GetPricing's prices, every event carries a valid binding tag, an RTMP publish makes a NIP-53 kind 30311 event go
// live and then ended, and the Nostr key is 0600 and travels in `slowdrip backup`.
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Relay } from "nostr-tools/relay";
import type { Filter } from "nostr-tools/filter";
import type { Event } from "nostr-tools/pure";
import { PaymentService } from "../../src/gen/slowdrip/v1/wallet_pb.ts";
import { checkEvent, parseTollgate } from "../../src/nostr/events.ts";
import { startMints, stopMints, type TestMint } from "../peers/mints.ts";
import { startRelay, type TestRelay } from "../peers/relay.ts";
import { runCli } from "../helpers/node.ts";
import { BIN, NODE, NodeProcess, ensureFfmpeg, installMediamtx, liveNodeEnv, rtmpPublishArgs, runCapture, runFfmpeg, until, waitMediamtxReady } from "../media/peers.ts";

let relay: TestRelay;
let mints: TestMint[] = [];
let dir = "";
let node: NodeProcess | null = null;
let url = "";
let adminUrl = "";
let rtmp = 0;
let ffmpeg = "";
let nostrPubkey = "";
let nodeId = "";

async function query(filter: Filter): Promise<Event[]> {
  const r = await Relay.connect(relay.url);
  try {
    return await new Promise<Event[]>((resolve) => {
      const got: Event[] = [];
      const sub = r.subscribe([filter], { onevent: (e) => got.push(e), oneose: () => { sub.close(); resolve(got); } });
    });
  } finally {
    r.close();
  }
}

beforeAll(async () => {
  const binary = installMediamtx();
  ffmpeg = ensureFfmpeg();
  [relay, mints] = await Promise.all([startRelay(), startMints(2)]);
  dir = mkdtempSync(join(tmpdir(), "slowdrip-nostr-adverts-"));
  const live = await liveNodeEnv({
    SLOWDRIP_PAY_ENABLED: "true",
    SLOWDRIP_PAY_TRUSTED_MINTS: mints.map((m) => m.url).join(","),
    SLOWDRIP_PAY_PRICING_CONTENT_DOWNLOAD: "7",
    SLOWDRIP_MEDIAMTX_BINARY: binary,
    SLOWDRIP_NOSTR_RELAYS: relay.url,
    SLOWDRIP_NODE_LOG_LEVEL: "debug",
  });
  ({ url, adminUrl, rtmp } = live);
  node = new NodeProcess(join(dir, "data"), live.env);
  await waitMediamtxReady(url, 60_000);
  const key = JSON.parse(readFileSync(join(dir, "data", "nostr.key"), "utf8")) as { public: string };
  nostrPubkey = key.public;
  nodeId = (JSON.parse(readFileSync(join(dir, "data", "keypair"), "utf8")) as { public: string }).public;
}, 900_000);

afterAll(async () => {
  await node?.stop();
  await Promise.all([relay?.stop(), stopMints(mints)]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("Nostr adverts of a running node", () => {
  it("creates nostr.key with mode 0600 and keeps it in slowdrip backup", async () => {
    expect(statSync(join(dir, "data", "nostr.key")).mode & 0o777).toBe(0o600);
    const out = join(dir, "backups");
    const b = await runCli(["backup", "--data-dir", join(dir, "data"), "--output", join(dir, "b.tar.gz")]);
    expect(b.code, b.stderr).toBe(0);
    const r = await runCli(["restore", join(dir, "b.tar.gz"), "--data-dir", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(out, "nostr.key"), "utf8")).toBe(readFileSync(join(dir, "data", "nostr.key"), "utf8"));
    expect(statSync(join(out, "nostr.key")).mode & 0o777).toBe(0o600);
  });

  it("publishes kind 10021 in TollGate's tag shape with GetPricing's prices, bound to the node id", async () => {
    const [ev] = await until(async () => {
      const got = await query({ kinds: [10021], authors: [nostrPubkey] });
      return got.length > 0 ? got : null;
    }, 30_000, `a kind 10021 event ${node!.logs.slice(-2000)}`);
    const checked = checkEvent(ev);
    expect(checked.node).toBe(nodeId);
    const advert = parseTollgate(checked);
    const pricing = await createClient(PaymentService, createConnectTransport({ baseUrl: adminUrl, httpVersion: "1.1" })).getPricing({});
    const download = pricing.services.find((s) => s.service === "content-download")!;
    expect(download.per).toBe("MiB");
    expect(advert.metric).toBe("bytes");
    expect(advert.stepSize).toBe(1024 * 1024);
    expect(advert.tips.length).toBeGreaterThan(0);
    expect(advert.prices.map((p) => p.mint).sort()).toEqual([...pricing.acceptedMints].sort());
    for (const p of advert.prices) {
      expect(p.price).toBe(Number(download.rate));
      expect(p.unit).toBe(pricing.unit);
      expect(p.minSteps).toBe(1);
    }
    expect(Number(download.rate)).toBe(7);
    // The tags are exactly TollGate's: metric, step_size, tips, price_per_step per mint, plus the binding tag.
    expect(new Set(ev!.tags.map((t) => t[0]))).toEqual(new Set(["metric", "step_size", "tips", "price_per_step", "slowdrip"]));
    expect(ev!.tags.filter((t) => t[0] === "price_per_step").every((t) => t.length === 6 && t[1] === "cashu")).toBe(true);
  });

  it("publishes a seed advert (kind 30081) naming its endpoint", async () => {
    const [ev] = await until(async () => {
      const got = await query({ kinds: [30081], authors: [nostrPubkey], "#d": ["seeds"] });
      return got.length > 0 ? got : null;
    }, 30_000, "a kind 30081 event");
    expect(checkEvent(ev).node).toBe(nodeId);
    expect(ev!.tags.find((t) => t[0] === "endpoint")?.[1]).toBe(url);
  });

  it("an RTMP publish makes a NIP-53 kind 30311 event go live, and ended when the publisher stops", async () => {
    const tok = await runCapture(NODE, [BIN, "token", "issue", "--action", "publish", "--path", "live/n", "--data-dir", join(dir, "data")], 30_000);
    const run = runFfmpeg(rtmpPublishArgs(`rtmp://127.0.0.1:${rtmp}/live/n?token=${tok.stdout.trim()}`), ffmpeg);
    const tag = (e: Event, name: string) => e.tags.find((t) => t[0] === name)?.[1];
    let live: Event;
    try {
      live = await until(async () => {
        const got = await query({ kinds: [30311], authors: [nostrPubkey], "#d": ["live/n"] });
        return got.find((e) => tag(e, "status") === "live");
      }, 60_000, `a live kind 30311 event ${run.stderr()} ${node!.logs.slice(-1500)}`);
    } finally {
      await run.stop();
    }
    expect(checkEvent(live).node).toBe(nodeId);
    expect(tag(live, "streaming")).toBe(`${url}/live/live/n/index.m3u8`);
    expect(tag(live, "announce")).toBe(`${url}/live/live/n/announce.json`);
    expect(tag(live, "title")).toBe("live/n");
    const starts = Number(tag(live, "starts"));
    expect(Math.abs(starts - Date.now() / 1000)).toBeLessThan(300);
    const playlist = await fetch(tag(live, "streaming")!);
    expect(playlist.status).toBe(200);
    await playlist.body?.cancel();
    const ended = await until(async () => {
      const got = await query({ kinds: [30311], authors: [nostrPubkey], "#d": ["live/n"] });
      // The relay keeps only the newest event per d tag.
      return got.length === 1 && tag(got[0]!, "status") === "ended" ? got[0] : undefined;
    }, 30_000, "the kind 30311 event to turn ended");
    expect(checkEvent(ended).node).toBe(nodeId);
    expect(tag(ended, "starts")).toBe(String(starts));
    expect(Number(tag(ended, "ends"))).toBeGreaterThanOrEqual(starts);
  }, 120_000);
});
