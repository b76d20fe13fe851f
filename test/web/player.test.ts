// The verifying P2P player in real headless Chromium (Debian's, driven by playwright-core) inside a network namespace:
// ffmpeg publishes RTMP to real MediaMTX, the node ingests and signs, pages play with hls.js + p2p-media-loader over
// the node's own tracker. Two pages share segments; a tampering page (test-only: its upload path is patched to corrupt
// what it shares) is caught; a re-signed manifest is refused.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { signDelegation, signManifest, type SignedManifest } from "../../src/stream/manifest.ts";
import { publicKeyHex } from "../../src/stream/signing.ts";
import { launchChromium, newPage, nodeIdOf, panelStats, playback, startLive, until, watchPlayback, type LiveSetup } from "./browser.ts";

const PATH = "live/x";
let live: LiveSetup;
let browser: Browser;
let creator = "";

beforeAll(async () => {
  live = await startLive();
  await live.publish(PATH);
  creator = await nodeIdOf(live.url);
  browser = await launchChromium({ ns: live.ns });
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await live?.stop();
});

/** The test-only patch of the tampering page: corrupt every large (segment data) message sent on a data channel. */
const TAMPER_UPLOADS = `(() => {
  const send = RTCDataChannel.prototype.send;
  RTCDataChannel.prototype.send = function (data) {
    if (data && typeof data !== "string" && data.byteLength > 4096) {
      const bytes = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice() : new Uint8Array(data).slice();
      bytes[bytes.length >> 1] ^= 0xff;
      return send.call(this, bytes);
    }
    return send.call(this, data);
  };
})();`;

const watchUrl = (latency: number) => `${live.url}/watch/${PATH}?creator=${creator}&latency=${latency}`;

