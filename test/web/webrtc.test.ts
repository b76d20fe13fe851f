// WHIP -> WHEP in real headless Chromium: a page with a fake camera publishes by WHIP with a publish token through the
// node's /webrtc proxy to real MediaMTX (auth by the node's hook); the node ingests and signs the stream like an RTMP
// one; a second page plays it by WHEP and video frames arrive. A publish without a token is refused.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { verifyStream } from "../../src/stream/verify.ts";
import { freePort } from "../media/peers.ts";
import { FAKE_MEDIA_FLAGS, launchChromium, newPage, nodeIdOf, startLive, until, type LiveSetup } from "./browser.ts";

const PATH = "live/cam";
let live: LiveSetup;
let browser: Browser;

beforeAll(async () => {
  live = await startLive({
    SLOWDRIP_MEDIAMTX_WEBRTC: `127.0.0.1:${await freePort()}`,
    SLOWDRIP_MEDIAMTX_WEBRTC_UDP: `:${await freePort()}`,
  });
  // Browsers give the camera to secure contexts only; the test node speaks plain HTTP on a veth address, so this
  // browser is told to treat that origin as secure (a deployment serves /publish over https://, api.tls_cert).
  browser = await launchChromium({ ns: live.ns, args: [...FAKE_MEDIA_FLAGS, `--unsafely-treat-insecure-origin-as-secure=${live.url}`] });
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await live?.stop();
});

const state = (p: import("playwright-core").Page) => p.locator("#state").getAttribute("data-state");
/** What a page shows and logged, for failure messages. */
const shows = async (p: { page: import("playwright-core").Page; console: string[] }) =>
  `state ${await state(p.page)}: ${await p.page.locator("#state").textContent()}\n${p.console.slice(-10).join("\n")}`;

describe("WHIP and WHEP in the browser", () => {
  it("refuses a WHIP publish without a token, naming the refusal", async () => {
    const before = live.node.logs.length;
    const p = await newPage(browser);
    await p.page.goto(`${live.url}/publish/${PATH}`);
    await p.page.locator("#start").click();
    await until(async () => (await state(p.page)) === "refused", 30_000, "the publish page to be refused").catch(async (e: Error) => {
      throw new Error(`${e.message}\n${await shows(p)}\n${live.node.logs.slice(-2000)}`);
    });
    expect(await p.page.locator("#state").textContent()).toMatch(/refused: no valid token/);
    expect(await p.page.locator("#token-form").count()).toBe(1);
    await until(() => live.node.logs.slice(before).includes("mediamtx auth: denied"), 10_000, "the node's hook to log the denial");
    expect((await fetch(`${live.url}/live/${PATH}/manifest.json`)).status).toBe(404);
    await p.context.close();
  }, 120_000);

  it("publishes a fake camera by WHIP with a token; the node signs its segments; a WHEP page receives video frames", async () => {
    const token = await live.token("publish", PATH);
    const pub = await newPage(browser);
    await pub.page.goto(`${live.url}/publish/${PATH}#token=${token}`);
    // The token left the address bar (it stays in this tab's sessionStorage only).
    expect(new URL(pub.page.url()).hash).toBe("");
    await pub.page.locator("#start").click();
    await until(async () => (await state(pub.page)) === "publishing", 60_000, "WHIP publishing").catch(async (e: Error) => {
      throw new Error(`${e.message}\n${await shows(pub)}`);
    });

    // Ingested and signed like an RTMP publish: the origin lists signed, verifiable segments.
    await until(async () => {
      const r = await fetch(`${live.url}/live/${PATH}/manifest.json`).catch(() => null);
      return r?.status === 200 && ((await r.json()) as { manifest: { count: number } }).manifest.count >= 2;
    }, 90_000, `2 signed segments of the WHIP stream\n${live.node.logs.slice(-3000)}`);
    const report = await verifyStream(`${live.url}/live/${PATH}/`, { creator: await nodeIdOf(live.url) });
    expect(report, JSON.stringify(report.failure)).toMatchObject({ ok: true, stream: PATH });
    expect(report.segmentsChecked).toBeGreaterThanOrEqual(2);

    const readToken = await live.token("read", PATH);
    const view = await newPage(browser);
    await view.page.goto(`${live.url}/watch/${PATH}?webrtc=1#token=${readToken}`);
    await until(async () => Number((await view.page.locator("#state").getAttribute("data-frames")) ?? 0) >= 30, 60_000, `30 WHEP video frames\n${view.console.join("\n")}`);
    const size = await view.page.locator("video").evaluate((v) => [(v as HTMLVideoElement).videoWidth, (v as HTMLVideoElement).videoHeight]);
    expect(size[0]).toBeGreaterThan(0);
    expect(await state(view.page)).toBe("connected");
    await view.context.close();
    await pub.context.close();
  }, 240_000);
});
