// The dashboard (and the paid player) in real headless Chromium against a real node with blobs, a live path (ffmpeg ->
// MediaMTX), a real nutshell mint, a session the player paid for with a pasted cashuB token and ledger entries: every
// panel shows what the RPCs say, admin panels refuse a wrong token, and a screenshot lands in build/.
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { startMints, stopMints, type TestMint } from "../peers/mints.ts";
import { tempWallet, type TempDb } from "../pay/helpers.ts";
import type { PayWallet } from "../../src/pay/wallet.ts";
import { ROOT } from "../media/peers.ts";
import { fetchWithin, launchChromium, newPage, nodeIdOf, panelStats, playback, startLive, until, watchPlayback, type LiveSetup } from "./browser.ts";

const PATH = "live/x";
let live: LiveSetup;
let browser: Browser;
let mints: TestMint[] = [];
let payer: { wallet: PayWallet; db: TempDb };
let adminToken = "";
let blobHash = "";

/** A Connect JSON call to the admin listener with the admin token (what the dashboard's panels show must equal it). */
async function rpc<T>(method: string, body: unknown = {}): Promise<T> {
  const r = await fetchWithin(`${live.adminUrl}/slowdrip.v1.${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${adminToken}` },
    body: JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${method}: HTTP ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

beforeAll(async () => {
  mints = await startMints(1);
  const mint = mints[0]!.url;
  payer = await tempWallet([mint]);
  await payer.wallet.mint(mint, 200);
  live = await startLive({ SLOWDRIP_PAY_ENABLED: "true", SLOWDRIP_PAY_TRUSTED_MINTS: mint, SLOWDRIP_PAY_PRICING_CONTENT_DOWNLOAD: "2" });
  adminToken = readFileSync(join(live.dir, "data", "admin.token"), "utf8").trim();
  // Blobs: one pinned, one not (PUT /blobs on the admin listener, then StorageService.Pin).
  for (const [i, body] of [Buffer.alloc(300_000, 1), Buffer.alloc(5_000, 2)].entries()) {
    const put = await fetchWithin(`${live.adminUrl}/blobs`, { method: "PUT", headers: { authorization: `Bearer ${adminToken}` }, body });
    if (put.status !== 201) throw new Error(`PUT /blobs answered ${put.status}: ${await put.text()}`);
    const { hash } = (await put.json()) as { hash: string };
    if (i === 0) {
      blobHash = hash;
      await rpc("StorageService/Pin", { hash });
    }
  }
  await live.publish(PATH);
  // A paid blob read (content-download) for a second service in the ledger.
  const unpaid = await fetchWithin(`${live.url}/blobs/${blobHash}`);
  const price = ((await unpaid.json()) as { amount: number }).amount;
  const paid = await fetchWithin(`${live.url}/blobs/${blobHash}`, { headers: { "x-cashu": (await payer.wallet.send(price, { mint })).token } });
  if (paid.status !== 200) throw new Error(`paid blob read answered ${paid.status}: ${await paid.text()}`);
  await paid.arrayBuffer();
  browser = await launchChromium({ ns: live.ns });
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await live?.stop();
  await payer?.db.close();
  await stopMints(mints);
});

/** Clicks Refresh and waits until every panel's call has settled. */
async function refresh(page: Page): Promise<void> {
  const before = Number(await page.locator("#refresh").getAttribute("data-refresh"));
  await page.locator("#refresh").click();
  await until(async () => Number(await page.locator("#refresh").getAttribute("data-refresh")) > before && (await page.locator("#refresh").getAttribute("data-pending")) === "0", 20_000, "the dashboard's calls to settle");
}

const attrs = (page: Page, selector: string, names: string[]) =>
  page.locator(selector).evaluateAll((els, ns) => els.map((e) => Object.fromEntries(ns.map((n) => [n, e.getAttribute(n)]))), names);

interface Snapshot {
  dom: Record<string, unknown>;
  rpc: Record<string, unknown>;
}

/** Reads every panel and the same figures from the RPCs, RPCs both before and after the DOM read. */
async function snapshot(page: Page): Promise<Snapshot[]> {
  const readRpc = async () => {
    const status = await rpc<{ nodeId: string; components: { name: string; ready?: boolean }[]; storage: { bytesUsed?: string; bytesMax?: string; blobCount?: string } }>("NodeService/GetStatus");
    const blobs = await rpc<{ blobs: { pinned?: boolean }[] }>("StorageService/List", { limit: 1000 });
    const paths = await rpc<{ paths: { name: string; readers?: number; segments?: string }[] }>("StreamService/ListPaths");
    const lat = await rpc<{ all: { samples?: number; p50Ms?: number; p95Ms?: number } }>("StreamService/GetIngestStats");
    const sessions = await rpc<{ sessions: { id: string; protocol: string; path: string }[] }>("StreamService/ListSessions");
    const paid = await rpc<{ sessions: { service: string; paid: string }[]; open: number }>("PaymentService/ListSessions", { limit: 50 });
    const ledger = await rpc<{ entries: { amount: string; direction: string; service?: string }[] }>("PaymentService/Ledger", { limit: 1000 });
    const wallet = await rpc<{ mints: { mint: string; balance?: string }[]; total?: string }>("WalletService/Balance");
    const p = paths.paths.find((x) => x.name === PATH);
    return {
      nodeId: status.nodeId,
      components: status.components.map((c) => [c.name, String(!!c.ready)]),
      storage: [status.storage.bytesUsed ?? "0", status.storage.bytesMax ?? "0", status.storage.blobCount ?? "0"],
      pinned: String(blobs.blobs.filter((b) => b.pinned).length),
      path: [String(p?.readers ?? 0), p?.segments ?? "0"],
      latency: [String(lat.all.samples ?? 0), String(lat.all.p50Ms ?? 0), String(lat.all.p95Ms ?? 0)],
      sessions: sessions.sessions.map((s) => [s.id, s.protocol, s.path]).sort(),
      paid: [String(paid.open), ...paid.sessions.map((s) => `${s.service}:${s.paid}`).sort()],
      ledger: ledger.entries.slice(-20).reverse().map((e) => `${e.direction}:${e.service ?? ""}:${e.amount}`),
      earnedEntries: String(ledger.entries.filter((e) => e.direction === "in").length),
      wallet: [wallet.total ?? "0", ...wallet.mints.map((m) => `${m.mint}=${m.balance ?? "0"}`).sort()],
    };
  };
  const before = await readRpc();
  const storage = (await attrs(page, "#storage", ["data-used", "data-max", "data-blobs"]))[0]!;
  const path = (await attrs(page, `#paths tr[data-path="${PATH}"]`, ["data-readers", "data-segments"]))[0] ?? {};
  const lat = (await attrs(page, "#latency", ["data-samples", "data-p50", "data-p95"]))[0]!;
  const paidTable = (await attrs(page, "#paid-sessions", ["data-open"]))[0]!;
  const dom = {
    nodeId: await page.locator('#status [data-k="node-id"]').textContent(),
    components: (await attrs(page, "#status tr[data-component]", ["data-component", "data-ready"])).map((r) => [r["data-component"], r["data-ready"]]),
    storage: [storage["data-used"], storage["data-max"], storage["data-blobs"]],
    pinned: await page.locator('#storage [data-k="pinned"]').getAttribute("data-value"),
    path: [path["data-readers"], path["data-segments"]],
    latency: [lat["data-samples"], lat["data-p50"], lat["data-p95"]],
    sessions: (await attrs(page, "#sessions tr[data-session]", ["data-session", "data-protocol", "data-path"])).map((r) => [r["data-session"], r["data-protocol"], r["data-path"]]).sort(),
    paid: [paidTable["data-open"], ...(await attrs(page, "#paid-sessions tr[data-service]", ["data-service", "data-paid"])).map((r) => `${r["data-service"]}:${r["data-paid"]}`).sort()],
    ledger: (await attrs(page, "#ledger tr[data-amount]", ["data-direction", "data-service", "data-amount"])).map((r) => `${r["data-direction"]}:${r["data-service"] ?? ""}:${r["data-amount"]}`),
    earnedEntries: await page.locator("#earnings-chart").getAttribute("data-points"),
    wallet: [await page.locator("#wallet").getAttribute("data-total"), ...(await attrs(page, "#wallet tr[data-mint]", ["data-mint", "data-balance"])).map((r) => `${r["data-mint"]}=${r["data-balance"]}`).sort()],
  };
  const after = await readRpc();
  return [{ dom, rpc: before }, { dom, rpc: after }];
}

describe("the dashboard", () => {
  it("the player shows the price of a paid origin and plays once a pasted cashuB token opened a session", async () => {
    const m = (await (await fetch(`${live.url}/live/${PATH}/manifest.json`)).json()) as { manifest: { segments: { blake3: string }[] } };
    const probe = await fetch(`${live.url}/live/${PATH}/${m.manifest.segments.at(-1)!.blake3}.ts`);
    expect(probe.status).toBe(402);
    const price = ((await probe.json()) as { amount: number }).amount;
    const p = await newPage(browser);
    await p.page.goto(`${live.url}/watch/${PATH}?creator=${await nodeIdOf(live.url)}`);
    await until(async () => (await panelStats(p.page)).state === "payment-required", 30_000, "the player to ask for payment");
    expect(await p.page.locator("#pay").textContent()).toContain(`This origin charges ${price} sat`);
    await p.page.locator("#cashu").fill((await payer.wallet.send(price, { mint: mints[0]!.url })).token);
    await p.page.locator("#pay button").click();
    await until(async () => (await panelStats(p.page)).state === "verified", 30_000, `the session to open: ${await p.page.locator("#pay-reason").textContent().catch(() => "")}`);
    // Only the session id goes with later requests; token and session stay in this tab's sessionStorage.
    const kept = await p.page.evaluate(() => Object.keys(sessionStorage).sort());
    expect(kept).toEqual(expect.arrayContaining(["slowdrip.cashu.live/x", "slowdrip.session.live/x"]));
    await watchPlayback(p.page);
    await until(async () => (await playback(p.page)).played >= 4, 60_000, `paid playback\n${p.console.slice(-8).join("\n")}`);
    expect((await panelStats(p.page)).rejected).toBe(0);
    await p.context.close();
  }, 180_000);

  it("shows the same values as the RPCs, and saves a screenshot under build/", async () => {
    const d = await newPage(browser);
    await d.page.goto(`${live.adminUrl}/?every=0`);
    // Public panels work without the token; admin panels ask for it.
    await until(async () => (await d.page.locator('#status [data-k="node-id"]').textContent()) === (await nodeIdOf(live.url)), 20_000, "the status panel");
    expect(await d.page.locator("#admin-token").getAttribute("data-state")).toBe("none");
    expect(await d.page.locator("#sessions").textContent()).toContain("Enter the admin token");
    await d.page.locator("#token").fill(adminToken);
    await d.page.locator("#admin-token button[type=submit]").click();
    await until(async () => (await d.page.locator("#ledger tr[data-amount]").count()) > 0, 20_000, "the ledger panel");
    let last: Snapshot[] = [];
    // Figures move while the stream runs (segments, latency samples): a read counts when the DOM equals the RPCs read
    // just before or just after it.
    for (let attempt = 0; attempt < 6; attempt++) {
      await refresh(d.page);
      last = await snapshot(d.page);
      if (last.some((s) => JSON.stringify(s.dom) === JSON.stringify(s.rpc))) break;
    }
    const match = last.find((s) => JSON.stringify(s.dom) === JSON.stringify(s.rpc)) ?? last[0]!;
    expect(match.dom).toEqual(match.rpc);
    // The figures are the ones this node really has.
    const dom = match.dom as { storage: string[]; pinned: string; path: string[]; sessions: string[][]; paid: string[]; earnedEntries: string };
    expect(Number(dom.storage[2])).toBeGreaterThanOrEqual(2);
    expect(Number(dom.pinned)).toBeGreaterThanOrEqual(1);
    expect(Number(dom.path[1])).toBeGreaterThan(4);
    expect(dom.sessions.some((s) => s[1] === "rtmp" && s[2] === PATH)).toBe(true);
    expect(dom.paid.some((s) => s.startsWith("live-view:"))).toBe(true);
    expect(Number(dom.earnedEntries)).toBeGreaterThanOrEqual(2);
    expect(await d.page.locator("#earnings-chart").getAttribute("data-services")).toMatch(/content-download.*live-view|live-view.*content-download/);
    expect(await d.page.locator("#cluster").getAttribute("data-state")).toBe("off");
    mkdirSync(join(ROOT, "build"), { recursive: true });
    await d.page.screenshot({ path: join(ROOT, "build/dashboard.png"), fullPage: true });
    await d.context.close();
  }, 180_000);

  it("refuses a wrong admin token on the admin panels and keeps the public ones", async () => {
    const d = await newPage(browser);
    await d.page.goto(`${live.adminUrl}/?every=0`);
    await d.page.locator("#token").fill("not-the-admin-token");
    await d.page.locator("#admin-token button[type=submit]").click();
    await until(async () => (await d.page.locator('[data-admin="refused"]').count()) >= 4, 20_000, "the admin panels to refuse the token");
    expect(await d.page.locator("#admin-token").getAttribute("data-state")).toBe("refused");
    expect(await d.page.locator("#ledger").count()).toBe(0);
    expect(await d.page.locator("#wallet").count()).toBe(0);
    expect(await d.page.locator("#sessions").textContent()).toContain("The admin token was refused.");
    expect(await d.page.locator('#status [data-k="node-id"]').textContent()).toBe(await nodeIdOf(live.url));
    expect(await d.page.locator(`#paths tr[data-path="${PATH}"]`).count()).toBe(1);
    await d.context.close();
  }, 60_000);
});