describe("the P2P player", () => {
  it("is linked from the public index of live streams, creator pinned", async () => {
    const p = await newPage(browser);
    await p.page.goto(`${live.url}/`);
    const link = p.page.locator(`#streams li[data-path="${PATH}"] a`).first();
    await link.waitFor({ timeout: 20_000 });
    expect(await link.getAttribute("href")).toBe(`/watch/${PATH}?creator=${creator}`);
    await link.click();
    await until(async () => (await panelStats(p.page)).state === "verified", 30_000, "the linked player to verify the stream");
    expect(await p.page.locator("#creator").textContent()).toContain("pinned by this link");
    await p.context.close();
  }, 60_000);

  it("two browsers play 20 s without a stall over 2 s, the second getting at least 30 % of its segment bytes from the first", async () => {
    const before = await live.originBytes(PATH);
    const a = await newPage(browser);
    await a.page.goto(watchUrl(4));
    await until(async () => (await panelStats(a.page)).state === "verified", 30_000, "page A to verify the stream");
    await watchPlayback(a.page);
    await until(async () => (await playback(a.page)).played > 2, 30_000, "page A to play");
    const b = await newPage(browser);
    await b.page.goto(watchUrl(10));
    await until(async () => (await panelStats(b.page)).state === "verified", 30_000, "page B to verify the stream");
    await watchPlayback(b.page);
    await until(async () => (await playback(b.page)).played >= 20, 120_000, `page B to play 20 s\nA: ${a.console.slice(-5).join("\n")}\nB: ${b.console.slice(-10).join("\n")}`);
    const [pa, pb] = [await playback(a.page), await playback(b.page)];
    const [sa, sb] = [await panelStats(a.page), await panelStats(b.page)];
    await a.context.close();
    await b.context.close();
    // Let the last answers finish before reading the node's counter.
    await new Promise((r) => setTimeout(r, 500));
    const served = (await live.originBytes(PATH)) - before;
    console.log(`P2P figures: ${JSON.stringify({ a: { ...pa, ...sa }, b: { ...pb, ...sb }, nodeServed: served })}`);

    expect(pa.played).toBeGreaterThanOrEqual(20);
    expect(pb.played).toBeGreaterThanOrEqual(20);
    expect(pa.stallMs, "longest stall of page A (ms)").toBeLessThanOrEqual(2000);
    expect(pb.stallMs, "longest stall of page B (ms)").toBeLessThanOrEqual(2000);
    const rejections = [...a.console, ...b.console].filter((l) => l.includes("rejected segment")).slice(-6).join("\n");
    expect(sa.rejected + sb.rejected, `honest pages rejected segments (A: ${sa.lastRejection}, B: ${sb.lastRejection})\n${rejections}`).toBe(0);
    expect(sb.peers).toBeGreaterThanOrEqual(1);
    expect(sb.peerVerified).toBeGreaterThan(0);
    const share = sb.peerBytes / (sb.peerBytes + sb.originBytes);
    expect(share, `page B: ${sb.peerBytes} bytes from peers, ${sb.originBytes} from the origin`).toBeGreaterThanOrEqual(0.3);
    expect(sa.uploadedBytes).toBeGreaterThan(0);
    // The node's own count of segment bytes served matches what the pages say they took from the origin.
    const pages = sa.originBytes + sb.originBytes;
    expect(Math.abs(served - pages), `node served ${served} segment bytes, pages report ${pages}`).toBeLessThanOrEqual(Math.max(0.1 * served, 400_000));
  }, 240_000);

  it("rejects every corrupted segment a tampering peer shares, logs it, plays on from the origin and plays no bad frame", async () => {
    // TEST ONLY, a fake for a fault no honest browser produces: the tamperer is the real player, but its upload path is
    // patched - every segment chunk it sends a peer over a data channel gets one byte flipped. Its own playback and the
    // commands of p2p-media-loader's protocol (small messages) stay intact.
    const t = await newPage(browser);
    await t.page.addInitScript(TAMPER_UPLOADS);
    await t.page.goto(watchUrl(4));
    await watchPlayback(t.page);
    await until(async () => (await playback(t.page)).played >= 3, 60_000, "the tampering page to play");

    const v = await newPage(browser);
    await v.page.goto(watchUrl(10));
    await watchPlayback(v.page);
    await until(async () => (await panelStats(v.page)).rejected >= 1, 90_000, "the victim to reject a segment").catch(async (e: Error) => {
      throw new Error(`${e.message}\ntamperer ${JSON.stringify(await panelStats(t.page))} ${JSON.stringify(await playback(t.page))}\n${t.console.slice(-8).join("\n")}\nvictim ${JSON.stringify(await panelStats(v.page))}\n${v.console.slice(-8).join("\n")}`);
    });
    const atReject = (await playback(v.page)).played;
    await until(async () => (await playback(v.page)).played >= atReject + 10, 60_000, "the victim to play on 10 s after the rejection");
    const sv = await panelStats(v.page);
    const pv = await playback(v.page);
    const logged = await v.page.locator("#log li").evaluateAll((li) => li.map((e) => ({ code: e.getAttribute("data-code"), source: e.getAttribute("data-source") })));
    await t.context.close();
    await v.context.close();
    console.log(`tamper figures: ${JSON.stringify({ victim: { ...sv, ...pv }, logged: logged.length })}`);

    expect(sv.rejected).toBeGreaterThanOrEqual(1);
    // Every segment the tamperer shared was corrupted, and not one of them was accepted.
    expect(sv.peerVerified).toBe(0);
    expect(logged.length).toBeGreaterThanOrEqual(1);
    expect(logged.every((l) => l.source === "a peer" && (l.code === "segment-blake3" || l.code === "segment-size"))).toBe(true);
    expect(v.console.some((l) => /rejected segment [0-9a-f]{64} from a peer: segment-blake3/.test(l))).toBe(true);
    // Playback went on from verified segments only: the origin served the replacements, nothing reached the decoder bad.
    expect(sv.originBytes).toBeGreaterThan(0);
    expect(pv.stallMs).toBeLessThanOrEqual(5000);
    expect(pv.corrupted).toBe(0);
    // hls.js never had bad bytes to parse or append (stalls under load are media errors too, and allowed).
    expect(v.console.filter((l) => /hls\.js media error (fragParsingError|bufferAppendError|bufferAppendingError|bufferAddCodecError)/.test(l))).toEqual([]);
  }, 240_000);

  it("refuses to start on a manifest re-signed with another key, and says why", async () => {
    const evil = new Uint8Array(32).fill(7);
    const evilKey = publicKeyHex(evil);
    const p = await newPage(browser);
    await p.page.route(/\/live\/live\/x\/manifest\.json$/, async (route) => {
      const real = (await (await route.fetch()).json()) as SignedManifest;
      const now = Math.floor(Date.now() / 1000);
      const delegation = signDelegation({ type: "STREAM_DELEGATION", v: 1, stream: "*", creator: evilKey, node: evilKey, notBefore: now - 60, notAfter: now + 3600 }, evil);
      const forged = signManifest({ ...real.manifest, creator: evilKey, node: evilKey }, delegation, evil);
      await route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify(forged) });
    });
    let segmentRequests = 0;
    p.page.on("request", (r) => {
      if (/\.ts$/.test(r.url())) segmentRequests++;
    });
    await p.page.goto(watchUrl(4));
    await until(async () => (await panelStats(p.page)).state === "refused", 30_000, "the player to refuse the stream");
    const s = await panelStats(p.page);
    const text = await p.page.locator("#state").textContent();
    const time = await p.page.locator("video").evaluate((e) => (e as HTMLVideoElement).currentTime);
    await p.context.close();
    expect(s.reason).toMatch(/^delegation-creator: /);
    expect(text).toMatch(/Refused to play: delegation-creator: delegation is by [0-9a-f]{64}, not the creator [0-9a-f]{64}/);
    expect(time).toBe(0);
    expect(segmentRequests).toBe(0);
  }, 120_000);
});
